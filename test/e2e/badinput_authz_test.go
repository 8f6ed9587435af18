package e2e

import (
	"strings"

	"github.com/chancery-xds/chancery/storage/model"
)

// authzRule is a rule holding every condition and every kind of path and
// header match.
const authzRule = `{"source_cidrs":["10.0.0.0/8"],"methods":["GET"],"paths":[{"exact":"/e"},{"prefix":"/p/"},{"regex":"/r.*"}],
	"headers":[{"name":"x-e","exact":"1"},{"name":"x-p","prefix":"p"},{"name":"x-r","regex":"r+"},{"name":"x-n","present":true,"invert":true}],
	"principals":["spiffe://corp/alice"]}`

// authzPolicy is a policy with deny and allow lists of authzRule, and ext_authz.
var authzPolicy = `{"authorization":{"deny":[` + authzRule + `],"allow":[` + authzRule + `]},"ext_authz":{"disabled":true}}`

// authzBases are valid objects holding every authz field: TestBadInputTable
// spoils each field of each in every way it knows.
var authzBases = []badInputBase{
	{model.KindRouteTable, `{"policy":` + authzPolicy + `,"virtual_hosts":[{"name":"all","domains":["*"],"policy":` + authzPolicy + `,
		"routes":[{"match":{"prefix":"/"},"service":"web","policy":` + authzPolicy + `}]}]}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18121,"protocol":"tcp","service":"web","groups":["bad-input"],
		"authorization":{"deny_cidrs":["10.1.0.0/16"],"allow_cidrs":["127.0.0.0/8","10.0.0.0/8"]}}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18122,"protocol":"http","route_table":"web","groups":["bad-input"],
		"ext_authz":{"service":"web","protocol":"http","timeout":"1s","failure_mode_allow":true,"path_prefix":"/check","headers_to_authorize":["x-allow"]}}`},
}

// authzBadCases are the authz values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func authzBadCases() []badCase {
	table := func(a string) []byte {
		return []byte(`{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"authorization":` + a + `}}]}]}`)
	}
	const r = "virtual_hosts[0].routes[0].policy.authorization."
	tcp := func(a string) []byte {
		return []byte(`{"address":"127.0.0.1","port":18123,"protocol":"tcp","service":"web","groups":["bad-input"],` + a + `}`)
	}
	http := func(a string) []byte {
		return []byte(`{"address":"127.0.0.1","port":18124,"protocol":"http","route_table":"web","groups":["bad-input"],` + a + `}`)
	}
	rt, lis := model.KindRouteTable, model.KindListener
	cases := []badCase{
		{"a CIDR with host bits", rt, table(`{"deny":[{"source_cidrs":["10.0.0.1/8"]}]}`), namesFieldRE(r + "deny[0].source_cidrs[0]")},
		{"an address, not a CIDR", rt, table(`{"allow":[{"source_cidrs":["10.0.0.1"]}]}`), namesFieldRE(r + "allow[0].source_cidrs[0]")},
		{"a prefix too long", rt, table(`{"allow":[{"source_cidrs":["::/129"]}]}`), namesFieldRE(r + "allow[0].source_cidrs[0]")},
		{"a rule of no condition", rt, table(`{"deny":[{}]}`), namesFieldRE(r + "deny[0]")},
		{"an unknown method", rt, table(`{"deny":[{"methods":["FETCH"]}]}`), namesFieldRE(r + "deny[0].methods[0]")},
		{"a regex that does not compile", rt, table(`{"deny":[{"paths":[{"regex":"(a"}]}]}`), namesFieldRE(r + "deny[0].paths[0].regex")},
		{"a path without /", rt, table(`{"deny":[{"paths":[{"exact":"a"}]}]}`), namesFieldRE(r + "deny[0].paths[0].exact")},
		{"a path of two matches", rt, table(`{"deny":[{"paths":[{"exact":"/a","prefix":"/"}]}]}`), namesFieldRE(r + "deny[0].paths[0]")},
		{"a path of no match", rt, table(`{"deny":[{"paths":[{}]}]}`), namesFieldRE(r + "deny[0].paths[0]")},
		{"a header regex that does not compile", rt, table(`{"deny":[{"headers":[{"name":"x","regex":"[a"}]}]}`), namesFieldRE(r + "deny[0].headers[0].regex")},
		{"a bad header name", rt, table(`{"deny":[{"headers":[{"name":"a b","present":true}]}]}`), namesFieldRE(r + "deny[0].headers[0].name")},
		{"a header of no match", rt, table(`{"deny":[{"headers":[{"name":"x"}]}]}`), namesFieldRE(r + "deny[0].headers[0]")},
		{"an empty principal", rt, table(`{"allow":[{"principals":[""]}]}`), namesFieldRE(r + "allow[0].principals[0]")},
		{"a principal with a newline", rt, table(`{"allow":[{"principals":["a\nb"]}]}`), namesFieldRE(r + "allow[0].principals[0]")},
		{"authorization on an http listener", lis, http(`"authorization":{"deny_cidrs":["10.0.0.0/8"]}`), namesFieldRE("authorization")},
		{"authorization of no list", lis, tcp(`"authorization":{}`), namesFieldRE("authorization")},
		{"a listener CIDR with host bits", lis, tcp(`"authorization":{"deny_cidrs":["10.0.0.1/8"]}`), namesFieldRE("authorization.deny_cidrs[0]")},
		{"a listener CIDR that is not one", lis, tcp(`"authorization":{"allow_cidrs":["localhost"]}`), namesFieldRE("authorization.allow_cidrs[0]")},
		{"ext_authz on a tcp listener", lis, tcp(`"ext_authz":{"service":"web","protocol":"http"}`), namesFieldRE("ext_authz")},
		{"ext_authz of an unknown protocol", lis, http(`"ext_authz":{"service":"web","protocol":"thrift"}`), namesFieldRE("ext_authz.protocol")},
		{"ext_authz without a protocol", lis, http(`"ext_authz":{"service":"web"}`), namesFieldRE("ext_authz.protocol")},
		{"ext_authz without a service", lis, http(`"ext_authz":{"protocol":"http"}`), namesFieldRE("ext_authz.service")},
		{"ext_authz to a bad service name", lis, http(`"ext_authz":{"service":"Web!","protocol":"http"}`), namesFieldRE("ext_authz.service")},
		{"ext_authz to a missing service", lis, http(`"ext_authz":{"service":"nowhere","protocol":"http"}`), namesFieldRE("ext_authz.service")},
		{"ext_authz grpc to an HTTP/1 service", lis, http(`"ext_authz":{"service":"web","protocol":"grpc"}`), namesFieldRE("ext_authz.service")},
		{"a path prefix for grpc", lis, http(`"ext_authz":{"service":"web","protocol":"grpc","path_prefix":"/c"}`), namesFieldRE("ext_authz.path_prefix")},
		{"a path prefix without /", lis, http(`"ext_authz":{"service":"web","protocol":"http","path_prefix":"c"}`), namesFieldRE("ext_authz.path_prefix")},
		{"a timeout that is not one", lis, http(`"ext_authz":{"service":"web","protocol":"http","timeout":"1 second"}`), namesFieldRE("ext_authz.timeout")},
		{"a negative timeout", lis, http(`"ext_authz":{"service":"web","protocol":"http","timeout":"-1s"}`), namesFieldRE("ext_authz.timeout")},
		{"a bad header to authorize", lis, http(`"ext_authz":{"service":"web","protocol":"http","headers_to_authorize":["a:b"]}`), namesFieldRE("ext_authz.headers_to_authorize[0]")},
	}
	for i := range cases {
		cases[i].what = "authz: " + strings.TrimSpace(cases[i].what)
	}
	return cases
}
