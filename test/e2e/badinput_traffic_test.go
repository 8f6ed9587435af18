package e2e

import "github.com/chancery-xds/chancery/storage/model"

// trafficBases are valid objects holding every traffic field: TestBadInputTable
// spoils each field of each in every way it knows.
var trafficBases = []badInputBase{
	{model.KindRouteTable, `{"policy":{"rate_limit":{"requests":100,"per":"1s","burst":200},
		"fault":{"abort":{"status":503,"percent":0.5},"delay":{"duration":"10ms","percent":1}},
		"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true},{"request_header":{"header":"x-user","key":"user"}},{"generic":{"key":"tier","value":"free"}}]}]}},
		"virtual_hosts":[{"name":"all","domains":["*"],
		"policy":{"rate_limit":{"requests":10,"per":"1m","burst":20},
			"fault":{"abort":{"grpc_status":14,"percent":0.5},"delay":{"duration":"10ms","percent":1}},
			"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true},{"request_header":{"header":"x-user","key":"user"}},{"generic":{"key":"tier","value":"free"}}]}]}},
		"routes":[{"match":{"prefix":"/"},"service":"web","mirror":{"service":"web","percent":10},
			"policy":{"rate_limit":{"requests":1,"per":"1h","burst":2},
			"fault":{"abort":{"status":500,"percent":0.5},"delay":{"duration":"10ms","percent":1}},
			"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true},{"request_header":{"header":"x-user","key":"user"}},{"generic":{"key":"tier","value":"free"}}]}]}}}]}]}`},
	// The other kind of abort at each level.
	{model.KindRouteTable, `{"policy":{"fault":{"abort":{"grpc_status":8}}},"virtual_hosts":[{"name":"all","domains":["*"],
		"policy":{"fault":{"abort":{"status":429}}},
		"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"fault":{"abort":{"grpc_status":4}}}}]}]}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18271,"protocol":"http","route_table":"web","groups":["bad-input"],
		"rate_limit":{"requests":1000,"per":"1s","burst":2000},
		"rate_limit_service":{"service":"web","domain":"edge","timeout":"50ms","failure_mode_deny":true}}`},
}

// trafficBadCases are the traffic values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func trafficBadCases() []badCase {
	table := func(route string) []byte {
		return []byte(`{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},` + route + `}]}]}`)
	}
	fault := func(f string) []byte { return table(`"service":"web","policy":{"fault":` + f + `}`) }
	lis := func(fields string) []byte {
		return []byte(`{"address":"127.0.0.1","port":18272,"protocol":"http","route_table":"web","groups":["bad-input"],` + fields + `}`)
	}
	const r = "virtual_hosts[0].routes[0]."
	rt := model.KindRouteTable
	return []badCase{
		{"percent 0", rt, fault(`{"abort":{"status":503,"percent":0}}`), namesFieldRE(r + "policy.fault.abort.percent")},
		{"percent 101", rt, fault(`{"delay":{"duration":"1s","percent":101}}`), namesFieldRE(r + "policy.fault.delay.percent")},
		{"percent -1", rt, table(`"service":"web","mirror":{"service":"web","percent":-1}`), namesFieldRE(r + "mirror.percent")},
		{"too fine a percent", rt, fault(`{"abort":{"status":503,"percent":0.00001}}`), namesFieldRE(r + "policy.fault.abort.percent")},
		{"status and grpc_status", rt, fault(`{"abort":{"status":503,"grpc_status":14}}`), namesFieldRE(r + "policy.fault.abort")},
		{"no status", rt, fault(`{"abort":{"percent":5}}`), namesFieldRE(r + "policy.fault.abort")},
		{"empty fault", rt, fault(`{}`), namesFieldRE(r + "policy.fault")},
		{"delay without duration", rt, fault(`{"delay":{"percent":5}}`), namesFieldRE(r + "policy.fault.delay.duration")},
		{"fill interval under 50ms", rt, table(`"service":"web","policy":{"rate_limit":{"requests":1,"per":"49ms"}}`), namesFieldRE(r + "policy.rate_limit.per")},
		{"no tokens", rt, table(`"service":"web","policy":{"rate_limit":{"requests":0,"per":"1s"}}`), namesFieldRE(r + "policy.rate_limit.requests")},
		{"bucket without per", rt, table(`"service":"web","policy":{"rate_limit":{"requests":1}}`), namesFieldRE(r + "policy.rate_limit.per")},
		{"mirror on a direct response", rt, table(`"direct_response":{"status":200},"mirror":{"service":"web"}`), namesFieldRE(r + "mirror")},
		{"mirror to a missing service", rt, table(`"service":"web","mirror":{"service":"no-such-service"}`), namesFieldRE(r + "mirror.service")},
		{"mirror service name", rt, table(`"service":"web","mirror":{"service":"not a name"}`), namesFieldRE(r + "mirror.service")},
		{"global rate limit on a direct response", rt, table(`"direct_response":{"status":200},"policy":{"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true}]}]}}`),
			namesFieldRE(r + "policy.global_rate_limit")},
		{"entry of no kind", rt, table(`"service":"web","policy":{"global_rate_limit":{"descriptors":[{"entries":[{}]}]}}`),
			namesFieldRE(r + "policy.global_rate_limit.descriptors[0].entries[0]")},
		{"entry header name", rt, table(`"service":"web","policy":{"global_rate_limit":{"descriptors":[{"entries":[{"request_header":{"header":"a b","key":"k"}}]}]}}`),
			namesFieldRE(r + "policy.global_rate_limit.descriptors[0].entries[0].request_header.header")},
		{"listener fill interval", model.KindListener, lis(`"rate_limit":{"requests":5,"per":"10ms"}`), namesFieldRE("rate_limit.per")},
		{"rate-limit service without domain", model.KindListener, lis(`"rate_limit_service":{"service":"web"}`), namesFieldRE("rate_limit_service.domain")},
		{"missing rate-limit service, failing closed", model.KindListener, lis(`"rate_limit_service":{"service":"no-such-service","domain":"d","failure_mode_deny":true}`),
			namesFieldRE("rate_limit_service.service")},
		{"rate-limit service on tcp", model.KindListener,
			[]byte(`{"address":"127.0.0.1","port":18273,"protocol":"tcp","service":"web","groups":["bad-input"],"rate_limit_service":{"service":"web","domain":"d"}}`),
			namesFieldRE("rate_limit_service")},
	}
}
