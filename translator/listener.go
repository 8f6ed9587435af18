package translator

import (
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
func httpListenerFor(name string, l *model.Listener) (*listenerv3.Listener, error) {
	m, err := hcmFor(name, l)
	if err != nil {
		return nil, err
	}
	return listenerWith(name, l, wellknown.HTTPConnectionManager, m)
}

// hcmFor is the connection manager of an http or https listener.
func hcmFor(name string, l *model.Listener) (*hcmv3.HttpConnectionManager, error) {
	router, err := pack(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return &hcmv3.HttpConnectionManager{
		StatPrefix: name,
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: l.RouteTable,
		}},
		HttpFilters: []*hcmv3.HttpFilter{{
			Name:       wellknown.Router,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}},
	}, nil
}

// tcpListenerFor builds a listener that proxies every connection to one
// service.
func tcpListenerFor(name string, l *model.Listener) (*listenerv3.Listener, error) {
	return listenerWith(name, l, wellknown.TCPProxy, &tcpproxyv3.TcpProxy{
		StatPrefix:       name,
		ClusterSpecifier: &tcpproxyv3.TcpProxy_Cluster{Cluster: l.Service},
	})
}

// listenerWith is a listener on the model's address with one filter chain
// holding one network filter.
func listenerWith(name string, l *model.Listener, filter string, cfg proto.Message) (*listenerv3.Listener, error) {
	f, err := networkFilter(filter, cfg)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{
		Name:         name,
		Address:      socketAddress(l.BindAddress(), l.Port),
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{f}}},
	}, nil
}

func networkFilter(name string, cfg proto.Message) (*listenerv3.Filter, error) {
	typed, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: typed}}, nil
}
