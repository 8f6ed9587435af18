package translator

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
)

// httpListenerFor builds an HTTP listener whose routes come over RDS, so a
// route change never touches the listener (and never drains connections).
func httpListenerFor(c *listenerContext) (*listenerv3.Listener, error) {
	m, err := hcmFor(c)
	if err != nil {
		return nil, err
	}
	f, err := networkFilter(wellknown.HTTPConnectionManager, m)
	if err != nil {
		return nil, err
	}
	return listenerWith(c.name, c.l, []*listenerv3.Filter{f}), nil
}

// hcmFor is the connection manager of an http or https listener: the
// plugins' HTTP filters, in plugin order, then the router.
func hcmFor(c *listenerContext) (*hcmv3.HttpConnectionManager, error) {
	stat := c.l.StatPrefix
	if stat == "" {
		stat = c.name
	}
	m := &hcmv3.HttpConnectionManager{
		StatPrefix: stat,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: c.l.RouteTable,
		}},
	}
	for _, p := range plugins {
		if h, ok := p.(httpFiltersHook); ok {
			fs, err := h.httpFilters(c)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.name(), err)
			}
			m.HttpFilters = append(m.HttpFilters, fs...)
		}
	}
	router, err := httpFilter(wellknown.Router, &routerv3.Router{})
	if err != nil {
		return nil, err
	}
	m.HttpFilters = append(m.HttpFilters, router)
	for _, p := range plugins {
		if h, ok := p.(hcmHook); ok {
			if err := h.hcm(c, m); err != nil {
				return nil, fmt.Errorf("%s: %w", p.name(), err)
			}
		}
	}
	return m, nil
}

// httpFilter is an HTTP filter that runs on every request.
func httpFilter(name string, cfg proto.Message) (*hcmv3.HttpFilter, error) {
	typed, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: typed}}, nil
}

// disabledHTTPFilter is an HTTP filter that runs only where a route table,
// virtual host or route sets a typed_per_filter_config for it.
func disabledHTTPFilter(name string, cfg proto.Message) (*hcmv3.HttpFilter, error) {
	f, err := httpFilter(name, cfg)
	if err != nil {
		return nil, err
	}
	f.Disabled = true
	return f, nil
}

// tcpListenerFor builds a listener that proxies every connection to one
// service.
func tcpListenerFor(c *listenerContext) (*listenerv3.Listener, error) {
	fs, err := tcpProxyFilters(c, c.l.Service)
	if err != nil {
		return nil, err
	}
	return listenerWith(c.name, c.l, fs), nil
}

// tcpProxyFilters are the network filters of a chain that proxies its
// connections to service: the plugins' (authorization), then the proxy.
func tcpProxyFilters(c *listenerContext, service string) ([]*listenerv3.Filter, error) {
	stat := c.l.StatPrefix
	if stat == "" {
		stat = c.name
	}
	p := &tcpproxyv3.TcpProxy{
		StatPrefix:       stat,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: service},
	}
	var filters []*listenerv3.Filter
	for _, pl := range plugins {
		if h, ok := pl.(tcpHook); ok {
			var err error
			if filters, err = h.tcp(c, filters, p); err != nil {
				return nil, fmt.Errorf("%s: %w", pl.name(), err)
			}
		}
	}
	f, err := networkFilter(wellknown.TCPProxy, p)
	if err != nil {
		return nil, err
	}
	return append(filters, f), nil
}

// listenerWith is a listener on the model's address with one filter chain.
func listenerWith(name string, l *model.Listener, filters []*listenerv3.Filter) *listenerv3.Listener {
	return &listenerv3.Listener{
		Name:         name,
		Address:      socketAddress(l.BindAddress(), l.Port),
		FilterChains: []*listenerv3.FilterChain{{Filters: filters}},
	}
}

func networkFilter(name string, cfg proto.Message) (*listenerv3.Filter, error) {
	typed, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed}}, nil
}
