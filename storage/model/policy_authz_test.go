package model_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// authzTable is a route table whose one route has the authorization a.
func authzTable(a string) string {
	return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"authorization":` + a + `}}]}]}`
}

// Each authorization problem is reported at its field with what is wanted.
func TestAuthzMessages(t *testing.T) {
	const r = "field virtual_hosts[0].routes[0].policy.authorization."
	tcp := func(a string) string {
		return `{"port":9000,"protocol":"tcp","service":"db","groups":["edge"],` + a + `}`
	}
	http := func(a string) string {
		return `{"port":9000,"protocol":"http","route_table":"web","groups":["edge"],` + a + `}`
	}
	cases := []struct {
		ref        model.Ref
		json, want string
	}{
		{rt("r"), authzTable(`{"deny":[{"source_cidrs":["10.0.0.1/8"]}]}`), r + `deny[0].source_cidrs[0]: "10.0.0.1/8" has host bits set: write 10.0.0.0/8`},
		{rt("r"), authzTable(`{"deny":[{"source_cidrs":["10.0.0.1"]}]}`), r + `deny[0].source_cidrs[0]: want a CIDR such as 10.0.0.0/8, got "10.0.0.1" (one address is 10.0.0.1/32)`},
		{rt("r"), authzTable(`{"deny":[{"source_cidrs":["10.0.0.0/33"]}]}`), r + `deny[0].source_cidrs[0]: want a CIDR such as 10.0.0.0/8, got "10.0.0.0/33"`},
		{rt("r"), authzTable(`{"allow":[{"source_cidrs":["fd00::1/8"]}]}`), r + `allow[0].source_cidrs[0]: "fd00::1/8" has host bits set: write fd00::/8`},
		{rt("r"), authzTable(`{"allow":[{}]}`), r + "allow[0]: a rule needs at least one of source_cidrs, methods, paths, headers, principals " +
			"(a rule of none would match every request: to refuse every request write allow: [], to let every request through leave the rule out)"},
		{rt("r"), authzTable(`{"deny":[{"methods":["get"]}]}`), r + `deny[0].methods[0]: unknown method "get": want one of GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH`},
		{rt("r"), authzTable(`{"deny":[{"paths":[{"regex":"(a"}]}]}`), r + "deny[0].paths[0].regex: regex does not compile: missing closing ): `(a`"},
		{rt("r"), authzTable(`{"deny":[{"paths":[{"prefix":"a"}]}]}`), r + `deny[0].paths[0].prefix: must start with '/', got "a"`},
		{rt("r"), authzTable(`{"deny":[{"paths":[{"prefix":"/a","exact":"/b"}]}]}`), r + "deny[0].paths[0]: exactly one of exact, prefix, regex is required"},
		{rt("r"), authzTable(`{"deny":[{"headers":[{"name":"x y","present":true}]}]}`), r + `deny[0].headers[0].name: "x y" is not a header name`},
		{rt("r"), authzTable(`{"deny":[{"principals":[""]}]}`), r + "deny[0].principals[0]: must not be empty: want a subject alternative name such as spiffe://corp/alice"},
		{rt("r"), authzTable(`{"deny":[{"principals":["spiffe://corp/a"],"methods":["GET"]}],"allow":[]}`), ""},
		{rt("r"), authzTable(`{}`), ""},
		{lis("l"), http(`"authorization":{"deny_cidrs":["10.0.0.0/8"]}`), "field authorization: is for tcp listeners: an http listener's requests are authorized by its route table's policy.authorization"},
		{lis("l"), tcp(`"authorization":{}`), "field authorization: give deny_cidrs, allow_cidrs or both (to admit every connection leave authorization out)"},
		{lis("l"), tcp(`"authorization":{"allow_cidrs":["127.0.0.1/8"]}`), `field authorization.allow_cidrs[0]: "127.0.0.1/8" has host bits set: write 127.0.0.0/8`},
		{lis("l"), tcp(`"authorization":{"allow_cidrs":["127.0.0.0/8"],"deny_cidrs":["127.0.0.2/32"]}`), ""},
		{lis("l"), tcp(`"ext_authz":{"service":"a","protocol":"grpc"}`), "field ext_authz: is for http and https listeners: a tcp listener admits connections by authorization"},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"thrift"}`), `field ext_authz.protocol: unknown protocol "thrift": want grpc or http`},
		{lis("l"), http(`"ext_authz":{"protocol":"http"}`), "field ext_authz.service: required: the authorization service"},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"grpc","path_prefix":"/x"}`), "field ext_authz.path_prefix: only the http protocol takes a path prefix"},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"http","path_prefix":"x"}`), `field ext_authz.path_prefix: must start with '/', got "x"`},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"http","timeout":"soon"}`), `field ext_authz.timeout: want a duration such as "250ms" or "5s", got "soon"`},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"http","timeout":"2m"}`), "field ext_authz.timeout: must be at most 1m, got 2m"},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"http","headers_to_authorize":["x:y"]}`), `field ext_authz.headers_to_authorize[0]: "x:y" is not a header name`},
		{lis("l"), http(`"ext_authz":{"service":"a","protocol":"http","timeout":"1s","failure_mode_allow":true,"path_prefix":"/check","headers_to_authorize":["x-allow"]}`), ""},
	}
	for _, c := range cases {
		_, err := model.Decode(c.ref, []byte(c.json))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.json, err)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("%s:\n got %v\nwant %s", c.json, err, c.want)
		}
	}
}

// An error in a route's authorization rejects that route only; in a
// virtual host's, that host; in the table's, the table.
func TestAuthzErrorsRejectTheirLevel(t *testing.T) {
	bad := `{"authorization":{"deny":[{}]}}`
	other := `{"name":"w","domains":["w.example.com"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}` // keeps serving
	route := `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","policy":` + bad + `}]},` + other + `]}`
	obj, err := model.Decode(rt("r"), []byte(route))
	if err == nil || obj == nil || obj.(*model.RouteTable).VirtualHosts[0].Routes[0].Err == nil {
		t.Errorf("route level: %v, %v: want the table kept with the route rejected", obj, err)
	}
	vh := `{"virtual_hosts":[{"name":"v","domains":["*"],"policy":` + bad + `,"routes":[{"match":{"prefix":"/"},"service":"web"}]},` + other + `]}`
	obj, err = model.Decode(rt("r"), []byte(vh))
	if err == nil || obj == nil || obj.(*model.RouteTable).VirtualHosts[0].Err == nil || obj.(*model.RouteTable).VirtualHosts[0].LeftOut {
		t.Errorf("virtual host level: %v, %v: want the host kept, answering 503", obj, err)
	}
	table := `{"policy":` + bad + `,"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`
	if obj, err = model.Decode(rt("r"), []byte(table)); err == nil || obj != nil {
		t.Errorf("table level: %v, %v: want the table rejected", obj, err)
	}
}

// allow: [] (refuse every request) survives a round trip through JSON,
// distinct from allow left out (admit every request not denied).
func TestAuthzEmptyAllowRoundTrips(t *testing.T) {
	for _, c := range []struct {
		in      string
		present bool
	}{{`{"allow":[]}`, true}, {`{}`, false}, {`{"allow":null}`, false}} {
		obj, err := model.Decode(rt("r"), []byte(authzTable(c.in)))
		if err != nil {
			t.Fatal(err)
		}
		out, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		again, err := model.Decode(rt("r"), out)
		if err != nil {
			t.Fatal(err)
		}
		a := again.(*model.RouteTable).VirtualHosts[0].Routes[0].Policy.Authorization
		if rules, ok := a.AllowRules(); ok != c.present || len(rules) != 0 {
			t.Errorf("%s: after a round trip (%s) allow present %v with %d rules, want present %v", c.in, out, ok, len(rules), c.present)
		}
		if c.present != strings.Contains(string(out), `"allow":[]`) {
			t.Errorf("%s: marshalled as %s", c.in, out)
		}
	}
}
