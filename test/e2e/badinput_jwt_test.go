package e2e

import (
	"fmt"
	"strconv"

	"github.com/chancery-xds/chancery/storage/model"
)

// jwtTestJWKS is a JWKS of one P-256 public key.
const jwtTestJWKS = `{"keys":[{"kty":"EC","kid":"e1","alg":"ES256","use":"sig","crv":"P-256","x":"q99zNt2nv19sDRJSRwp9PPmM4I-Rw4B86Ifn0AnXdeQ","y":"QO8b3H-f7HY-brsoF483CnTsA1onPcaJvdjX-o9A3cY"}]}`

// jwtBaseProvider is the name TestBadInputTable writes the first of
// jwtBases under (base-<index in allBases>), which the route table bases
// require: jwtBases follow badInputBases and authzBases there.
var jwtBaseProvider = fmt.Sprintf("base-%d", len(badInputBases)+len(authzBases))

// jwtBases are valid objects holding every jwt field: TestBadInputTable
// spoils each field of each in every way it knows. A requirement names a
// provider or is disabled, so two tables hold both at every level.
var jwtBases = []badInputBase{
	{model.KindJWTProvider, `{"issuer":"https://auth.example.com","audiences":["web","api"],"jwks":` + jsonQuote(jwtTestJWKS) + `,
		"claims_to_headers":[{"claim":"sub","header":"x-jwt-sub"},{"claim":"realm.role","header":"x-jwt-role"}],"forward":true,
		"from_headers":[{"name":"x-token","value_prefix":"Bearer "}],"from_params":["access_token"],"clock_skew":"30s"}`},
	{model.KindJWTProvider, `{"issuer":"https://remote.example.com","remote_jwks":{"service":"web","path":"/.well-known/jwks.json","cache_duration":"5m","timeout":"2s"}}`},
	{model.KindRouteTable, jwtTable(`{"provider":"`+jwtBaseProvider+`"}`, `{"disabled":true}`, `{"provider":"`+jwtBaseProvider+`"}`)},
	{model.KindRouteTable, jwtTable(`{"disabled":true}`, `{"provider":"`+jwtBaseProvider+`"}`, `{"disabled":true}`)},
}

// jwtTable is a route table with a jwt requirement at each level.
func jwtTable(table, vhost, route string) string {
	return `{"policy":{"jwt":` + table + `},"virtual_hosts":[{"name":"all","domains":["*"],"policy":{"jwt":` + vhost + `},
		"routes":[{"match":{"prefix":"/"},"service":"web","policy":{"jwt":` + route + `}}]}]}`
}

// jsonQuote is s as a JSON string: for ASCII text, Go's quoting is JSON's.
func jsonQuote(s string) string { return strconv.Quote(s) }

// jwtBadCases are the jwt values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func jwtBadCases() []badCase {
	provider := func(fields string) []byte {
		return []byte(`{"issuer":"https://auth.example.com","jwks":` + jsonQuote(jwtTestJWKS) + fields + `}`)
	}
	jwks := func(set string) []byte {
		return []byte(`{"issuer":"https://auth.example.com","jwks":` + jsonQuote(set) + `}`)
	}
	route := func(jwt string) []byte { return []byte(jwtTable(`{"disabled":true}`, `{"disabled":true}`, jwt)) }
	jp, rt := model.KindJWTProvider, model.KindRouteTable
	return []badCase{
		{"a JWKS that does not parse", jp, jwks(`{"keys":[{"kty":"EC",`), namesFieldRE("jwks")},
		{"a JWKS without keys", jp, jwks(`{"keys":[]}`), namesFieldRE("jwks")},
		{"a JWKS with a private key", jp, jwks(`{"keys":[{"kty":"EC","crv":"P-256","x":"q99zNt2nv19sDRJSRwp9PPmM4I-Rw4B86Ifn0AnXdeQ","y":"QO8b3H-f7HY-brsoF483CnTsA1onPcaJvdjX-o9A3cY","d":"c2VjcmV0"}]}`), namesFieldRE("jwks")},
		{"a JWKS with a shared secret", jp, jwks(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`), namesFieldRE("jwks")},
		{"a point off the curve", jp, jwks(`{"keys":[{"kty":"EC","crv":"P-256","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"QO8b3H-f7HY-brsoF483CnTsA1onPcaJvdjX-o9A3cY"}]}`), namesFieldRE("jwks")},
		{"both JWKS sources", jp, provider(`,"remote_jwks":{"service":"web","path":"/jwks"}`), namesFieldRE("jwks")},
		{"no JWKS", jp, []byte(`{"issuer":"https://auth.example.com"}`), namesFieldRE("jwks")},
		{"an issuer with a newline", jp, []byte(`{"issuer":"a\nb","jwks":` + jsonQuote(jwtTestJWKS) + `}`), namesFieldRE("issuer")},
		{"an unknown claim syntax", jp, provider(`,"claims_to_headers":[{"claim":"realm..role","header":"x-role"}]`), namesFieldRE("claims_to_headers[*].claim")},
		{"a claim to a pseudo-header", jp, provider(`,"claims_to_headers":[{"claim":"sub","header":":path"}]`), namesFieldRE("claims_to_headers[*].header")},
		{"a claim header twice", jp, provider(`,"claims_to_headers":[{"claim":"a","header":"x-a"},{"claim":"b","header":"x-a"}]`), namesFieldRE("claims_to_headers[*].header")},
		{"a token header that is no header", jp, provider(`,"from_headers":[{"name":"x token"}]`), namesFieldRE("from_headers[*].name")},
		{"a query parameter that is none", jp, provider(`,"from_params":["a&b"]`), namesFieldRE("from_params[*]")},
		{"a clock skew in part seconds", jp, provider(`,"clock_skew":"1500ms"`), namesFieldRE("clock_skew")},
		{"a JWKS path without /", jp, []byte(`{"issuer":"i","remote_jwks":{"service":"web","path":"jwks"}}`), namesFieldRE("remote_jwks.path")},
		{"a JWKS service that does not exist", jp, []byte(`{"issuer":"i","remote_jwks":{"service":"absent","path":"/jwks"}}`), namesFieldRE("remote_jwks.service")},
		{"a route requiring a missing provider", rt, route(`{"provider":"absent"}`), namesFieldRE("virtual_hosts[*].routes[*].policy.jwt.provider")},
		{"a table requiring a missing provider", rt, []byte(jwtTable(`{"provider":"absent"}`, `{"disabled":true}`, `{"disabled":true}`)), namesFieldRE("policy.jwt.provider")},
		{"a requirement of both kinds", rt, route(`{"provider":"` + jwtBaseProvider + `","disabled":true}`), namesFieldRE("virtual_hosts[*].routes[*].policy.jwt")},
		{"an empty requirement", rt, route(`{}`), namesFieldRE("virtual_hosts[*].routes[*].policy.jwt")},
	}
}
