package model

import (
	"strconv"
	"time"
)

// The routing feature's limits: route rewrites, upgrades and hashing,
// query parameter matches, a service's retry budget, and CORS at each of
// the three policy levels.
const (
	limRespRemove fieldLimit = iota + limTrafficEnd
	limRespRemoveName
	limQueryParams
	limQueryName
	limQueryExact
	limQueryPrefix
	limQueryRegex
	limRegexRewritePattern
	limRegexRewriteSubstitution
	limHostRewrite
	limUpgrades
	limUpgrade
	limIdleTimeout
	limHashPolicies
	limHashHeader
	limHashCookieName
	limHashCookieTTL
	limHashCookiePath
	limMinRetryConcurrency
	// limCORS is the first of policyLevels blocks of numCORSLimits limits, the
	// table's policy first, then a virtual host's, then a route's.
	limCORS
	limRoutingEnd = limCORS + policyLevels*numCORSLimits
)

// A CORS limit's place in its level's block.
const (
	corsOrigins = iota
	corsOriginExact
	corsOriginRegex
	corsMethods
	corsMethod
	corsHeaders
	corsHeader
	corsExposeHeaders
	corsExposeHeader
	corsMaxAge
	numCORSLimits
)

func routingLimits() map[fieldLimit]Limit {
	const r = "virtual_hosts[*].routes[*]."
	table := func(route string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + route + `]}]}`
	}
	fwd := func(fields string) string { return table(`{"match":{"prefix":"/"},"service":"web",` + fields + `}`) }
	query := func(q string) string {
		return table(`{"match":{"prefix":"/","query_parameters":[{` + q + `}]},"service":"web"}`)
	}
	cookie := func(c string) string { return fwd(`"hash_policy":[{"cookie":{` + c + `}}]`) }
	ms := int64(time.Millisecond)
	out := map[fieldLimit]Limit{
		limRespRemove: {Field: r + "response_headers_to_remove", Unit: UnitItems, Max: 1000, Fill: `"x-r{i}"`,
			Envoy: "Route.response_headers_to_remove at most 1000 items (PGV)", In: fwd(`"response_headers_to_remove":@`)},
		limRespRemoveName: {Field: r + "response_headers_to_remove[*]", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x",
			Envoy: "Route.response_headers_to_remove items are not empty (PGV)", In: fwd(`"response_headers_to_remove":[@]`)},
		limQueryParams: {Field: r + "match.query_parameters", Unit: UnitItems, Max: 100, Fill: `{"name":"q{i}","present":true}`,
			In: table(`{"match":{"prefix":"/","query_parameters":@},"service":"web"}`)},
		limQueryName: {Field: r + "match.query_parameters[*].name", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "q",
			Envoy: "QueryParameterMatcher.name is 1-1024 bytes (PGV)", In: query(`"present":true,"name":@`)},
		limQueryExact:  {Field: r + "match.query_parameters[*].exact", Unit: UnitBytes, Max: 4096, Fill: "v", In: query(`"name":"q","exact":@`)},
		limQueryPrefix: {Field: r + "match.query_parameters[*].prefix", Unit: UnitBytes, Max: 4096, Fill: "v", In: query(`"name":"q","prefix":@`)},
		limQueryRegex:  {Field: r + "match.query_parameters[*].regex", Unit: UnitBytes, Max: 1024, Fill: "[v|]", In: query(`"name":"q","regex":@`)},
		limRegexRewritePattern: {Field: r + "regex_rewrite.pattern", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "/[r|]",
			Envoy: "RegexMatcher.regex is not empty (PGV)", In: fwd(`"regex_rewrite":{"substitution":"/","pattern":@}`)},
		limRegexRewriteSubstitution: {Field: r + "regex_rewrite.substitution", Unit: UnitBytes, Max: 4096, Fill: "/s",
			In: fwd(`"regex_rewrite":{"pattern":"^/a","substitution":@}`)},
		limHostRewrite: {Field: r + "host_rewrite", Unit: UnitBytes, Max: 255, Fill: "h", In: fwd(`"host_rewrite":@`)},
		limUpgrades:    {Field: r + "upgrades", Unit: UnitItems, Max: 10, Fill: `"u{i}"`, In: fwd(`"upgrades":@`)},
		limUpgrade: {Field: r + "upgrades[*]", Unit: UnitBytes, Min: 1, Max: 64, Fill: "u",
			Envoy: "UpgradeConfig.upgrade_type is not empty (PGV)", In: fwd(`"upgrades":[@]`)},
		limIdleTimeout: {Field: r + "idle_timeout", Unit: UnitDuration, Min: ms, Max: int64(24 * time.Hour), Unset: true,
			Envoy: "Envoy counts an idle timeout in milliseconds, and 0 means none", In: fwd(`"idle_timeout":@`)},
		limHashPolicies: {Field: r + "hash_policy", Unit: UnitItems, Max: 10, Fill: `{"header":"x-h{i}"}`, In: fwd(`"hash_policy":@`)},
		limHashHeader: {Field: r + "hash_policy[*].header", Unit: UnitBytes, Max: 256, Fill: "x",
			In: fwd(`"hash_policy":[{"header":@}]`)},
		limHashCookieName: {Field: r + "hash_policy[*].cookie.name", Unit: UnitBytes, Min: 1, Max: 256, Fill: "c",
			Envoy: "HashPolicy.Cookie.name is not empty (PGV)", In: cookie(`"name":@`)},
		limHashCookieTTL: {Field: r + "hash_policy[*].cookie.ttl", Unit: UnitDuration, Min: int64(time.Second), Max: int64(365 * 24 * time.Hour), Unset: true,
			In: cookie(`"name":"c","ttl":@`)},
		limHashCookiePath: {Field: r + "hash_policy[*].cookie.path", Unit: UnitBytes, Max: 1024, Fill: "/p", In: cookie(`"name":"c","path":@`)},
	}
	for id, l := range out {
		l.Kind = KindRouteTable
		out[id] = l
	}
	out[limMinRetryConcurrency] = Limit{Kind: KindService, Field: "circuit_breakers.retry_budget.min_retry_concurrency", Unit: UnitNumber,
		Max: 10000, Unset: true, In: `{"protocol":"http","circuit_breakers":{"retry_budget":{"budget_percent":20,"min_retry_concurrency":@}}}`}
	for level := range policyLevels {
		for k, l := range corsLevelLimits(level) {
			out[corsLimit(level, k)] = l
		}
	}
	return out
}

// corsLevelLimits are the CORS limits of one policy level, by their place
// in its block.
func corsLevelLimits(level int) map[int]Limit {
	in := func(cors string) string {
		policy := `"policy":{"cors":{` + cors + `}}`
		route := `{"match":{"prefix":"/"},"service":"web"}`
		switch level {
		case 0:
			return `{` + policy + `,"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + route + `]}]}`
		case 1:
			return `{"virtual_hosts":[{"name":"v","domains":["*"],` + policy + `,"routes":[` + route + `]}]}`
		}
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web",` + policy + `}]}]}`
	}
	with := func(fields string) string { return in(`"allow_origins":[{"exact":"*"}],` + fields) }
	p := policyLevelPaths[level] + ".cors."
	out := map[int]Limit{
		corsOrigins: {Field: p + "allow_origins", Unit: UnitItems, Min: 1, Max: 100, Fill: `{"exact":"https://o{i}.example.com"}`,
			In: in(`"allow_origins":@`)},
		corsOriginExact: {Field: p + "allow_origins[*].exact", Unit: UnitBytes, Max: 1024, Fill: "https://o", In: in(`"allow_origins":[{"exact":@}]`)},
		corsOriginRegex: {Field: p + "allow_origins[*].regex", Unit: UnitBytes, Max: 1024, Fill: "https://[o|]", In: in(`"allow_origins":[{"regex":@}]`)},
		corsMethods:     {Field: p + "allow_methods", Unit: UnitItems, Max: 20, Fill: `"M{i}"`, In: with(`"allow_methods":@`)},
		corsMethod:      {Field: p + "allow_methods[*]", Unit: UnitBytes, Min: 1, Max: 32, Fill: "M", In: with(`"allow_methods":[@]`)},
		corsHeaders:     {Field: p + "allow_headers", Unit: UnitItems, Max: 100, Fill: `"x-h{i}"`, In: with(`"allow_headers":@`)},
		corsHeader:      {Field: p + "allow_headers[*]", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x", In: with(`"allow_headers":[@]`)},
		corsExposeHeaders: {Field: p + "expose_headers", Unit: UnitItems, Max: 100, Fill: `"x-h{i}"`,
			In: with(`"expose_headers":@`)},
		corsExposeHeader: {Field: p + "expose_headers[*]", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x", In: with(`"expose_headers":[@]`)},
		corsMaxAge: {Field: p + "max_age", Unit: UnitDuration, Min: int64(time.Second), Max: int64(24 * time.Hour), Unset: true,
			In: with(`"max_age":@`)},
	}
	for k, l := range out {
		l.Kind = KindRouteTable
		out[k] = l
	}
	return out
}

// corsLimit is the id of the CORS limit k of a policy level.
func corsLimit(level, k int) fieldLimit { return limCORS + fieldLimit(level*numCORSLimits+k) }

func (c *CORS) checkLimits(v *validator, p string) {
	level := policyLevelOf(p)
	id := func(k int) fieldLimit { return corsLimit(level, k) }
	v.checkLen(id(corsOrigins), len(c.AllowOrigins), p, ".allow_origins")
	for i, o := range c.AllowOrigins {
		n := strconv.Itoa(i)
		v.checkLen(id(corsOriginExact), len(o.Exact), p, ".allow_origins[", n, "].exact")
		v.checkLen(id(corsOriginRegex), len(o.Regex), p, ".allow_origins[", n, "].regex")
	}
	for _, list := range []struct {
		field       string
		items       []string
		count, each int
	}{{".allow_methods", c.AllowMethods, corsMethods, corsMethod},
		{".allow_headers", c.AllowHeaders, corsHeaders, corsHeader},
		{".expose_headers", c.ExposeHeaders, corsExposeHeaders, corsExposeHeader}} {
		v.checkLen(id(list.count), len(list.items), p, list.field)
		for i, s := range list.items {
			v.checkLen(id(list.each), len(s), p, list.field, "[", strconv.Itoa(i), "]")
		}
	}
	v.checkDuration(id(corsMaxAge), c.MaxAge, p, ".max_age")
}

func (r *Route) checkRoutingLimits(v *validator, p string) {
	v.checkLen(limRespRemove, len(r.ResponseHeadersToRemove), p, ".response_headers_to_remove")
	for i, h := range r.ResponseHeadersToRemove {
		v.checkLen(limRespRemoveName, len(h), p, ".response_headers_to_remove[", strconv.Itoa(i), "]")
	}
	if rr := r.RegexRewrite; rr != nil {
		v.checkLen(limRegexRewritePattern, len(rr.Pattern), p, ".regex_rewrite.pattern")
		v.checkLen(limRegexRewriteSubstitution, len(rr.Substitution), p, ".regex_rewrite.substitution")
	}
	v.checkLen(limHostRewrite, len(r.HostRewrite), p, ".host_rewrite")
	v.checkLen(limUpgrades, len(r.Upgrades), p, ".upgrades")
	for i, u := range r.Upgrades {
		v.checkLen(limUpgrade, len(u), p, ".upgrades[", strconv.Itoa(i), "]")
	}
	v.checkDuration(limIdleTimeout, r.IdleTimeout, p, ".idle_timeout")
	v.checkLen(limHashPolicies, len(r.HashPolicy), p, ".hash_policy")
	for i, h := range r.HashPolicy {
		hp := p + ".hash_policy[" + strconv.Itoa(i) + "]"
		v.checkLen(limHashHeader, len(h.Header), hp, ".header")
		if c := h.Cookie; c != nil {
			v.checkLen(limHashCookieName, len(c.Name), hp, ".cookie.name")
			v.checkDuration(limHashCookieTTL, c.TTL, hp, ".cookie.ttl")
			v.checkLen(limHashCookiePath, len(c.Path), hp, ".cookie.path")
		}
	}
}

func (m *RouteMatch) checkQueryLimits(v *validator, p string) {
	v.checkLen(limQueryParams, len(m.QueryParameters), p, ".query_parameters")
	for i, q := range m.QueryParameters {
		qp := p + ".query_parameters[" + strconv.Itoa(i) + "]"
		v.checkLen(limQueryName, len(q.Name), qp, ".name")
		v.checkLen(limQueryExact, len(q.Exact), qp, ".exact")
		v.checkLen(limQueryPrefix, len(q.Prefix), qp, ".prefix")
		v.checkLen(limQueryRegex, len(q.Regex), qp, ".regex")
	}
}
