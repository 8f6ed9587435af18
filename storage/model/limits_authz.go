package model

import (
	"strconv"
	"strings"
	"time"
)

// The authorization limits. A policy's rule lists have the same bounds at
// each of the three levels a policy is set at, and deny and allow the
// same: those limits are numbered by authzLimitOf from limTLSEnd, a block
// of authzRuleLimits per level and list; the listener's follow.
const (
	limNetDenyCIDRs fieldLimit = iota + limTLSEnd + authzPolicyLimits
	limNetAllowCIDRs
	limExtAuthzService
	limExtAuthzTimeout
	limExtAuthzPathPrefix
	limExtAuthzHeaders
	limExtAuthzHeader
	limAuthzEnd
)

// The limits of one rule list, by offset in its block.
const (
	alRules = iota // the list itself
	alSourceCIDRs
	alMethods
	alPaths
	alPathExact
	alPathPrefix
	alPathRegex
	alHeaders
	alHeaderName
	alHeaderExact
	alHeaderPrefix
	alHeaderRegex
	alPrincipals
	alPrincipal
	authzRuleLimits // the size of a block
)

// authzPolicyLimits is the number of a policy's authorization limits:
// three levels, two lists each.
const authzPolicyLimits = 3 * 2 * authzRuleLimits

// authzLevels are the field paths of a policy at each level (with "[*]"
// for an index) and, for the limits' example objects, a route table with
// authorization set there to the "@" it holds.
var authzLevels = []struct{ path, table string }{
	{"policy", `{"policy":{"authorization":@},"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
	{"virtual_hosts[*].policy", `{"virtual_hosts":[{"name":"v","domains":["*"],"policy":{"authorization":@},"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
	{"virtual_hosts[*].routes[*].policy", `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"authorization":@}}]}]}`},
}

// authzLimitOf is the limit at offset o of the deny (allow false) or
// allow list of the policy at level lv.
func authzLimitOf(lv int, allow bool, o int) fieldLimit {
	list := 0
	if allow {
		list = 1
	}
	return limTLSEnd + fieldLimit((lv*2+list)*authzRuleLimits+o)
}

func authzLimits() map[fieldLimit]Limit {
	out := map[fieldLimit]Limit{}
	for lv, level := range authzLevels {
		for _, list := range []string{"deny", "allow"} {
			authzListLimits(out, lv, list, level.path+".authorization."+list, func(rules string) string {
				return strings.Replace(level.table, "@", `{"`+list+`":`+rules+`}`, 1)
			})
		}
	}
	tcp := func(a string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"tcp","service":"s","groups":["edge"],"authorization":{` + a + `}}`
	}
	ext := func(e string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"http","route_table":"web","groups":["edge"],"ext_authz":{"protocol":"http",` + e + `}}`
	}
	const cidr = `"10.0.0.0/8"`
	out[limNetDenyCIDRs] = Limit{Kind: KindListener, Field: "authorization.deny_cidrs", Unit: UnitItems, Max: 1000, Fill: cidr, In: tcp(`"deny_cidrs":@`)}
	out[limNetAllowCIDRs] = Limit{Kind: KindListener, Field: "authorization.allow_cidrs", Unit: UnitItems, Max: 1000, Fill: cidr, In: tcp(`"allow_cidrs":@`)}
	out[limExtAuthzService] = Limit{Kind: KindListener, Field: "ext_authz.service", Unit: UnitBytes, Max: nameMax, Fill: "a", In: ext(`"service":@`)}
	out[limExtAuthzTimeout] = Limit{Kind: KindListener, Field: "ext_authz.timeout", Unit: UnitDuration, Min: int64(time.Millisecond), Max: int64(time.Minute), Unset: true,
		Envoy: "Envoy counts the check's timeout in milliseconds, and an HTTP check's of 0 would be none", In: ext(`"service":"a","timeout":@`)}
	out[limExtAuthzPathPrefix] = Limit{Kind: KindListener, Field: "ext_authz.path_prefix", Unit: UnitBytes, Max: 4096, Fill: "/p", In: ext(`"service":"a","path_prefix":@`)}
	out[limExtAuthzHeaders] = Limit{Kind: KindListener, Field: "ext_authz.headers_to_authorize", Unit: UnitItems, Max: 100, Fill: `"x-h{i}"`,
		In: ext(`"service":"a","headers_to_authorize":@`)}
	out[limExtAuthzHeader] = Limit{Kind: KindListener, Field: "ext_authz.headers_to_authorize[*]", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x",
		In: ext(`"service":"a","headers_to_authorize":[@]`)}
	return out
}

// authzListLimits adds the limits of one rule list at field path f, whose
// example objects in makes from the list's JSON.
func authzListLimits(out map[fieldLimit]Limit, lv int, list, f string, in func(rules string) string) {
	rule := func(r string) string { return in("[{" + r + "}]") }
	path := func(m string) string { return rule(`"paths":[{` + m + `}]`) }
	header := func(h string) string { return rule(`"headers":[{` + h + `}]`) }
	limits := map[int]Limit{
		alRules:       {Field: f, Unit: UnitItems, Max: 100, Fill: `{"paths":[{"prefix":"/{i}"}]}`, In: in("@")},
		alSourceCIDRs: {Field: f + "[*].source_cidrs", Unit: UnitItems, Max: 1000, Fill: `"10.0.0.0/8"`, In: rule(`"source_cidrs":@`)},
		alMethods:     {Field: f + "[*].methods", Unit: UnitItems, Max: int64(len(HTTPMethods)), Fill: `"GET"`, In: rule(`"methods":@`)},
		alPaths:       {Field: f + "[*].paths", Unit: UnitItems, Max: 100, Fill: `{"prefix":"/{i}"}`, In: rule(`"paths":@`)},
		alPathExact:   {Field: f + "[*].paths[*].exact", Unit: UnitBytes, Max: 4096, Fill: "/p", In: path(`"exact":@`)},
		alPathPrefix:  {Field: f + "[*].paths[*].prefix", Unit: UnitBytes, Max: 4096, Fill: "/p", In: path(`"prefix":@`)},
		alPathRegex:   {Field: f + "[*].paths[*].regex", Unit: UnitBytes, Max: 1024, Fill: "/[r|]", In: path(`"regex":@`)},
		alHeaders:     {Field: f + "[*].headers", Unit: UnitItems, Max: 100, Fill: `{"name":"x-h{i}","present":true}`, In: rule(`"headers":@`)},
		alHeaderName: {Field: f + "[*].headers[*].name", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x",
			Envoy: "HeaderMatcher.name is not empty (PGV)", In: header(`"present":true,"name":@`)},
		alHeaderExact:  {Field: f + "[*].headers[*].exact", Unit: UnitBytes, Max: MaxHeaderValue, Fill: "v", In: header(`"name":"x","exact":@`)},
		alHeaderPrefix: {Field: f + "[*].headers[*].prefix", Unit: UnitBytes, Max: MaxHeaderValue, Fill: "v", In: header(`"name":"x","prefix":@`)},
		alHeaderRegex:  {Field: f + "[*].headers[*].regex", Unit: UnitBytes, Max: 1024, Fill: "[v|]", In: header(`"name":"x","regex":@`)},
		alPrincipals:   {Field: f + "[*].principals", Unit: UnitItems, Max: 100, Fill: `"spiffe://corp/{i}"`, In: rule(`"principals":@`)},
		alPrincipal:    {Field: f + "[*].principals[*]", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "s", In: rule(`"principals":[@]`)},
	}
	for o, l := range limits {
		l.Kind = KindRouteTable
		out[authzLimitOf(lv, list == "allow", o)] = l
	}
}

// checkLimits bounds the rule lists of the authorization at field path p,
// a policy of level lv.
func (a *Authorization) checkLimits(v *validator, lv int, p string) {
	allow, _ := a.AllowRules()
	for _, l := range []struct {
		name  string
		rules []AuthzRule
	}{{"deny", a.Deny}, {"allow", allow}} {
		id := func(o int) fieldLimit { return authzLimitOf(lv, l.name == "allow", o) }
		lp := p + "." + l.name
		v.checkLen(id(alRules), len(l.rules), lp)
		for i := range l.rules {
			r, rp := &l.rules[i], lp+"["+strconv.Itoa(i)+"]"
			v.checkLen(id(alSourceCIDRs), len(r.SourceCIDRs), rp, ".source_cidrs")
			v.checkLen(id(alMethods), len(r.Methods), rp, ".methods")
			v.checkLen(id(alPaths), len(r.Paths), rp, ".paths")
			for j, m := range r.Paths {
				n := strconv.Itoa(j)
				v.checkLen(id(alPathExact), len(m.Exact), rp, ".paths[", n, "].exact")
				v.checkLen(id(alPathPrefix), len(m.Prefix), rp, ".paths[", n, "].prefix")
				v.checkLen(id(alPathRegex), len(m.Regex), rp, ".paths[", n, "].regex")
			}
			v.checkLen(id(alHeaders), len(r.Headers), rp, ".headers")
			for j, h := range r.Headers {
				n := strconv.Itoa(j)
				v.checkLen(id(alHeaderName), len(h.Name), rp, ".headers[", n, "].name")
				v.checkLen(id(alHeaderExact), len(h.Exact), rp, ".headers[", n, "].exact")
				v.checkLen(id(alHeaderPrefix), len(h.Prefix), rp, ".headers[", n, "].prefix")
				v.checkLen(id(alHeaderRegex), len(h.Regex), rp, ".headers[", n, "].regex")
			}
			v.checkLen(id(alPrincipals), len(r.Principals), rp, ".principals")
			for j, pr := range r.Principals {
				v.checkLen(id(alPrincipal), len(pr), rp, ".principals[", strconv.Itoa(j), "]")
			}
		}
	}
}

// checkAuthzLimits bounds the listener's authorization and ext_authz.
func (l *Listener) checkAuthzLimits(v *validator) {
	if a := l.Authorization; a != nil {
		v.checkLen(limNetDenyCIDRs, len(a.DenyCIDRs), "authorization.deny_cidrs")
		v.checkLen(limNetAllowCIDRs, len(a.AllowCIDRs), "authorization.allow_cidrs")
	}
	if e := l.ExtAuthz; e != nil {
		v.checkLen(limExtAuthzService, len(e.Service), "ext_authz.service")
		v.checkDuration(limExtAuthzTimeout, e.Timeout, "ext_authz.timeout")
		v.checkLen(limExtAuthzPathPrefix, len(e.PathPrefix), "ext_authz.path_prefix")
		v.checkLen(limExtAuthzHeaders, len(e.HeadersToAuthorize), "ext_authz.headers_to_authorize")
		for i, h := range e.HeadersToAuthorize {
			v.checkLen(limExtAuthzHeader, len(h), "ext_authz.headers_to_authorize[", strconv.Itoa(i), "]")
		}
	}
}
