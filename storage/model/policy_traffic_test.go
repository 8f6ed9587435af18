package model_test

import (
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// trafficTable is a route table with one forwarding route; vh and route
// are extra members of the virtual host and of the route.
func trafficTable(table, vh, route string) string {
	if table != "" {
		table += ","
	}
	if vh != "" {
		vh += ","
	}
	if route != "" {
		route = "," + route
	}
	return `{` + table + `"virtual_hosts":[{"name":"v","domains":["*"],` + vh + `"routes":[{"match":{"prefix":"/"},"service":"web"` + route + `}]}]}`
}

func trafficListener(fields string) string {
	return `{"address":"127.0.0.1","port":8080,"protocol":"http","route_table":"web","groups":["edge"],` + fields + `}`
}

// Each bad traffic value is refused at its field, with a message that says
// what is wanted; the good ones are accepted.
func TestTrafficValidation(t *testing.T) {
	const r = "virtual_hosts[0].routes[0]."
	cases := []struct {
		ref        model.Ref
		json       string
		field, msg string // "" for a valid object
	}{
		{rt("t"), trafficTable(`"policy":{"rate_limit":{"requests":100,"per":"1s","burst":200},"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true}]}]}}`, "", ""), "", ""},
		{rt("t"), trafficTable("", `"policy":{"fault":{"abort":{"status":503,"percent":50},"delay":{"duration":"300ms","percent":0.0001}}}`, ""), "", ""},
		{rt("t"), trafficTable("", "", `"mirror":{"service":"shadow","percent":12.5},"policy":{"fault":{"abort":{"grpc_status":14}}}`), "", ""},
		{rt("t"), trafficTable("", "", `"policy":{"global_rate_limit":{"descriptors":[{"entries":[{"request_header":{"header":":path","key":"path"}},{"generic":{"value":"v"}}]}]}}`), "", ""},
		{lis("l"), trafficListener(`"rate_limit":{"requests":10,"per":"1m"},"rate_limit_service":{"service":"rls","domain":"edge","timeout":"50ms","failure_mode_deny":true}`), "", ""},
		{lis("l"), `{"address":"127.0.0.1","port":8080,"protocol":"tcp","service":"db","groups":["edge"],"rate_limit":{"requests":10,"per":"1s"}}`, "", ""},

		{rt("t"), trafficTable(`"policy":{"rate_limit":{"requests":0,"per":"1s"}}`, "", ""), "policy.rate_limit.requests", "required"},
		{rt("t"), trafficTable("", `"policy":{"rate_limit":{"requests":1}}`, ""), "virtual_hosts[0].policy.rate_limit.per", "required"},
		{rt("t"), trafficTable("", "", `"policy":{"rate_limit":{"requests":1,"per":"49ms"}}`), r + "policy.rate_limit.per", "must be at least 50ms, got 49ms: Envoy refuses"},
		{rt("t"), trafficTable("", "", `"policy":{"rate_limit":{"requests":1,"per":"25h"}}`), r + "policy.rate_limit.per", "must be at most 24h"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{}}`), r + "policy.fault", "at least one of abort, delay"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"abort":{"status":503,"percent":0}}}`), r + "policy.fault.abort.percent", "want a percentage, more than 0 and at most 100, got 0"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"abort":{"status":503,"percent":101}}}`), r + "policy.fault.abort.percent", "want a percentage"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"delay":{"duration":"1s","percent":-1}}}`), r + "policy.fault.delay.percent", "want a percentage"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"delay":{"duration":"1s","percent":0.00001}}}`), r + "policy.fault.delay.percent", "below the least share"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"abort":{"status":700}}}`), r + "policy.fault.abort.status", "must be 200-599, got 700"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"abort":{"status":503,"grpc_status":14}}}`), r + "policy.fault.abort", "exactly one of status, grpc_status"},
		{rt("t"), trafficTable("", "", `"policy":{"fault":{"delay":{"percent":50}}}`), r + "policy.fault.delay.duration", "required"},
		{rt("t"), trafficTable("", "", `"policy":{"global_rate_limit":{"descriptors":[]}}`), r + "policy.global_rate_limit.descriptors", "at least one descriptor"},
		{rt("t"), trafficTable("", "", `"policy":{"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true,"generic":{"value":"v"}}]}]}}`),
			r + "policy.global_rate_limit.descriptors[0].entries[0]", "exactly one of request_header, remote_address, generic is required, got 2"},
		{rt("t"), trafficTable("", "", `"policy":{"global_rate_limit":{"descriptors":[{"entries":[{"request_header":{"header":"a b","key":"k"}}]}]}}`),
			r + "policy.global_rate_limit.descriptors[0].entries[0].request_header.header", "is not a header name"},
		{rt("t"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":200},"policy":{"global_rate_limit":{"descriptors":[{"entries":[{"remote_address":true}]}]}}}]}]}`,
			r + "policy.global_rate_limit", "only routes that forward"},
		{rt("t"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":200},"mirror":{"service":"shadow"}}]}]}`,
			r + "mirror", "only routes that forward to a service take mirror"},
		{rt("t"), trafficTable("", "", `"mirror":{"service":"bad name"}`), r + "mirror.service", "is not a valid service name"},
		{rt("t"), trafficTable("", "", `"mirror":{"service":"shadow","percent":100.5}`), r + "mirror.percent", "want a percentage"},
		{rt("t"), trafficTable("", "", `"mirror":{}`), r + "mirror.service", "required"},
		{lis("l"), trafficListener(`"rate_limit_service":{"service":"rls"}`), "rate_limit_service.domain", "required"},
		{lis("l"), trafficListener(`"rate_limit":{"requests":5,"per":"10ms"}`), "rate_limit.per", "must be at least 50ms"},
		{lis("l"), `{"address":"127.0.0.1","port":8080,"protocol":"tcp","service":"db","groups":["edge"],"rate_limit_service":{"service":"rls","domain":"d"}}`,
			"rate_limit_service", "is for http and https listeners"},
	}
	for _, c := range cases {
		_, err := model.Decode(c.ref, []byte(c.json))
		if c.field == "" {
			if err != nil {
				t.Errorf("%.120s: %v", c.json, err)
			}
			continue
		}
		want := "field " + c.field + ": " + c.msg
		if err == nil || !strings.Contains(err.Error(), "field "+c.field+": ") || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%.160s:\n got %v\nwant %s", c.json, err, want)
		}
	}
}

// A share is sent to Envoy in millionths, rounded: unset is everything.
func TestPercentMillionths(t *testing.T) {
	f := func(p float64) *float64 { return &p }
	for _, c := range []struct {
		p    *float64
		want uint32
	}{{nil, 1_000_000}, {f(100), 1_000_000}, {f(50), 500_000}, {f(12.5), 125_000}, {f(0.0001), 1}, {f(33.33333), 333_333}} {
		if got := model.PercentMillionths(c.p); got != c.want {
			t.Errorf("PercentMillionths(%v) = %d, want %d", c.p, got, c.want)
		}
	}
}

// The route table memo looks up mirror services too: their availability
// changes the table's translation.
func TestServicesIncludeMirrors(t *testing.T) {
	obj, err := model.Decode(rt("t"), []byte(trafficTable("", "", `"mirror":{"service":"shadow"}`)))
	if err != nil {
		t.Fatal(err)
	}
	got := obj.(*model.RouteTable).Services()
	if strings.Join(got, ",") != "web,shadow" {
		t.Errorf("Services() = %v, want [web shadow]", got)
	}
	if names := obj.(*model.RouteTable).VirtualHosts[0].Routes[0].ServiceNames(); len(names) != 1 {
		t.Errorf("ServiceNames() = %v: a mirror is not where the route forwards", names)
	}
}
