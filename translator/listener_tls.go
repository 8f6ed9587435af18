package translator

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// httpsListenerFor terminates TLS with a filter chain per certificate,
// chosen by the ClientHello's server name; the certificate without server
// names answers every other name. Each chain runs the same connection
// manager, routed over RDS like an http listener's.
func httpsListenerFor(c *listenerContext, certs []model.ServerCertificate) (*listenerv3.Listener, error) {
	name, l := c.name, c.l
	m, err := hcmFor(c)
	if err != nil {
		return nil, err
	}
	if l.TLS.ClientCA != "" {
		// The client's certificate reaches the upstream in
		// x-forwarded-client-cert, set by Envoy, never taken from the client.
		m.ForwardClientCertDetails = hcmv3.HttpConnectionManager_SANITIZE_SET
		m.SetCurrentClientCertDetails = &hcmv3.HttpConnectionManager_SetCurrentClientCertDetails{Subject: wrapperspb.Bool(true), Uri: true, Dns: true}
	}
	hcm, err := networkFilter(wellknown.HTTPConnectionManager, m)
	if err != nil {
		return nil, err
	}
	var chains []*listenerv3.FilterChain
	var def *listenerv3.FilterChain
	for _, cert := range certs {
		ts, err := downstreamTLS(l.TLS, cert.Secret)
		if err != nil {
			return nil, err
		}
		fc := &listenerv3.FilterChain{Filters: []*listenerv3.Filter{hcm}, TransportSocket: ts}
		if len(cert.ServerNames) == 0 {
			def = fc
			continue
		}
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: cert.ServerNames}
		chains = append(chains, fc)
	}
	return sniListener(name, l, chains, def)
}

// passthroughListenerFor proxies TLS connections, still encrypted, to the
// service their server name routes to; def, if not empty, takes the rest.
func passthroughListenerFor(c *listenerContext, def string, routes []model.SNIRoute) (*listenerv3.Listener, error) {
	var chains []*listenerv3.FilterChain
	for _, r := range routes {
		fc, err := tcpChain(c, r.Service)
		if err != nil {
			return nil, err
		}
		fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: r.ServerNames}
		chains = append(chains, fc)
	}
	var defChain *listenerv3.FilterChain
	if def != "" {
		var err error
		if defChain, err = tcpChain(c, def); err != nil {
			return nil, err
		}
	}
	return sniListener(c.name, c.l, chains, defChain)
}

func tcpChain(c *listenerContext, service string) (*listenerv3.FilterChain, error) {
	fs, err := tcpProxyFilters(c, service)
	if err != nil {
		return nil, err
	}
	return &listenerv3.FilterChain{Filters: fs}, nil
}

// sniListener is a listener whose chains match server names, read by the
// TLS inspector, with def for a connection no chain matches. Without
// server names at all, def is the one chain.
func sniListener(name string, l *model.Listener, chains []*listenerv3.FilterChain, def *listenerv3.FilterChain) (*listenerv3.Listener, error) {
	lis := &listenerv3.Listener{Name: name, Address: socketAddress(l.BindAddress(), l.Port)}
	if len(chains) == 0 {
		lis.FilterChains = []*listenerv3.FilterChain{def}
		return lis, nil
	}
	inspector, err := pack(&tlsinspectorv3.TlsInspector{})
	if err != nil {
		return nil, err
	}
	lis.ListenerFilters = []*listenerv3.ListenerFilter{{
		Name:       wellknown.TlsInspector,
		ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: inspector},
	}}
	lis.FilterChains, lis.DefaultFilterChain = chains, def
	return lis, nil
}
