package translator

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// serviceLookup reports why a service cannot take traffic, nil if it can.
type serviceLookup func(name string) *unavailable

// routeTableFor translates one route table, keeping the operator's order of
// virtual hosts and routes (Envoy matches routes first to last). A route to
// a service that cannot take traffic answers 503 and is reported in errs;
// the rest of the table is served. reached lists, sorted, the services the
// table forwards to: the clusters a group using it must receive.
func routeTableFor(name string, rt *model.RouteTable, lookup serviceLookup) (cfg *routev3.RouteConfiguration, reached []string, errs model.FieldErrors) {
	cfg = &routev3.RouteConfiguration{Name: name}
	seen := map[string]bool{}
	for i, vh := range rt.VirtualHosts {
		if vh.LeftOut {
			continue // the table's rejection says why
		}
		out := &routev3.VirtualHost{Name: vh.Name, Domains: slices.Clone(vh.ServedDomains())}
		if vh.Err != nil {
			out.Routes = []*routev3.Route{rejectedRoute(&routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				"virtual host "+strconv.Quote(vh.Name), vh.Err)}
			cfg.VirtualHosts = append(cfg.VirtualHosts, out)
			continue
		}
		for j := range vh.Routes {
			r, svcs, rerrs := routeFor(&vh.Routes[j], fmt.Sprintf("virtual_hosts[%d].routes[%d]", i, j), lookup)
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
	sort.Strings(reached)
	return cfg, reached, errs
}

// routeFor translates one route; path is its field path for rejections.
func routeFor(r *model.Route, path string, lookup serviceLookup) (*routev3.Route, []string, model.FieldErrors) {
	if r.Err != nil {
		return rejectedRoute(matchFor(&r.Match), "this route", r.Err), nil, nil
	}
	out := &routev3.Route{
		Match:                  matchFor(&r.Match),
		RequestHeadersToAdd:    headerOptions(r.RequestHeadersToAdd),
		RequestHeadersToRemove: slices.Clone(r.RequestHeadersToRemove),
		ResponseHeadersToAdd:   headerOptions(r.ResponseHeadersToAdd),
	}
	switch {
	case r.DirectResponse != nil:
		out.Action = directResponse(r.DirectResponse.Status, r.DirectResponse.Body)
		return out, nil, nil
	case r.Redirect != nil:
		out.Action = &routev3.Route_Redirect{Redirect: redirectFor(r.Redirect)}
		return out, nil, nil
	}
	if bodies, errs := unreachable(r, path, lookup); len(errs) > 0 {
		// Answering 503 keeps the route's place in the match order: dropping
		// it would send its requests to whatever route matches next.
		out.Action = directResponse(503, explanation(strings.Join(bodies, "; ")))
		return out, nil, errs
	}
	out.Action = &routev3.Route_Route{Route: forwardAction(r)}
	return out, r.ServiceNames(), nil
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
