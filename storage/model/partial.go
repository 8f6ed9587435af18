package model

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// A route table is rejected as finely as its errors allow:
//   - an error inside one route's action or header edits rejects that route,
//     which then answers 503 with the reason (it keeps its place in the
//     match order, as a route to a missing service does);
//   - an error in a route's match rejects its virtual host, whose domains
//     then answer 503: a match cannot be kept in part, and dropping the
//     route would send its requests to whichever route matches next;
//   - an error in a virtual host's policy rejects that virtual host, whose
//     domains then answer 503: its requests must never reach a route
//     without the policy, as they would if it were left out;
//   - a bad domain rejects that domain; a virtual host with a bad name, no
//     routes or no domain left is left out;
//   - errors of the table itself, or a table with no route left serving,
//     reject the whole table.

// keepPart marks the routes, virtual hosts and domains err rejects and
// reports whether any route is left serving. err is Validate's result.
func (rt *RouteTable) keepPart(err error) bool {
	var fes FieldErrors
	if !errors.As(err, &fes) {
		return false
	}
	for _, fe := range fes {
		p, ok := routePath(fe.Field)
		if !ok || p.vhost >= len(rt.VirtualHosts) {
			return false // an error of the table itself
		}
		vh := &rt.VirtualHosts[p.vhost]
		if p.route >= len(vh.Routes) || p.domain >= len(vh.Domains) {
			return false // a path no validation gives: judge the table whole
		}
		switch {
		case p.domain >= 0:
			if !slices.Contains(vh.BadDomains, p.domain) {
				vh.BadDomains = append(vh.BadDomains, p.domain)
			}
		case p.route >= 0 && !p.inMatch:
			r := &vh.Routes[p.route]
			r.Err = append(asFieldErrors(r.Err), fe)
		default:
			vh.Err = append(asFieldErrors(vh.Err), fe)
			vh.LeftOut = vh.LeftOut || (p.route < 0 && !p.inPolicy)
		}
	}
	serving := false
	for i := range rt.VirtualHosts {
		vh := &rt.VirtualHosts[i]
		if len(vh.BadDomains) == len(vh.Domains) {
			vh.LeftOut = true
		}
		if vh.Err != nil || vh.LeftOut {
			continue
		}
		for _, r := range vh.Routes {
			serving = serving || r.Err == nil
		}
	}
	return serving
}

func asFieldErrors(err error) FieldErrors {
	fes, _ := err.(FieldErrors)
	return fes
}

// ServedDomains is the virtual host's domains less those rejected.
func (vh *VirtualHost) ServedDomains() []string {
	if len(vh.BadDomains) == 0 {
		return vh.Domains
	}
	out := make([]string, 0, len(vh.Domains))
	for i, d := range vh.Domains {
		if !slices.Contains(vh.BadDomains, i) {
			out = append(out, d)
		}
	}
	return out
}

// fieldPath is where in a route table a field error lies; -1 where the
// path does not go that deep.
type fieldPath struct {
	vhost, route, domain int
	inMatch              bool
	inPolicy             bool // an error of the virtual host's policy
}

// routePath reads a field path of the form virtual_hosts[i]...; ok is
// false for any other path, a field of the table itself.
func routePath(field string) (p fieldPath, ok bool) {
	p = fieldPath{route: -1, domain: -1}
	rest, ok := strings.CutPrefix(field, "virtual_hosts[")
	if !ok {
		return p, false
	}
	if p.vhost, rest, ok = index(rest); !ok {
		return p, false
	}
	if d, isDomain := strings.CutPrefix(rest, ".domains["); isDomain {
		if n, tail, ok := index(d); ok && tail == "" {
			p.domain = n
		}
		return p, true
	}
	r, isRoute := strings.CutPrefix(rest, ".routes[")
	if !isRoute {
		p.inPolicy = rest == ".policy" || strings.HasPrefix(rest, ".policy.")
		return p, true
	}
	if n, tail, ok := index(r); ok {
		p.route = n
		p.inMatch = tail == ".match" || strings.HasPrefix(tail, ".match.")
	}
	return p, true
}

// index reads "<n>]" and returns n and what follows.
func index(s string) (int, string, bool) {
	num, rest, ok := strings.Cut(s, "]")
	if !ok {
		return 0, "", false
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 0 {
		return 0, "", false
	}
	return n, rest, true
}
