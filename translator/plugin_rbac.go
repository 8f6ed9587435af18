package translator

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	directresponsev3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/direct_response/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// The two RBAC filters: a policy's deny rules run first, then its allow
// rules. Envoy gives one RBAC filter one action.
const (
	rbacDenyFilter  = "chancery.rbac.deny"
	rbacAllowFilter = "chancery.rbac.allow"
)

// rbacPlugin translates a policy's authorization and a tcp listener's.
type rbacPlugin struct{}

func (rbacPlugin) name() string { return "rbac" }

func (rbacPlugin) httpFilters(*listenerContext) ([]*hcmv3.HttpFilter, error) {
	var out []*hcmv3.HttpFilter
	for _, name := range []string{rbacDenyFilter, rbacAllowFilter} {
		f, err := disabledHTTPFilter(name, &rbacv3.RBAC{})
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// policy sets both RBAC filters at the level whenever the policy has an
// authorization: per-route configuration replaces a filter's whole
// configuration from the levels above, so a level that sets only deny
// rules must also say that no allow list applies (an RBACPerRoute without
// rules turns its filter off there). An allow list that is present but
// empty is an ALLOW filter of no policy, which refuses every request.
func (rbacPlugin) policy(_ *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	a := p.Authorization
	if a == nil {
		return nil
	}
	field := at.path + ".authorization"
	deny := &rbacv3.RBACPerRoute{}
	if len(a.Deny) > 0 {
		rules, err := rbacRules(rbacconfigv3.RBAC_DENY, "deny", a.Deny)
		if err != nil {
			return model.FieldErrors{{Field: field + ".deny", Msg: err.Error()}}
		}
		deny.Rbac = &rbacv3.RBAC{Rules: rules}
	}
	allow := &rbacv3.RBACPerRoute{}
	if list, ok := a.AllowRules(); ok {
		rules, err := rbacRules(rbacconfigv3.RBAC_ALLOW, "allow", list)
		if err != nil {
			return model.FieldErrors{{Field: field + ".allow", Msg: err.Error()}}
		}
		allow.Rbac = &rbacv3.RBAC{Rules: rules}
	}
	var errs model.FieldErrors
	for _, f := range []struct {
		name string
		cfg  *rbacv3.RBACPerRoute
	}{{rbacDenyFilter, deny}, {rbacAllowFilter, allow}} {
		if fe := at.set(f.name, f.cfg); fe != nil {
			errs = append(errs, fe)
		}
	}
	return errs
}

// rbacRules is one RBAC filter's rules: a policy per rule, named by its
// list and index ("deny[0]"), as Envoy's stats and logs show it.
func rbacRules(action rbacconfigv3.RBAC_Action, list string, rules []model.AuthzRule) (*rbacconfigv3.RBAC, error) {
	out := &rbacconfigv3.RBAC{Action: action, Policies: map[string]*rbacconfigv3.Policy{}}
	for i := range rules {
		p, err := rbacPolicy(&rules[i])
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", list, i, err)
		}
		out.Policies[fmt.Sprintf("%s[%d]", list, i)] = p
	}
	return out, nil
}

// rbacPolicy matches what the rule matches: every condition it sets (an
// and of permissions, an and of principals), each any of its items.
func rbacPolicy(r *model.AuthzRule) (*rbacconfigv3.Policy, error) {
	var perms [][]*rbacconfigv3.Permission
	if len(r.Methods) > 0 {
		var alts []*rbacconfigv3.Permission
		for _, m := range r.Methods {
			alts = append(alts, headerPermission(&routev3.HeaderMatcher{Name: ":method",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exactMatcher(m)}}))
		}
		perms = append(perms, alts)
	}
	if len(r.Paths) > 0 {
		var alts []*rbacconfigv3.Permission
		for _, p := range r.Paths {
			alts = append(alts, &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
				Rule: &matcherv3.PathMatcher_Path{Path: pathMatcher(p)}}}})
		}
		perms = append(perms, alts)
	}
	if len(r.Headers) > 0 {
		var alts []*rbacconfigv3.Permission
		for _, h := range r.Headers {
			alts = append(alts, headerPermission(headerMatcher(h)))
		}
		perms = append(perms, alts)
	}
	var ids [][]*rbacconfigv3.Principal
	if len(r.SourceCIDRs) > 0 {
		alts, err := sourcePrincipals(r.SourceCIDRs)
		if err != nil {
			return nil, err
		}
		ids = append(ids, alts)
	}
	if len(r.Principals) > 0 {
		var alts []*rbacconfigv3.Principal
		for _, name := range r.Principals {
			alts = append(alts, &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Authenticated_{
				Authenticated: &rbacconfigv3.Principal_Authenticated{PrincipalName: exactMatcher(name)}}})
		}
		ids = append(ids, alts)
	}
	return &rbacconfigv3.Policy{
		Permissions: []*rbacconfigv3.Permission{allPermissions(perms)},
		Principals:  []*rbacconfigv3.Principal{allPrincipals(ids)},
	}, nil
}

func headerPermission(h *routev3.HeaderMatcher) *rbacconfigv3.Permission {
	return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_Header{Header: h}}
}

func exactMatcher(s string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

func pathMatcher(p model.PathMatch) *matcherv3.StringMatcher {
	switch {
	case p.Exact != "":
		return exactMatcher(p.Exact)
	case p.Prefix != "":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: p.Prefix}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: p.Regex}}}
}

// allPermissions is the and of groups, each the or of its items; a single
// group or item stands alone, and no group at all is any request.
func allPermissions(groups [][]*rbacconfigv3.Permission) *rbacconfigv3.Permission {
	var and []*rbacconfigv3.Permission
	for _, g := range groups {
		if len(g) == 1 {
			and = append(and, g[0])
			continue
		}
		and = append(and, &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_OrRules{OrRules: &rbacconfigv3.Permission_Set{Rules: g}}})
	}
	switch len(and) {
	case 0:
		return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_Any{Any: true}}
	case 1:
		return and[0]
	}
	return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_AndRules{AndRules: &rbacconfigv3.Permission_Set{Rules: and}}}
}

// allPrincipals is allPermissions for principals.
func allPrincipals(groups [][]*rbacconfigv3.Principal) *rbacconfigv3.Principal {
	var and []*rbacconfigv3.Principal
	for _, g := range groups {
		and = append(and, anyPrincipal(g))
	}
	switch len(and) {
	case 0:
		return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Any{Any: true}}
	case 1:
		return and[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: &rbacconfigv3.Principal_Set{Ids: and}}}
}

// anyPrincipal is the or of ids, or the one id.
func anyPrincipal(ids []*rbacconfigv3.Principal) *rbacconfigv3.Principal {
	if len(ids) == 1 {
		return ids[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_OrIds{OrIds: &rbacconfigv3.Principal_Set{Ids: ids}}}
}

// sourcePrincipals match the connection's peer address (not a forwarded
// one) against each range.
func sourcePrincipals(cidrs []string) ([]*rbacconfigv3.Principal, error) {
	var out []*rbacconfigv3.Principal
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err // validation admits only ranges that parse
		}
		out = append(out, &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_DirectRemoteIp{DirectRemoteIp: &corev3.CidrRange{
			AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits())),
		}}})
	}
	return out, nil
}

// listener makes a tcp listener with authorization admit connections by
// their filter chains' source ranges, so a refused connection is closed on
// accept and never reaches the upstream (a network RBAC filter judges on
// the client's first bytes, after the proxy has connected: a client of a
// server-first protocol would read the upstream's greeting).
//
//   - With allow_cidrs, every chain matches only peers in an allowed range
//     that no deny range holds; a peer that matches no chain is closed by
//     Envoy (listener stat no_filter_chain_match). The default chain of a
//     passthrough listener becomes a chain of its own for the same ranges.
//   - With deny_cidrs, every chain gets a twin that matches the deny
//     ranges and closes the connection at once: Envoy picks the most
//     specific source range, so a deny range inside an allowed one wins.
//
// Two ranges are either nested or apart, so "allowed and not denied" is
// exactly this: an allowed range inside a deny range is dropped, a deny
// range inside an allowed one gets the closing twin.
func (rbacPlugin) listener(c *listenerContext, l *listenerv3.Listener) error {
	a := c.l.Authorization
	if a == nil || c.l.Protocol != model.ListenerTCP {
		return nil
	}
	deny, err := cidrRanges(a.DenyCIDRs)
	if err != nil {
		return err
	}
	allowed, err := cidrRanges(a.AllowCIDRs)
	if err != nil {
		return err
	}
	closer, err := networkFilter("envoy.filters.network.direct_response", &directresponsev3.Config{})
	if err != nil {
		return err
	}
	chains := l.FilterChains
	if len(a.AllowCIDRs) > 0 {
		allowed = slices.DeleteFunc(allowed, func(r netip.Prefix) bool {
			return slices.ContainsFunc(deny, func(d netip.Prefix) bool { return d.Bits() <= r.Bits() && d.Contains(r.Addr()) })
		})
		if len(allowed) == 0 {
			// Every allowed range is denied: one chain that closes every
			// connection (a chain without ranges would admit them all).
			l.FilterChains, l.DefaultFilterChain, l.ListenerFilters = []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{closer}}}, nil, nil
			return nil
		}
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain)
			l.DefaultFilterChain = nil
		}
		for _, ch := range chains {
			m := matchOf(ch)
			m.DirectSourcePrefixRanges = cidrs(allowed)
			ch.FilterChainMatch = m
		}
	}
	if len(deny) > 0 {
		n := len(chains)
		if l.DefaultFilterChain != nil {
			chains = append(chains, l.DefaultFilterChain) // its twin only: the default keeps its place
		}
		for _, ch := range chains[:len(chains):len(chains)] { // the chains so far; twins are appended after
			m := proto.Clone(matchOf(ch)).(*listenerv3.FilterChainMatch)
			m.DirectSourcePrefixRanges = cidrs(deny)
			chains = append(chains, &listenerv3.FilterChain{FilterChainMatch: m, Filters: []*listenerv3.Filter{closer}})
		}
		if l.DefaultFilterChain != nil {
			chains = slices.Delete(chains, n, n+1)
		}
	}
	l.FilterChains = chains
	return nil
}

func matchOf(ch *listenerv3.FilterChain) *listenerv3.FilterChainMatch {
	if ch.FilterChainMatch == nil {
		return &listenerv3.FilterChainMatch{}
	}
	return ch.FilterChainMatch
}

// cidrRanges parses ranges validation has admitted, and keeps the least
// list that covers the same addresses, in a fixed order: a range given
// twice, or inside another of the list, would be a second filter chain
// rule for the same addresses, which Envoy refuses.
func cidrRanges(ss []string) ([]netip.Prefix, error) {
	all := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, err
		}
		all = append(all, p)
	}
	slices.SortFunc(all, func(a, b netip.Prefix) int {
		if c := cmp.Compare(a.Bits(), b.Bits()); c != 0 {
			return c
		}
		return a.Addr().Compare(b.Addr())
	})
	var out []netip.Prefix
	for _, p := range all {
		if !slices.ContainsFunc(out, func(q netip.Prefix) bool { return q.Contains(p.Addr()) }) {
			out = append(out, p) // broader ranges come first: p is in none of them
		}
	}
	return out, nil
}

func cidrs(ps []netip.Prefix) []*corev3.CidrRange {
	out := make([]*corev3.CidrRange, 0, len(ps))
	for _, p := range ps {
		out = append(out, &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))})
	}
	return out
}
