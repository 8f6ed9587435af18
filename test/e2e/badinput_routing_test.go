package e2e

import (
	"regexp"

	"github.com/chancery-xds/chancery/storage/model"
)

// routingBases are valid objects holding every routing field: TestBadInputTable
// spoils each field of each in every way it knows.
var routingBases = []badInputBase{
	{model.KindRouteTable, `{"policy":{"cors":{"allow_origins":[{"exact":"*"},{"regex":"^https://c.*$"}],"allow_methods":["GET"],"allow_headers":["x-a"],
		"expose_headers":["x-b"],"max_age":"60s","allow_credentials":true}},
	"virtual_hosts":[{"name":"all","domains":["*"],
		"policy":{"cors":{"allow_origins":[{"exact":"https://a.example.com"},{"regex":"^https://.*$"}],"allow_methods":["PUT"],
			"allow_headers":["x-c"],"expose_headers":["x-d"],"max_age":"1m","allow_credentials":true}},
		"routes":[
		{"match":{"prefix":"/a/","query_parameters":[{"name":"e","exact":"1"},{"name":"p","prefix":"x"},{"name":"r","regex":"^[0-9]+$"},{"name":"n","present":true}]},
		 "service":"web","regex_rewrite":{"pattern":"^/a/(.*)$","substitution":"/\\1"},"host_rewrite":"web.internal",
		 "upgrades":["websocket"],"idle_timeout":"30s",
		 "hash_policy":[{"header":"x-user","terminal":true},{"cookie":{"name":"s","ttl":"1h","path":"/a"}},{"source_ip":true}],
		 "retries":{"retry_on":"5xx","num_retries":1,"other_hosts":true},"response_headers_to_remove":["server"],
		 "policy":{"cors":{"allow_origins":[{"exact":"https://b.example.com"},{"regex":"^https://b.*$"}],"allow_methods":["POST"],
			"allow_headers":["x-e"],"expose_headers":["x-f"],"max_age":"2m","allow_credentials":true}}},
		{"match":{"prefix":"/"},"service":"web","auto_host_rewrite":true}]}]}`},
	{model.KindService, `{"protocol":"http","lb_policy":"maglev","circuit_breakers":{"max_connections":10,
		"retry_budget":{"budget_percent":25.5,"min_retry_concurrency":4}}}`},
}

// routingBadCases are the routing values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func routingBadCases() []badCase {
	route := func(fields string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web",` + fields + `}]}]}`
	}
	direct := func(fields string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":200},` + fields + `}]}]}`
	}
	query := func(q string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/","query_parameters":[` + q + `]},"service":"web"}]}]}`
	}
	cors := func(level int, c string) string {
		policy := `"policy":{"cors":{` + c + `}}`
		switch level {
		case 0:
			return `{` + policy + `,"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`
		case 1:
			return `{"virtual_hosts":[{"name":"v","domains":["*"],` + policy + `,"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`
		}
		return route(policy)
	}
	svc := func(cb string) string { return `{"protocol":"http","circuit_breakers":{` + cb + `}}` }
	const r = "virtual_hosts[*].routes[*]."
	rt := func(what, field, value string) badCase {
		return badCase{what: what, kind: model.KindRouteTable, field: namesFieldRE(field), value: []byte(value)}
	}
	return []badCase{
		rt("regex that does not compile", r+"regex_rewrite.pattern", route(`"regex_rewrite":{"pattern":"^/(a","substitution":"/"}`)),
		rt("substitution naming a missing group", r+"regex_rewrite.substitution", route(`"regex_rewrite":{"pattern":"^/a","substitution":"/\\1"}`)),
		rt("prefix and regex rewrites", r+"regex_rewrite", route(`"prefix_rewrite":"/b","regex_rewrite":{"pattern":"^/a","substitution":"/"}`)),
		rt("both host rewrites", r+"host_rewrite", route(`"host_rewrite":"a.internal","auto_host_rewrite":true`)),
		rt("host rewrite not a host", r+"host_rewrite", route(`"host_rewrite":"a/b"`)),
		rt("upgrade not a token", r+"upgrades[*]", route(`"upgrades":["web socket"]`)),
		rt("CONNECT as an upgrade", r+"upgrades[*]", route(`"upgrades":["CONNECT"]`)),
		rt("upgrade twice", r+"upgrades[*]", route(`"upgrades":["websocket","WEBSOCKET"]`)),
		rt("hash policy of two kinds", r+"hash_policy[*]", route(`"hash_policy":[{"header":"x","source_ip":true}]`)),
		rt("hash policy of no kind", r+"hash_policy[*]", route(`"hash_policy":[{"terminal":true}]`)),
		rt("hash header not a header", r+"hash_policy[*].header", route(`"hash_policy":[{"header":"a b"}]`)),
		rt("cookie name not a token", r+"hash_policy[*].cookie.name", route(`"hash_policy":[{"cookie":{"name":"a;b"}}]`)),
		rt("cookie path not a path", r+"hash_policy[*].cookie.path", route(`"hash_policy":[{"cookie":{"name":"a","path":"a"}}]`)),
		rt("cookie ttl in part seconds", r+"hash_policy[*].cookie.ttl", route(`"hash_policy":[{"cookie":{"name":"a","ttl":"1500ms"}}]`)),
		rt("pseudo-header removed", r+"response_headers_to_remove[*]", route(`"response_headers_to_remove":[":status"]`)),
		rt("upgrades on a direct response", r+"upgrades", direct(`"upgrades":["websocket"]`)),
		rt("regex rewrite on a direct response", r+"regex_rewrite", direct(`"regex_rewrite":{"pattern":"^/","substitution":"/"}`)),
		rt("host rewrite on a direct response", r+"host_rewrite", direct(`"host_rewrite":"a"`)),
		rt("auto host rewrite on a direct response", r+"auto_host_rewrite", direct(`"auto_host_rewrite":true`)),
		rt("idle timeout on a direct response", r+"idle_timeout", direct(`"idle_timeout":"1s"`)),
		rt("hash policy on a direct response", r+"hash_policy", direct(`"hash_policy":[{"source_ip":true}]`)),
		rt("query parameter of two matchers", r+"match.query_parameters[*]", query(`{"name":"a","exact":"1","present":true}`)),
		rt("query parameter name with '&'", r+"match.query_parameters[*].name", query(`{"name":"a&b","present":true}`)),
		rt("query regex that does not compile", r+"match.query_parameters[*].regex", query(`{"name":"a","regex":"(a"}`)),
		rt("no origin", "policy.cors.allow_origins", cors(0, `"allow_methods":["GET"]`)),
		rt("origin with a path", "virtual_hosts[*].policy.cors.allow_origins[*].exact", cors(1, `"allow_origins":[{"exact":"https://a.example.com/x"}]`)),
		rt("origin regex that does not compile", r+"policy.cors.allow_origins[*].regex", cors(2, `"allow_origins":[{"regex":"^https://(a"}]`)),
		rt("origin of two matchers", r+"policy.cors.allow_origins[*]", cors(2, `"allow_origins":[{"exact":"*","regex":"a"}]`)),
		rt("method not a token", "policy.cors.allow_methods[*]", cors(0, `"allow_origins":[{"exact":"*"}],"allow_methods":["G T"]`)),
		rt("pseudo-header allowed", "virtual_hosts[*].policy.cors.allow_headers[*]", cors(1, `"allow_origins":[{"exact":"*"}],"allow_headers":[":path"]`)),
		rt("exposed header twice", r+"policy.cors.expose_headers[*]", cors(2, `"allow_origins":[{"exact":"*"}],"expose_headers":["a","A"]`)),
		rt("max age in part seconds", r+"policy.cors.max_age", cors(2, `"allow_origins":[{"exact":"*"}],"max_age":"1500ms"`)),
		{what: "retry budget of 0%", kind: model.KindService, field: namesFieldRE("circuit_breakers.retry_budget.budget_percent"),
			value: []byte(svc(`"retry_budget":{"budget_percent":0}`))},
		{what: "retry budget of 101%", kind: model.KindService, field: namesFieldRE("circuit_breakers.retry_budget.budget_percent"),
			value: []byte(svc(`"retry_budget":{"budget_percent":101}`))},
		{what: "retry budget beside max_retries", kind: model.KindService, field: namesFieldRE("circuit_breakers.max_retries"),
			value: []byte(svc(`"max_retries":2,"retry_budget":{"budget_percent":20}`))},
		{what: "lb_policy misspelt", kind: model.KindService, field: regexp.MustCompile(`(^|; )field lb_policy: unknown policy "maglv"`),
			value: []byte(`{"protocol":"http","lb_policy":"maglv"}`)},
	}
}
