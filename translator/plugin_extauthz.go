package translator

import (
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// extAuthzFilter is the external authorization filter's name, which
// policies turn off (and back on) per route.
const extAuthzFilter = wellknown.HTTPExternalAuthorization

// defaultExtAuthzTimeout is Envoy's own default for a gRPC check, used
// for both protocols.
const defaultExtAuthzTimeout = 200 * time.Millisecond

// extAuthzPlugin translates a listener's ext_authz and a policy's.
type extAuthzPlugin struct{}

func (extAuthzPlugin) name() string { return "ext_authz" }

// httpFilters adds the ext_authz filter, enabled, to a listener that sets
// ext_authz. A listener whose authorization service cannot take traffic
// is not sent, whatever failure_mode_allow says: sent without the filter,
// it would admit every request; sent with it, it would refuse or admit
// every request on a reference that is wrong.
func (extAuthzPlugin) httpFilters(c *listenerContext) ([]*hcmv3.HttpFilter, error) {
	e := c.l.ExtAuthz
	if e == nil {
		return nil, nil
	}
	if fe := c.service("ext_authz.service", e.Service); fe != nil {
		c.exclude(fe)
		return nil, nil
	}
	if e.Protocol == model.ExtAuthzGRPC && !speaksHTTP2(c, e.Service) {
		c.exclude(&model.FieldError{Field: "ext_authz.service", Msg: "protocol grpc needs a service of protocol grpc or http2"})
		return nil, nil
	}
	timeout := durationpb.New(defaultExtAuthzTimeout)
	if !e.Timeout.IsZero() {
		timeout = durationpb.New(e.Timeout.Std())
	}
	cfg := &extauthzv3.ExtAuthz{
		TransportApiVersion: corev3.ApiVersion_V3,
		FailureModeAllow:    e.FailureModeAllow,
	}
	if e.Protocol == model.ExtAuthzGRPC {
		cfg.Services = &extauthzv3.ExtAuthz_GrpcService{GrpcService: &corev3.GrpcService{
			TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: e.Service}},
			Timeout:         timeout,
		}}
	} else {
		cfg.Services = &extauthzv3.ExtAuthz_HttpService{HttpService: &extauthzv3.HttpService{
			ServerUri: &corev3.HttpUri{
				Uri:              "http://" + e.Service,
				HttpUpstreamType: &corev3.HttpUri_Cluster{Cluster: e.Service},
				Timeout:          timeout,
			},
			PathPrefix: e.PathPrefix,
		}}
	}
	if len(e.HeadersToAuthorize) > 0 {
		m := &matcherv3.ListStringMatcher{}
		for _, h := range e.HeadersToAuthorize {
			m.Patterns = append(m.Patterns, &matcherv3.StringMatcher{
				MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h}, IgnoreCase: true})
		}
		cfg.AllowedHeaders = m
	}
	f, err := httpFilter(extAuthzFilter, cfg)
	if err != nil {
		return nil, err
	}
	return []*hcmv3.HttpFilter{f}, nil
}

// speaksHTTP2 reports whether the service's cluster speaks HTTP/2 to its
// endpoints, as a gRPC check needs.
func speaksHTTP2(c *listenerContext, service string) bool {
	opts := &upstreamhttpv3.HttpProtocolOptions{}
	a := c.svcs.clusters[service].GetTypedExtensionProtocolOptions()[string(proto.MessageName(opts))]
	if a == nil || a.UnmarshalTo(opts) != nil {
		return false
	}
	return opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil
}

// policy turns the listener's check off at the level (disabled: true), or
// back on below a level that turned it off. On a listener without
// ext_authz the configuration names no filter it has and does nothing.
func (extAuthzPlugin) policy(_ *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	if p.ExtAuthz == nil {
		return nil
	}
	cfg := &extauthzv3.ExtAuthzPerRoute{Override: &extauthzv3.ExtAuthzPerRoute_CheckSettings{CheckSettings: &extauthzv3.CheckSettings{}}}
	if p.ExtAuthz.Disabled {
		cfg.Override = &extauthzv3.ExtAuthzPerRoute_Disabled{Disabled: true}
	}
	if fe := at.set(extAuthzFilter, cfg); fe != nil {
		return model.FieldErrors{fe}
	}
	return nil
}
