package translator

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/chancery-xds/chancery/storage/model"
)

// serviceLookup reports why a service cannot take traffic, nil if it can.
type serviceLookup func(name string) *unavailable

// routeTableFor translates one route table, keeping the operator's order of
// virtual hosts and routes (Envoy matches routes first to last). A route to
// a service that cannot take traffic answers 503 and is reported in errs;
// so does a level (table, virtual host, route) whose policy cannot be
// enforced; the rest of the table is served. reached lists, sorted, the
// services the table forwards to: the clusters a group using it must
// receive.
func routeTableFor(name string, rt *model.RouteTable, c *routeContext) (cfg *routev3.RouteConfiguration, reached []string, errs model.FieldErrors) {
	cfg = &routev3.RouteConfiguration{Name: name}
	if rt.Policy != nil {
		at := &policyLevel{path: "policy", perFilter: map[string]*anypb.Any{}}
		if perrs := policies(c, rt.Policy, at); len(perrs) > 0 {
			return unavailableRouteConfig(name, &unavailable{kind: "route table", name: name, reason: perrs.Error()}), nil, perrs
		}
		cfg.TypedPerFilterConfig = nonEmpty(at.perFilter)
	}
	seen := map[string]bool{}
	for i, vh := range rt.VirtualHosts {
		if vh.LeftOut {
			continue // the table's rejection says why
		}
		out := &routev3.VirtualHost{Name: vh.Name, Domains: slices.Clone(vh.ServedDomains())}
		vherr := vh.Err
		if vherr == nil && vh.Policy != nil {
			at := &policyLevel{path: fmt.Sprintf("virtual_hosts[%d].policy", i), perFilter: map[string]*anypb.Any{}, rateLimits: &out.RateLimits}
			if perrs := policies(c, vh.Policy, at); len(perrs) > 0 {
				vherr = perrs
				errs = append(errs, perrs...)
			}
			out.TypedPerFilterConfig = nonEmpty(at.perFilter)
		}
		if vherr != nil {
			out.Routes = []*routev3.Route{rejectedRoute(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				"virtual host "+strconv.Quote(vh.Name), vherr)}
			out.RateLimits, out.TypedPerFilterConfig = nil, nil
			cfg.VirtualHosts = append(cfg.VirtualHosts, out)
			continue
		}
		for j := range vh.Routes {
			r, svcs, rerrs := routeFor(c, &vh.Routes[j], fmt.Sprintf("virtual_hosts[%d].routes[%d]", i, j))
			out.Routes = append(out.Routes, r)
			errs = append(errs, rerrs...)
			for _, s := range svcs {
				if !seen[s] {
					seen[s] = true
					reached = append(reached, s)
				}
			}
		}
		cfg.VirtualHosts = append(cfg.VirtualHosts, out)
	}
	errs = append(errs, c.reported...)
	sort.Strings(reached)
	return cfg, reached, errs
}

// routeFor translates one route; path is its field path for rejections.
// svcs are the services it sends requests to, mirrors included.
func routeFor(c *routeContext, r *model.Route, path string) (out *routev3.Route, svcs []string, errs model.FieldErrors) {
	if r.Err != nil {
		return rejectedRoute(matchFor(&r.Match), "this route", r.Err), nil, nil
	}
	out = &routev3.Route{
		Match:                   matchFor(&r.Match),
		RequestHeadersToAdd:     headerOptions(r.RequestHeadersToAdd),
		RequestHeadersToRemove:  slices.Clone(r.RequestHeadersToRemove),
		ResponseHeadersToAdd:    headerOptions(r.ResponseHeadersToAdd),
		ResponseHeadersToRemove: slices.Clone(r.ResponseHeadersToRemove),
	}
	switch {
	case r.DirectResponse != nil:
		out.Action = directResponse(r.DirectResponse.Status, r.DirectResponse.Body)
	case r.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirectFor(r.Redirect)}
	default:
		if bodies, errs := unreachable(r, path, c.services); len(errs) > 0 {
			// Answering 503 keeps the route's place in the match order: dropping
			// it would send its requests to whatever route matches next.
			out.Action = directResponse(503, explanation(strings.Join(bodies, "; ")))
			return out, nil, errs
		}
		out.Action = &routev3.Route_Route{Route: forwardAction(r)}
		svcs = r.ServiceNames()
	}
	if errs = routeHooks(c, r, path, out); len(errs) > 0 {
		return rejectedRoute(out.Match, "this route", errs), nil, errs
	}
	if a := out.GetRoute(); a != nil {
		for _, m := range a.RequestMirrorPolicies {
			svcs = append(svcs, m.Cluster)
		}
	}
	return out, svcs, nil
}

// routeHooks runs the route's policy and the plugins' route hooks on out.
func routeHooks(c *routeContext, r *model.Route, path string, out *routev3.Route) model.FieldErrors {
	var errs model.FieldErrors
	if r.Policy != nil {
		at := &policyLevel{path: path + ".policy", perFilter: map[string]*anypb.Any{}}
		if a := out.GetRoute(); a != nil {
			at.rateLimits = &a.RateLimits
		}
		errs = append(errs, policies(c, r.Policy, at)...)
		out.TypedPerFilterConfig = nonEmpty(at.perFilter)
	}
	for _, p := range plugins {
		if h, ok := p.(routeHook); ok {
			errs = append(errs, h.route(c, r, path, out)...)
		}
	}
	return errs
}

// policies runs every plugin's policy hook on one level's policy.
func policies(c *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors {
	var errs model.FieldErrors
	for _, pl := range plugins {
		if h, ok := pl.(policyHook); ok {
			errs = append(errs, h.policy(c, p, at)...)
		}
	}
	return errs
}

// nonEmpty is m, or nil when it holds nothing, so a level without a
// policy is sent as it was before policies existed.
func nonEmpty(m map[string]*anypb.Any) map[string]*anypb.Any {
	if len(m) == 0 {
		return nil
	}
	return m
}

// rejectedRoute answers 503 with why a route (or every route of a virtual
// host) is rejected. The rejection itself travels with the route table's.
func rejectedRoute(match *routev3.RouteMatch, what string, err error) *routev3.Route {
	return &routev3.Route{Match: match, Action: directResponse(503, explanation(what+" is rejected: "+err.Error()))}
}

// unreachable lists the services a forwarding route names that cannot take
// traffic: the 503 body for each and the field error for the route table.
func unreachable(r *model.Route, path string, lookup serviceLookup) ([]string, model.FieldErrors) {
	var bodies []string
	var errs model.FieldErrors
	check := func(field, svc string) {
		if u := lookup(svc); u != nil {
			bodies = append(bodies, u.body())
			errs = append(errs, &model.FieldError{Field: field, Msg: u.field()})
		}
	}
	if r.Service != "" {
		check(path+".service", r.Service)
	}
	for i, w := range r.WeightedServices {
		check(fmt.Sprintf("%s.weighted_services[%d].service", path, i), w.Service)
	}
	return bodies, errs
}

func matchFor(m *model.RouteMatch) *routev3.RouteMatch {
	out := &routev3.RouteMatch{}
	switch {
	case m.Path != "":
		out.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path}
	case m.Regex != "":
		out.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Regex}}
	default:
		out.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: m.Prefix}
	}
	for _, h := range m.Headers {
		out.Headers = append(out.Headers, headerMatcher(h))
	}
	out.QueryParameters = queryParameterMatchers(m.QueryParameters)
	return out
}

func headerMatcher(h model.HeaderMatch) *routev3.HeaderMatcher {
	out := &routev3.HeaderMatcher{Name: h.Name, InvertMatch: h.Invert}
	var sm *matcherv3.StringMatcher
	switch {
	case h.Present:
		out.HeaderMatchSpecifier = &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}
		return out
	case h.Exact != "":
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h.Exact}}
	case h.Prefix != "":
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: h.Prefix}}
	default:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
			SafeRegex: &matcherv3.RegexMatcher{Regex: h.Regex},
		}}
	}
	out.HeaderMatchSpecifier = &routev3.HeaderMatcher_StringMatch{StringMatch: sm}
	return out
}
