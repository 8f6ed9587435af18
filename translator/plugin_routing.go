package translator

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	previoushostsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/retry/host/previous_hosts/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// routingPlugin translates a route's rewrites, upgrades, hashing and retries, and a service's.
//
// A route's hash_policy is sent whatever its services balance with: Envoy
// uses it for ring_hash and maglev services and ignores it otherwise, and
// the route table does not know its services' policies (a service may
// change policy without its routes changing).
type routingPlugin struct{}

func (routingPlugin) name() string { return "routing" }

// hostSelectionAttempts is how many endpoints a retry with other_hosts
// draws before it settles for one the request has already tried: enough
// to find another of a few endpoints, bounded so that a service of one
// endpoint still retries.
const hostSelectionAttempts = 3

// previousHostsPredicate is the retry host predicate that skips the
// endpoints a request has tried.
const previousHostsPredicate = "envoy.retry_host_predicates.previous_hosts"

func (routingPlugin) route(_ *routeContext, r *model.Route, path string, out *routev3.Route) model.FieldErrors {
	a := out.GetRoute()
	if a == nil {
		return nil // the model allows these fields on forwarding routes only
	}
	if rr := r.RegexRewrite; rr != nil {
		a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
			Pattern:      &matcherv3.RegexMatcher{Regex: rr.Pattern},
			Substitution: rr.Substitution,
		}
	}
	switch {
	case r.HostRewrite != "":
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: r.HostRewrite}
	case r.AutoHostRewrite:
		a.HostRewriteSpecifier = &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}
	}
	for _, u := range r.Upgrades {
		a.UpgradeConfigs = append(a.UpgradeConfigs, &routev3.RouteAction_UpgradeConfig{UpgradeType: u})
	}
	a.IdleTimeout = duration(r.IdleTimeout)
	for _, h := range r.HashPolicy {
		a.HashPolicy = append(a.HashPolicy, hashPolicy(h))
	}
	if rp := r.Retries; rp != nil && rp.OtherHosts && a.RetryPolicy != nil {
		cfg, err := pack(&previoushostsv3.PreviousHostsPredicate{})
		if err != nil {
			return model.FieldErrors{{Field: path + ".retries.other_hosts", Msg: err.Error()}}
		}
		a.RetryPolicy.RetryHostPredicate = []*routev3.RetryPolicy_RetryHostPredicate{{
			Name:       previousHostsPredicate,
			ConfigType: &routev3.RetryPolicy_RetryHostPredicate_TypedConfig{TypedConfig: cfg},
		}}
		a.RetryPolicy.HostSelectionRetryMaxAttempts = hostSelectionAttempts
	}
	return nil
}

func hashPolicy(h model.HashPolicy) *routev3.RouteAction_HashPolicy {
	out := &routev3.RouteAction_HashPolicy{Terminal: h.Terminal}
	switch {
	case h.Header != "":
		out.PolicySpecifier = &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: h.Header}}
	case h.Cookie != nil:
		out.PolicySpecifier = &routev3.RouteAction_HashPolicy_Cookie_{Cookie: &routev3.RouteAction_HashPolicy_Cookie{
			Name: h.Cookie.Name, Ttl: duration(h.Cookie.TTL), Path: h.Cookie.Path,
		}}
	default: // source_ip: the model allows exactly one kind
		out.PolicySpecifier = &routev3.RouteAction_HashPolicy_ConnectionProperties_{
			ConnectionProperties: &routev3.RouteAction_HashPolicy_ConnectionProperties{SourceIp: true},
		}
	}
	return out
}

// queryParameterMatchers translates a match's query parameters. matchFor
// calls it, so that a route answering 503 keeps its whole match.
func queryParameterMatchers(qs []model.QueryParameterMatch) []*routev3.QueryParameterMatcher {
	var out []*routev3.QueryParameterMatcher
	for _, q := range qs {
		m := &routev3.QueryParameterMatcher{Name: q.Name}
		var sm *matcherv3.StringMatcher
		switch {
		case q.Present:
			m.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}
		case q.Exact != "":
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: q.Exact}}
		case q.Prefix != "":
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: q.Prefix}}
		default:
			sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: q.Regex}}}
		}
		if sm != nil {
			m.QueryParameterMatchSpecifier = &routev3.QueryParameterMatcher_StringMatch{StringMatch: sm}
		}
		out = append(out, m)
	}
	return out
}

// cluster sets a service's retry budget on the thresholds circuitBreakers
// built (the budget lives in circuit_breakers, so they exist).
func (routingPlugin) cluster(svc *model.Service, c *clusterv3.Cluster) error {
	cb := svc.CircuitBreakers
	if cb == nil || cb.RetryBudget == nil || c.CircuitBreakers == nil || len(c.CircuitBreakers.Thresholds) == 0 {
		return nil
	}
	c.CircuitBreakers.Thresholds[0].RetryBudget = &clusterv3.CircuitBreakers_Thresholds_RetryBudget{
		BudgetPercent:       &typev3.Percent{Value: cb.RetryBudget.BudgetPercent},
		MinRetryConcurrency: u32(cb.RetryBudget.MinRetryConcurrency),
	}
	return nil
}
