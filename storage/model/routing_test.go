package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// routingRoute is a table of one forwarding route with fields added.
func routingRoute(fields string) string {
	return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web",` + fields + `}]}]}`
}

// fieldErrors decodes json as kind and returns its errors as field: msg.
func fieldErrors(t *testing.T, ref model.Ref, json string) []string {
	t.Helper()
	_, err := model.Decode(ref, []byte(json))
	if err == nil {
		return nil
	}
	var fes model.FieldErrors
	if !errors.As(err, &fes) {
		t.Fatalf("%.100s: %v is not a FieldErrors", json, err)
	}
	var out []string
	for _, fe := range fes {
		out = append(out, fe.Field+": "+fe.Msg)
	}
	return out
}

// Every routing field accepts what it documents.
func TestRoutingAccepts(t *testing.T) {
	const r = `"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]`
	for _, c := range []struct {
		ref  model.Ref
		json string
	}{
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/v([0-9])/(.*)$","substitution":"/\\2?v=\\1\\\\"}`)},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/old","substitution":""}`)},
		{rt("r"), routingRoute(`"host_rewrite":"api.internal:8080"`)},
		{rt("r"), routingRoute(`"auto_host_rewrite":true`)},
		{rt("r"), routingRoute(`"upgrades":["websocket","spdy/3.1"],"idle_timeout":"5m"`)},
		{rt("r"), routingRoute(`"hash_policy":[{"header":"x-user","terminal":true},{"cookie":{"name":"s","ttl":"1h","path":"/"}},{"source_ip":true}]`)},
		{rt("r"), routingRoute(`"retries":{"retry_on":"5xx","other_hosts":true},"response_headers_to_remove":["server"]`)},
		{rt("r"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/","query_parameters":[
			{"name":"a","exact":"1"},{"name":"b","prefix":"x"},{"name":"c","regex":"^[0-9]+$"},{"name":"d","present":true}]},"service":"web"}]}]}`},
		{rt("r"), `{"policy":{"cors":{"allow_origins":[{"exact":"*"}]}},` + r + `}`},
		{rt("r"), `{"virtual_hosts":[{"name":"v","domains":["*"],"policy":{"cors":{"allow_origins":[{"exact":"https://a.example.com:8443"},{"regex":"^https://.*$"}],
			"allow_methods":["GET","POST"],"allow_headers":["content-type"],"expose_headers":["x-id"],"max_age":"1h","allow_credentials":true}},
			"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`},
		{svc("s"), `{"protocol":"http","lb_policy":"maglev","circuit_breakers":{"retry_budget":{"budget_percent":0.5,"min_retry_concurrency":10}}}`},
		{svc("s"), `{"protocol":"http","circuit_breakers":{"max_requests":5,"retry_budget":{"budget_percent":100}}}`},
	} {
		if errs := fieldErrors(t, c.ref, c.json); errs != nil {
			t.Errorf("%.120s: %v", c.json, errs)
		}
	}
}

// Each bad value is refused at its field, with what is wanted.
func TestRoutingRefuses(t *testing.T) {
	const p = "virtual_hosts[0].routes[0]"
	direct := func(fields string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":200},` + fields + `}]}]}`
	}
	query := func(q string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/","query_parameters":[` + q + `]},"service":"web"}]}]}`
	}
	cors := func(c string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"cors":{` + c + `}}}]}]}`
	}
	budget := func(b string) string { return `{"protocol":"http","circuit_breakers":{` + b + `}}` }
	for _, c := range []struct {
		ref        model.Ref
		json, want string
	}{
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"(a","substitution":"/"}`), p + ".regex_rewrite.pattern: regex does not compile: missing closing ): `(a`"},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"","substitution":"/"}`), p + ".regex_rewrite.pattern: required: a regex such as ^/v1/(.*)$"},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/(a)","substitution":"/\\2"}`), p + ".regex_rewrite.substitution: \\2 refers to a group the pattern does not have (it has 1)"},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/a","substitution":"/\\n"}`), p + ".regex_rewrite.substitution: \\n is not a group reference: want \\0 to \\9, or \\\\ for a backslash"},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/a","substitution":"/\\"}`), p + `.regex_rewrite.substitution: ends in a lone backslash: write \\ for a backslash`},
		{rt("r"), routingRoute(`"regex_rewrite":{"pattern":"^/a","substitution":"/\r"}`), p + ".regex_rewrite.substitution: must not contain CR, LF or NUL"},
		{rt("r"), routingRoute(`"prefix_rewrite":"/x","regex_rewrite":{"pattern":"^/a","substitution":"/"}`), p + ".regex_rewrite: set prefix_rewrite or regex_rewrite, not both"},
		{rt("r"), routingRoute(`"host_rewrite":"a.internal","auto_host_rewrite":true`), p + ".host_rewrite: set host_rewrite or auto_host_rewrite, not both"},
		{rt("r"), routingRoute(`"host_rewrite":"a b"`), p + `.host_rewrite: want a host such as api.internal or api.internal:8080, got "a b"`},
		{rt("r"), routingRoute(`"host_rewrite":"*.internal"`), p + `.host_rewrite: want a host such as api.internal or api.internal:8080, got "*.internal"`},
		{rt("r"), routingRoute(`"upgrades":["web socket"]`), p + `.upgrades[0]: "web socket" is not an upgrade protocol: want a token such as websocket, or name/version`},
		{rt("r"), routingRoute(`"upgrades":["connect"]`), p + ".upgrades[0]: CONNECT is a method, not an upgrade: Chancery does not proxy CONNECT"},
		{rt("r"), routingRoute(`"upgrades":["h2c"]`), p + ".upgrades[0]: h2c is not proxied as an upgrade: Envoy speaks HTTP/2 itself (use an http2 service)"},
		{rt("r"), routingRoute(`"upgrades":["websocket","WebSocket"]`), p + `.upgrades[1]: "WebSocket" is listed twice`},
		{rt("r"), routingRoute(`"idle_timeout":"48h"`), p + ".idle_timeout: must be at most 24h, got 48h"},
		{rt("r"), routingRoute(`"hash_policy":[{"header":"x","source_ip":true}]`), p + ".hash_policy[0]: exactly one of header, cookie, source_ip is required, got 2"},
		{rt("r"), routingRoute(`"hash_policy":[{"terminal":true}]`), p + ".hash_policy[0]: exactly one of header, cookie, source_ip is required, got 0"},
		{rt("r"), routingRoute(`"hash_policy":[{"header":"bad header"}]`), p + `.hash_policy[0].header: "bad header" is not a header name`},
		{rt("r"), routingRoute(`"hash_policy":[{"cookie":{"name":"a=b"}}]`), p + `.hash_policy[0].cookie.name: want a cookie name (a token such as session), got "a=b"`},
		{rt("r"), routingRoute(`"hash_policy":[{"cookie":{"name":"a","path":"x"}}]`), p + `.hash_policy[0].cookie.path: want a path such as /app, without ';', spaces or control characters, got "x"`},
		{rt("r"), routingRoute(`"hash_policy":[{"cookie":{"name":"a","ttl":"1500ms"}}]`), p + ".hash_policy[0].cookie.ttl: want whole seconds (a cookie's Max-Age is in seconds), got 1.5s"},
		{rt("r"), routingRoute(`"response_headers_to_remove":[":status"]`), p + `.response_headers_to_remove[0]: Envoy refuses to remove ":status": pseudo-headers and host may not be removed`},
		{rt("r"), routingRoute(`"response_headers_to_remove":["a b"]`), p + `.response_headers_to_remove[0]: "a b" is not a header name`},
		{rt("r"), direct(`"upgrades":["websocket"]`), p + ".upgrades: only routes that forward to a service take upgrades"},
		{rt("r"), direct(`"regex_rewrite":{"pattern":"^/","substitution":"/"}`), p + ".regex_rewrite: only routes that forward to a service take regex_rewrite"},
		{rt("r"), direct(`"host_rewrite":"a"`), p + ".host_rewrite: only routes that forward to a service take host_rewrite"},
		{rt("r"), direct(`"auto_host_rewrite":true`), p + ".auto_host_rewrite: only routes that forward to a service take auto_host_rewrite"},
		{rt("r"), direct(`"idle_timeout":"1s"`), p + ".idle_timeout: only routes that forward to a service take idle_timeout"},
		{rt("r"), direct(`"hash_policy":[{"source_ip":true}]`), p + ".hash_policy: only routes that forward to a service take hash_policy"},
		{rt("r"), query(`{"name":"","present":true}`), p + ".match.query_parameters[0].name: required"},
		{rt("r"), query(`{"name":"a=b","present":true}`), p + `.match.query_parameters[0].name: "a=b" is not a query parameter name: no '&', '=', '#', '?', spaces or control characters`},
		{rt("r"), query(`{"name":"a","exact":"1","prefix":"1"}`), p + ".match.query_parameters[0]: exactly one of exact, prefix, regex, present is required"},
		{rt("r"), query(`{"name":"a","regex":"[a"}`), p + ".match.query_parameters[0].regex: regex does not compile: missing closing ]: `[a`"},
		{rt("r"), query(`{"name":"a","exact":"1\n"}`), p + ".match.query_parameters[0].exact: must not contain CR, LF or NUL"},
		{rt("r"), cors(`"allow_origins":[]`), p + `.policy.cors.allow_origins: at least one origin is required: an exact origin such as "https://app.example.com", "*" or a regex`},
		{rt("r"), cors(`"allow_origins":[{"exact":"app.example.com"}]`), p + `.policy.cors.allow_origins[0].exact: want "*" or an origin such as https://app.example.com (scheme://host[:port]), got "app.example.com"`},
		{rt("r"), cors(`"allow_origins":[{"exact":"https://a","regex":"b"}]`), p + ".policy.cors.allow_origins[0]: exactly one of exact, regex is required"},
		{rt("r"), cors(`"allow_origins":[{"regex":"(x"}]`), p + ".policy.cors.allow_origins[0].regex: regex does not compile: missing closing ): `(x`"},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"allow_methods":["GET","get"]`), p + `.policy.cors.allow_methods[1]: "get" is listed twice`},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"allow_methods":["G T"]`), p + `.policy.cors.allow_methods[0]: "G T" is not an HTTP method`},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"allow_headers":[":path"]`), p + `.policy.cors.allow_headers[0]: ":path" is not a header name`},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"expose_headers":["a","A"]`), p + `.policy.cors.expose_headers[1]: "A" is listed twice`},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"max_age":"90500ms"`), p + ".policy.cors.max_age: want whole seconds (browsers count max-age in seconds), got 1m30.5s"},
		{rt("r"), cors(`"allow_origins":[{"exact":"*"}],"max_age":"25h"`), p + ".policy.cors.max_age: must be at most 24h, got 25h"},
		{svc("s"), budget(`"retry_budget":{"budget_percent":0}`), "circuit_breakers.retry_budget.budget_percent: want a percentage above 0 and at most 100, got 0"},
		{svc("s"), budget(`"retry_budget":{"budget_percent":100.5}`), "circuit_breakers.retry_budget.budget_percent: want a percentage above 0 and at most 100, got 100.5"},
		{svc("s"), budget(`"retry_budget":{"budget_percent":-1}`), "circuit_breakers.retry_budget.budget_percent: want a percentage above 0 and at most 100, got -1"},
		{svc("s"), budget(`"max_retries":3,"retry_budget":{"budget_percent":20}`), "circuit_breakers.max_retries: set max_retries or retry_budget, not both: Envoy ignores max_retries under a budget"},
		{svc("s"), budget(`"retry_budget":{"budget_percent":20,"min_retry_concurrency":10001}`), "circuit_breakers.retry_budget.min_retry_concurrency: must be at most 10000, got 10001"},
		{svc("s"), `{"protocol":"http","lb_policy":"maglev2"}`, `lb_policy: unknown policy "maglev2": want one of round_robin, least_request, ring_hash, random, maglev`},
	} {
		errs := fieldErrors(t, c.ref, c.json)
		if len(errs) != 1 || errs[0] != c.want {
			t.Errorf("%.120s:\n got %q\nwant [%q]", c.json, errs, c.want)
		}
	}
}

// A bad routing field of a route rejects that route only; a bad query
// parameter, part of the match, rejects its virtual host; a bad CORS rule
// rejects the level it is set at.
func TestRoutingErrorsRejectTheirPart(t *testing.T) {
	table := `{"virtual_hosts":[
		{"name":"a","domains":["a"],"routes":[{"match":{"prefix":"/x"},"service":"web","upgrades":["a b"]},{"match":{"prefix":"/"},"service":"web"}]},
		{"name":"b","domains":["b"],"routes":[{"match":{"prefix":"/","query_parameters":[{"name":"q"}]},"service":"web"}]},
		{"name":"c","domains":["c"],"policy":{"cors":{"allow_origins":[{"regex":"("}]}},"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`
	obj, err := model.Decode(rt("r"), []byte(table))
	if err == nil || obj == nil {
		t.Fatalf("want the table served in part with errors, got %v, %v", obj, err)
	}
	got := obj.(*model.RouteTable)
	vh := got.VirtualHosts
	switch {
	case vh[0].Err != nil || vh[0].Routes[0].Err == nil || vh[0].Routes[1].Err != nil:
		t.Errorf("virtual host a: %v, routes %v, %v; want only its first route rejected", vh[0].Err, vh[0].Routes[0].Err, vh[0].Routes[1].Err)
	case vh[1].Err == nil || !strings.Contains(vh[1].Err.Error(), "query_parameters[0]"):
		t.Errorf("virtual host b: %v, want it rejected for its query parameter", vh[1].Err)
	case vh[2].Err == nil || vh[2].LeftOut || !strings.Contains(vh[2].Err.Error(), "policy.cors.allow_origins[0].regex"):
		t.Errorf("virtual host c: %v (left out %v), want it answering 503 for its policy", vh[2].Err, vh[2].LeftOut)
	}
}
