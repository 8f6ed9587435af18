package model

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The route table's limits, after the other kinds' in limits.go.
const (
	limVirtualHosts fieldLimit = iota + limGroup + 1
	limVHostName
	limDomains
	limDomain
	limRoutes
	limPrefix
	limPath
	limRegex
	limHeaders
	limHeaderName
	limHeaderExact
	limHeaderPrefix
	limHeaderRegex
	limRouteService
	limWeighted
	limWeightedService
	limWeight
	limDirectStatus
	limDirectBody
	limRedirectHost
	limRedirectPath
	limTimeout
	limRetryOn
	limNumRetries
	limPerTryTimeout
	limPrefixRewrite
	limReqAdd
	limReqAddName
	limReqAddValue
	limReqRemove
	limReqRemoveName
	limRespAdd
	limRespAddName
	limRespAddValue
	// the TLS limits follow in limits_tls.go
)

// MaxHeaderValue is Envoy's bound on a header value it is told to add
// (HeaderValue.value, PGV max_bytes), counted as sent: with each '%'
// written as "%%", as the translator escapes it.
const MaxHeaderValue = 16384

func routeTableLimits() map[fieldLimit]Limit {
	const vh, r = "virtual_hosts[*].", "virtual_hosts[*].routes[*]."
	table := func(route string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + route + `]}]}`
	}
	fwd := func(fields string) string { return table(`{"match":{"prefix":"/"},"service":"web",` + fields + `}`) }
	match := func(m string) string { return table(`{"match":{` + m + `},"service":"web"}`) }
	header := func(h string) string { return match(`"prefix":"/","headers":[{` + h + `}]`) }
	action := func(a string) string { return table(`{"match":{"prefix":"/"},` + a + `}`) }
	ms := int64(time.Millisecond)
	out := map[fieldLimit]Limit{
		limVirtualHosts: {Field: "virtual_hosts", Unit: UnitItems, Min: 1, Max: 1000, In: `{"virtual_hosts":@}`,
			Fill: `{"name":"v{i}","domains":["d{i}.example.com"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}`},
		limVHostName: {Field: vh + "name", Unit: UnitBytes, Min: 1, Max: nameMax, Fill: "v", Envoy: "VirtualHost.name is not empty (PGV)",
			In: `{"virtual_hosts":[{"name":@,"domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
		limDomains: {Field: vh + "domains", Unit: UnitItems, Min: 1, Max: 1000, Fill: `"d{i}.example.com"`, Envoy: "VirtualHost.domains has an item (PGV)",
			In: `{"virtual_hosts":[{"name":"v","domains":@,"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
		limDomain: {Field: vh + "domains[*]", Unit: UnitBytes, Min: 1, Max: 255, Fill: "d",
			In: `{"virtual_hosts":[{"name":"v","domains":[@],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
		limRoutes: {Field: vh + "routes", Unit: UnitItems, Min: 1, Max: 10000, Fill: `{"match":{"prefix":"/{i}"},"service":"web"}`,
			In: `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":@}]}`},
		limPrefix:       {Field: r + "match.prefix", Unit: UnitBytes, Max: 4096, Fill: "/p", In: match(`"prefix":@`)},
		limPath:         {Field: r + "match.path", Unit: UnitBytes, Max: 4096, Fill: "/p", In: match(`"path":@`)},
		limRegex:        {Field: r + "match.regex", Unit: UnitBytes, Max: 1024, Fill: "/[r|]", In: match(`"regex":@`)},
		limHeaders:      {Field: r + "match.headers", Unit: UnitItems, Max: 100, Fill: `{"name":"x-h{i}","present":true}`, In: match(`"prefix":"/","headers":@`)},
		limHeaderName:   {Field: r + "match.headers[*].name", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x", Envoy: "HeaderMatcher.name is not empty (PGV)", In: header(`"present":true,"name":@`)},
		limHeaderExact:  {Field: r + "match.headers[*].exact", Unit: UnitBytes, Max: MaxHeaderValue, Fill: "v", In: header(`"name":"x","exact":@`)},
		limHeaderPrefix: {Field: r + "match.headers[*].prefix", Unit: UnitBytes, Max: MaxHeaderValue, Fill: "v", In: header(`"name":"x","prefix":@`)},
		limHeaderRegex:  {Field: r + "match.headers[*].regex", Unit: UnitBytes, Max: 1024, Fill: "[v|]", In: header(`"name":"x","regex":@`)},
		limRouteService: {Field: r + "service", Unit: UnitBytes, Max: nameMax, Fill: "w", In: action(`"service":@`)},
		limWeighted:     {Field: r + "weighted_services", Unit: UnitItems, Max: 100, Fill: `{"service":"web","weight":1}`, In: action(`"weighted_services":@`)},
		limWeightedService: {Field: r + "weighted_services[*].service", Unit: UnitBytes, Max: nameMax, Fill: "w",
			In: action(`"weighted_services":[{"service":@,"weight":1}]`)},
		limWeight: {Field: r + "weighted_services[*].weight", Unit: UnitNumber, Max: 1 << 31, Unset: true,
			Envoy: "the weights of a WeightedCluster add up to more than 0 and fit in 32 bits (load time)",
			In:    action(`"weighted_services":[{"service":"web","weight":@}]`)},
		limDirectStatus: {Field: r + "direct_response.status", Unit: UnitNumber, Min: 200, Max: 599,
			Envoy: "DirectResponseAction.status in [200, 600) (PGV)", In: action(`"direct_response":{"status":@}`)},
		limDirectBody: {Field: r + "direct_response.body", Unit: UnitBytes, Max: 4096, Fill: "b",
			Envoy: "a direct response body at most max_direct_response_body_size_bytes, 4096 by default (load time)",
			In:    action(`"direct_response":{"status":200,"body":@}`)},
		limRedirectHost: {Field: r + "redirect.host", Unit: UnitBytes, Max: 255, Fill: "h", In: action(`"redirect":{"host":@}`)},
		limRedirectPath: {Field: r + "redirect.path", Unit: UnitBytes, Max: 4096, Fill: "/p", In: action(`"redirect":{"path":@}`)},
		limTimeout: {Field: r + "timeout", Unit: UnitDuration, Min: ms, Max: int64(24 * time.Hour), Unset: true,
			Envoy: "Envoy counts a route timeout in milliseconds, and 0 means none: a shorter one would be no timeout", In: fwd(`"timeout":@`)},
		limRetryOn:    {Field: r + "retries.retry_on", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "5xx", In: fwd(`"retries":{"retry_on":@}`)},
		limNumRetries: {Field: r + "retries.num_retries", Unit: UnitNumber, Max: 100, Unset: true, In: fwd(`"retries":{"retry_on":"5xx","num_retries":@}`)},
		limPerTryTimeout: {Field: r + "retries.per_try_timeout", Unit: UnitDuration, Min: ms, Max: int64(24 * time.Hour), Unset: true,
			Envoy: "Envoy counts a per-try timeout in milliseconds, and 0 means none", In: fwd(`"retries":{"retry_on":"5xx","per_try_timeout":@}`)},
		limPrefixRewrite: {Field: r + "prefix_rewrite", Unit: UnitBytes, Max: 4096, Fill: "/r", In: fwd(`"prefix_rewrite":@`)},
		limReqRemove: {Field: r + "request_headers_to_remove", Unit: UnitItems, Max: 1000, Fill: `"x-r{i}"`,
			In: fwd(`"request_headers_to_remove":@`)},
		limReqRemoveName: {Field: r + "request_headers_to_remove[*]", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x",
			Envoy: "Route.request_headers_to_remove items are not empty (PGV)", In: fwd(`"request_headers_to_remove":[@]`)},
	}
	for _, h := range []struct {
		list               string
		items, name, value fieldLimit
	}{{"request_headers_to_add", limReqAdd, limReqAddName, limReqAddValue}, {"response_headers_to_add", limRespAdd, limRespAddName, limRespAddValue}} {
		out[h.items] = Limit{Field: r + h.list, Unit: UnitItems, Max: 1000, Fill: `{"name":"x-a{i}","value":"v"}`,
			Envoy: "Route." + h.list + " at most 1000 items (PGV)", In: fwd(`"` + h.list + `":@`)}
		out[h.name] = Limit{Field: r + h.list + "[*].name", Unit: UnitBytes, Min: 1, Max: 256, Fill: "x",
			Envoy: "HeaderValue.key is not empty (PGV)", In: fwd(`"` + h.list + `":[{"name":@,"value":"v"}]`)}
		out[h.value] = Limit{Field: r + h.list + "[*].value", Unit: UnitBytes, Max: MaxHeaderValue, Fill: "v",
			Envoy: "HeaderValue.value at most 16384 bytes (PGV), each '%' sent as \"%%\"", In: fwd(`"` + h.list + `":[{"name":"x-a","value":@}]`)}
	}
	for id, l := range out {
		l.Kind = KindRouteTable
		out[id] = l
	}
	return out
}

// checkLimits bounds every size and count of the table. Each error's path
// is the field's own, virtual_hosts[i].routes[j]..., so that a bad route
// rejects only that route.
func (rt *RouteTable) checkLimits(v *validator) {
	v.checkLen(limVirtualHosts, len(rt.VirtualHosts), "virtual_hosts")
	for i := range rt.VirtualHosts {
		vh := &rt.VirtualHosts[i]
		p := fmt.Sprintf("virtual_hosts[%d]", i)
		v.checkLen(limVHostName, len(vh.Name), p, ".name")
		v.checkLen(limDomains, len(vh.Domains), p, ".domains")
		for j, d := range vh.Domains {
			v.checkLen(limDomain, len(d), p, ".domains[", strconv.Itoa(j), "]")
		}
		v.checkLen(limRoutes, len(vh.Routes), p, ".routes")
		for j := range vh.Routes {
			vh.Routes[j].checkLimits(v, fmt.Sprintf("%s.routes[%d]", p, j))
		}
	}
}

func (r *Route) checkLimits(v *validator, p string) {
	m := &r.Match
	v.checkLen(limPrefix, len(m.Prefix), p, ".match.prefix")
	v.checkLen(limPath, len(m.Path), p, ".match.path")
	v.checkLen(limRegex, len(m.Regex), p, ".match.regex")
	v.checkLen(limHeaders, len(m.Headers), p, ".match.headers")
	for i, h := range m.Headers {
		hp, n := p+".match.headers[", strconv.Itoa(i)
		v.checkLen(limHeaderName, len(h.Name), hp, n, "].name")
		v.checkLen(limHeaderExact, len(h.Exact), hp, n, "].exact")
		v.checkLen(limHeaderPrefix, len(h.Prefix), hp, n, "].prefix")
		v.checkLen(limHeaderRegex, len(h.Regex), hp, n, "].regex")
	}
	v.checkLen(limRouteService, len(r.Service), p, ".service")
	v.checkLen(limWeighted, len(r.WeightedServices), p, ".weighted_services")
	for i, w := range r.WeightedServices {
		n := strconv.Itoa(i)
		v.checkLen(limWeightedService, len(w.Service), p, ".weighted_services[", n, "].service")
		v.checkNumber(limWeight, uint64(w.Weight), p, ".weighted_services[", n, "].weight")
	}
	if dr := r.DirectResponse; dr != nil {
		v.checkNumber(limDirectStatus, uint64(dr.Status), p, ".direct_response.status")
		v.checkLen(limDirectBody, len(dr.Body), p, ".direct_response.body")
	}
	if rd := r.Redirect; rd != nil {
		v.checkLen(limRedirectHost, len(rd.Host), p, ".redirect.host")
		v.checkLen(limRedirectPath, len(rd.Path), p, ".redirect.path")
	}
	v.checkDuration(limTimeout, r.Timeout, p, ".timeout")
	if rp := r.Retries; rp != nil {
		v.checkLen(limRetryOn, len(rp.RetryOn), p, ".retries.retry_on")
		v.checkNumber(limNumRetries, uint64(rp.NumRetries), p, ".retries.num_retries")
		v.checkDuration(limPerTryTimeout, rp.PerTryTimeout, p, ".retries.per_try_timeout")
	}
	v.checkLen(limPrefixRewrite, len(r.PrefixRewrite), p, ".prefix_rewrite")
	checkHeaderLimits(v, p, ".request_headers_to_add", r.RequestHeadersToAdd, limReqAdd, limReqAddName, limReqAddValue)
	checkHeaderLimits(v, p, ".response_headers_to_add", r.ResponseHeadersToAdd, limRespAdd, limRespAddName, limRespAddValue)
	v.checkLen(limReqRemove, len(r.RequestHeadersToRemove), p, ".request_headers_to_remove")
	for i, h := range r.RequestHeadersToRemove {
		v.checkLen(limReqRemoveName, len(h), p, ".request_headers_to_remove[", strconv.Itoa(i), "]")
	}
}

// checkHeaderLimits bounds headers to add. A value is measured as Envoy
// receives it, each '%' escaped as "%%" (translator/envoy_limits.go).
func checkHeaderLimits(v *validator, p, list string, hs []HeaderValue, items, name, value fieldLimit) {
	v.checkLen(items, len(hs), p, list)
	most := limit(value).Max
	for i, h := range hs {
		n := strconv.Itoa(i)
		v.checkLen(name, len(h.Name), p, list, "[", n, "].name")
		if sent := int64(len(h.Value) + strings.Count(h.Value, "%")); sent > most && int64(len(h.Value)) <= most {
			v.add(p+list+"["+n+"].value", "at most %d bytes, each '%%' counting twice (Envoy is sent \"%%%%\"), got %d", most, sent)
		} else {
			v.checkLen(value, len(h.Value), p, list, "[", n, "].value")
		}
	}
}
