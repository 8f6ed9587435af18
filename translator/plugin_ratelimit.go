package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	ratelimitconfv3 "github.com/envoyproxy/go-control-plane/envoy/config/ratelimit/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	ratelimitcommonv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/common/ratelimit/v3"
	localratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ratelimit/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	netlocalratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/local_ratelimit/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// The rate limit filters. Policies enable the local one per route; a
// listener's own bucket is a filter of its own before it, so that every
// request of the listener takes from it whatever its route says; the
// global one, after both, asks the listener's rate-limit service.
const (
	localRateLimitFilter    = "envoy.filters.http.local_ratelimit"
	listenerRateLimitFilter = "chancery.local_ratelimit.listener"
	globalRateLimitFilter   = "envoy.filters.http.ratelimit"
	networkRateLimitFilter  = "envoy.filters.network.local_ratelimit"
)

// rateLimitPlugin translates local and global rate limits.
//
// A policy's rate_limit is the local filter's per-route configuration of
// its level: Envoy makes one bucket of each configuration it receives, so
// a table's bucket is shared by every request of the table that no
// virtual host or route bucket covers, a virtual host's by its routes
// without their own, a route's is its own. A policy's global_rate_limit
// is the global filter's per-route rate_limits at its level (the route
// table has no rate_limits of its own in Envoy), so the most specific
// level's descriptors replace the others', as every policy feature does.
type rateLimitPlugin struct{}

func (rateLimitPlugin) name() string { return "rate_limit" }

func (rateLimitPlugin) httpFilters(c *listenerContext) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	if rl := c.l.RateLimit; rl != nil {
		f, err := httpFilter(listenerRateLimitFilter, localRateLimit("listener_rate_limit", rl))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	f, err := disabledHTTPFilter(localRateLimitFilter, &localratelimitv3.LocalRateLimit{StatPrefix: "route_rate_limit"})
	if err != nil {
		return nil, err
	}
	out = append(out, f)
	if s := c.l.RateLimitService; s != nil {
		f, err := globalRateLimit(c, s)
		if err != nil || f == nil {
			return out, err
		}
		out = append(out, f)
	}
	return out, nil
}

// globalRateLimit is the filter that asks the listener's rate-limit
// service, or nil when the service cannot take traffic. Then, with
// failure_mode_deny, the listener is not sent (its requests would all be
// refused); without, it is sent without the filter, as Envoy would let
// its requests through a service it cannot reach.
func globalRateLimit(c *listenerContext, s *model.RateLimitService) (*hcmv3.HttpFilter, error) {
	if fe := c.service("rate_limit_service.service", s.Service); fe != nil {
		if s.FailureModeDeny {
			c.exclude(fe)
		} else {
			c.leaveOut(fe, "requests are not rate limited by the service (failure_mode_deny is off)")
		}
		return nil, nil
	}
	cfg := &ratelimitv3.RateLimit{
		Domain:          s.Domain,
		FailureModeDeny: s.FailureModeDeny,
		RateLimitService: &ratelimitconfv3.RateLimitServiceConfig{
			GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
				EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: s.Service},
			}},
			TransportApiVersion: corev3.ApiVersion_V3,
		},
	}
	if !s.Timeout.IsZero() {
		cfg.Timeout = durationpb.New(s.Timeout.Std())
	}
	return httpFilter(globalRateLimitFilter, cfg)
}

// tcp limits a tcp listener's new connections with its bucket: a
// connection that finds no token is closed. Every filter chain of the
// listener shares the one bucket (share_key).
func (rateLimitPlugin) tcp(c *listenerContext, filters []*listenerv3.Filter, _ *tcpproxyv3.TcpProxy) ([]*listenerv3.Filter, error) {
	rl := c.l.RateLimit
	if rl == nil {
		return filters, nil
	}
	f, err := networkFilter(networkRateLimitFilter, &netlocalratelimitv3.LocalRateLimit{
		StatPrefix:  "listener_rate_limit",
		TokenBucket: tokenBucket(rl),
		ShareKey:    c.name,
	})
	if err != nil {
		return nil, err
	}
	return append(filters, f), nil
}

func (rateLimitPlugin) policy(_ *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	var errs model.FieldErrors
	if rl := p.RateLimit; rl != nil {
		if fe := at.set(localRateLimitFilter, localRateLimit("route_rate_limit", rl)); fe != nil {
			errs = append(errs, fe)
		}
	}
	if g := p.GlobalRateLimit; g != nil {
		if fe := at.set(globalRateLimitFilter, &ratelimitv3.RateLimitPerRoute{RateLimits: rateLimitsFor(g)}); fe != nil {
			errs = append(errs, fe)
		}
	}
	return errs
}

// localRateLimit is an enforcing local rate limit: a request that finds
// the bucket empty is answered 429 with the x-ratelimit-* headers and
// Retry-After.
func localRateLimit(stat string, rl *model.RateLimit) *localratelimitv3.LocalRateLimit {
	all := func() *corev3.RuntimeFractionalPercent {
		return &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED}}
	}
	return &localratelimitv3.LocalRateLimit{
		StatPrefix:              stat,
		Status:                  &typev3.HttpStatus{Code: typev3.StatusCode_TooManyRequests},
		TokenBucket:             tokenBucket(rl),
		FilterEnabled:           all(),
		FilterEnforced:          all(),
		EnableXRatelimitHeaders: ratelimitcommonv3.XRateLimitHeadersRFCVersion_DRAFT_VERSION_03,
		EnableRetryAfterHeader:  true,
	}
}

func tokenBucket(rl *model.RateLimit) *typev3.TokenBucket {
	return &typev3.TokenBucket{
		MaxTokens:     rl.MaxTokens(),
		TokensPerFill: wrapperspb.UInt32(rl.Requests),
		FillInterval:  durationpb.New(rl.Per.Std()),
	}
}

// rateLimitsFor is one Envoy rate limit per descriptor, its entries in
// order.
func rateLimitsFor(g *model.GlobalRateLimit) []*routev3.RateLimit {
	out := make([]*routev3.RateLimit, 0, len(g.Descriptors))
	for _, d := range g.Descriptors {
		rl := &routev3.RateLimit{}
		for _, e := range d.Entries {
			rl.Actions = append(rl.Actions, rateLimitAction(e))
		}
		out = append(out, rl)
	}
	return out
}

// rateLimitAction is one entry; the model admits exactly one of its kinds.
func rateLimitAction(e model.RateLimitEntry) *routev3.RateLimit_Action {
	switch {
	case e.RequestHeader != nil:
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RequestHeaders_{
			RequestHeaders: &routev3.RateLimit_Action_RequestHeaders{HeaderName: e.RequestHeader.Header, DescriptorKey: e.RequestHeader.Key},
		}}
	case e.Generic != nil:
		return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_GenericKey_{
			GenericKey: &routev3.RateLimit_Action_GenericKey{DescriptorKey: e.Generic.Key, DescriptorValue: e.Generic.Value},
		}}
	}
	return &routev3.RateLimit_Action{ActionSpecifier: &routev3.RateLimit_Action_RemoteAddress_{
		RemoteAddress: &routev3.RateLimit_Action_RemoteAddress{},
	}}
}
