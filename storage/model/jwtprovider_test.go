package model_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// testJWKs are one public key of each kind Envoy verifies with, made here.
func testJWKs(t *testing.T) map[string]map[string]any {
	t.Helper()
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ek.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	okp, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]map[string]any{
		"RSA": {"kty": "RSA", "kid": "r", "alg": "RS256", "use": "sig", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())},
		"EC":  {"kty": "EC", "kid": "e", "alg": "ES384", "crv": "P-384", "x": b64(ec[1:49]), "y": b64(ec[49:])},
		"OKP": {"kty": "OKP", "alg": "EdDSA", "crv": "Ed25519", "x": b64(okp)},
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// provider is a provider's JSON with an inline JWKS of keys and more fields.
func provider(t *testing.T, jwks string, more map[string]any) []byte {
	t.Helper()
	p := map[string]any{"issuer": "https://auth.example.com", "jwks": jwks}
	for k, v := range more {
		p[k] = v
	}
	return []byte(jsonOf(t, p))
}

func jp(name string) model.Ref { return model.Ref{Kind: model.KindJWTProvider, Name: name} }

func keySet(t *testing.T, keys ...map[string]any) string {
	return jsonOf(t, map[string]any{"keys": keys})
}

// with is a copy of key with members set (a nil value removes one).
func with(key map[string]any, members map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range key {
		out[k] = v
	}
	for k, v := range members {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Every kind of public key is accepted, with every field set; a remote
// JWKS is accepted alone.
func TestJWTProviderAccepts(t *testing.T) {
	keys := testJWKs(t)
	full := provider(t, keySet(t, keys["RSA"], keys["EC"], keys["OKP"]), map[string]any{
		"audiences":         []string{"web", "api"},
		"claims_to_headers": []any{map[string]any{"claim": "sub", "header": "x-sub"}, map[string]any{"claim": "realm.role", "header": "x-role"}, map[string]any{"claim": "cognito:groups", "header": "x-groups"}},
		"forward":           true,
		"from_headers":      []any{map[string]any{"name": "x-token", "value_prefix": "Bearer "}},
		"from_params":       []string{"access_token"},
		"clock_skew":        "90s",
	})
	if _, err := model.Decode(jp("corp"), full); err != nil {
		t.Errorf("full provider: %v", err)
	}
	remote := `{"issuer":"https://auth.example.com","remote_jwks":{"service":"jwks","path":"/.well-known/jwks.json","cache_duration":"5m","timeout":"2s"}}`
	if _, err := model.Decode(jp("remote"), []byte(remote)); err != nil {
		t.Errorf("remote provider: %v", err)
	}
}

// Each bad value is rejected at its field with a message that says what is
// wanted; no message quotes the key set.
func TestJWTProviderRejects(t *testing.T) {
	keys := testJWKs(t)
	rsaKey, ecKey := keys["RSA"], keys["EC"]
	const secret = "c2VjcmV0LWtleS1tYXRlcmlhbA"
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	jwks := func(v string) []byte { return provider(t, v, nil) }
	cases := []struct {
		what  string
		value []byte
		want  string // the whole error
	}{
		{"no issuer", []byte(`{"jwks":` + jsonOf(t, keySet(t, rsaKey)) + `}`), "field issuer: required: the tokens' iss, such as https://auth.example.com"},
		{"no keys at all", []byte(`{"issuer":"i"}`), "field jwks: exactly one of jwks (an inline JSON Web Key Set) and remote_jwks is required"},
		{"both sources", provider(t, keySet(t, rsaKey), map[string]any{"remote_jwks": map[string]any{"service": "s", "path": "/j"}}),
			"field jwks: exactly one of jwks (inline) and remote_jwks is required, got both"},
		{"not JSON", jwks(`{"keys":[{"kty":"RSA",`), `field jwks: does not parse as JSON (at byte 22): want a JSON Web Key Set {"keys":[...]}`},
		{"not a key set", jwks(`[1,2]`), `field jwks: does not parse as a JSON Web Key Set: want {"keys":[{"kty":...}, ...]}`},
		{"no key", jwks(`{"keys":[]}`), `field jwks: want a JSON Web Key Set {"keys":[...]} with at least one key`},
		{"private RSA", jwks(keySet(t, with(rsaKey, map[string]any{"d": secret, "p": secret}))),
			`field jwks: keys[0]: holds the private member "d": an inline JWKS holds public keys only (the value is not shown)`},
		{"private EC", jwks(keySet(t, rsaKey, with(ecKey, map[string]any{"d": secret}))),
			`field jwks: keys[1]: holds the private member "d": an inline JWKS holds public keys only (the value is not shown)`},
		{"shared secret", jwks(keySet(t, map[string]any{"kty": "oct", "k": secret})),
			`field jwks: keys[0]: holds the private member "k": an inline JWKS holds public keys only (the value is not shown)`},
		{"no kty", jwks(keySet(t, with(rsaKey, map[string]any{"kty": nil}))), `field jwks: keys[0]: want "kty": "RSA", "EC" or "OKP"`},
		{"unknown kty", jwks(keySet(t, with(rsaKey, map[string]any{"kty": "DSA"}))), `field jwks: keys[0]: unknown kty "DSA": want RSA, EC or OKP`},
		{"alg of another kty", jwks(keySet(t, with(rsaKey, map[string]any{"alg": "ES256"}))),
			`field jwks: keys[0]: alg "ES256" does not go with an RSA key: want RS256, RS384, RS512, PS256, PS384 or PS512`},
		{"use enc", jwks(keySet(t, with(rsaKey, map[string]any{"use": "enc"}))), `field jwks: keys[0]: use "enc": want "sig", the keys verify signatures`},
		{"n padded", jwks(keySet(t, with(rsaKey, map[string]any{"n": rsaKey["n"].(string) + "=="}))), `field jwks: keys[0]: member "n": want base64url without padding`},
		{"no e", jwks(keySet(t, with(rsaKey, map[string]any{"e": nil}))), `field jwks: keys[0]: member "e": required, a base64url string`},
		{"even e", jwks(keySet(t, with(rsaKey, map[string]any{"e": b64([]byte{1, 0})}))),
			`field jwks: keys[0]: member "e": want an odd RSA exponent of at least 3 and at most 32 bits, such as AQAB`},
		{"weak RSA", jwks(keySet(t, with(rsaKey, map[string]any{"n": b64(small.N.Bytes())}))), `field jwks: keys[0]: an RSA modulus of 1024 bits: want 2048 to 16384`},
		{"curve", jwks(keySet(t, with(ecKey, map[string]any{"crv": "P-192"}))), `field jwks: keys[0]: member "crv": want P-256, P-384 or P-521`},
		{"alg of another curve", jwks(keySet(t, with(ecKey, map[string]any{"alg": "ES256"}))), `field jwks: keys[0]: alg "ES256" does not go with curve P-384: want ES384`},
		{"short x", jwks(keySet(t, with(ecKey, map[string]any{"x": b64(make([]byte, 32))}))), `field jwks: keys[0]: members "x" and "y": want 48 bytes each for P-384`},
		{"off the curve", jwks(keySet(t, with(ecKey, map[string]any{"x": b64(make([]byte, 48))}))), `field jwks: keys[0]: members "x" and "y" are not a point of P-384`},
		{"OKP curve", jwks(keySet(t, with(keys["OKP"], map[string]any{"crv": "X25519"}))), `field jwks: keys[0]: member "crv": want Ed25519 (Envoy verifies EdDSA with Ed25519 keys)`},
		{"bad claim", provider(t, keySet(t, rsaKey), map[string]any{"claims_to_headers": []any{map[string]any{"claim": "realm..role", "header": "x-role"}}}),
			`field claims_to_headers[0].claim: "realm..role" is not a claim: want a name of letters, digits, '_', '-' or ':', or such names joined by single dots (realm.role)`},
		{"claim header twice", provider(t, keySet(t, rsaKey), map[string]any{"claims_to_headers": []any{map[string]any{"claim": "a", "header": "x-a"}, map[string]any{"claim": "b", "header": "X-A"}}}),
			`field claims_to_headers[1].header: header "X-A" is already set by claims_to_headers[0]`},
		{"pseudo-header", provider(t, keySet(t, rsaKey), map[string]any{"claims_to_headers": []any{map[string]any{"claim": "a", "header": ":path"}}}),
			`field claims_to_headers[0].header: ":path" is a pseudo-header or host: want an ordinary header`},
		{"bad token header", provider(t, keySet(t, rsaKey), map[string]any{"from_headers": []any{map[string]any{"name": "x token"}}}),
			`field from_headers[0].name: "x token" is not a header name`},
		{"bad param", provider(t, keySet(t, rsaKey), map[string]any{"from_params": []string{"a&b"}}),
			`field from_params[0]: "a&b" is not a query parameter name: want letters, digits, '.', '_', '~' or '-'`},
		{"duplicate audience", provider(t, keySet(t, rsaKey), map[string]any{"audiences": []string{"a", "a"}}), `field audiences[1]: duplicate audience "a"`},
		{"part second", provider(t, keySet(t, rsaKey), map[string]any{"clock_skew": "1500ms"}), "field clock_skew: want whole seconds (Envoy counts it in seconds), got 1.5s"},
		{"remote without path", []byte(`{"issuer":"i","remote_jwks":{"service":"jwks"}}`), "field remote_jwks.path: required: the JWKS's path, such as /.well-known/jwks.json"},
		{"remote path", []byte(`{"issuer":"i","remote_jwks":{"service":"jwks","path":"jwks"}}`), `field remote_jwks.path: must start with '/', got "jwks"`},
		{"remote service", []byte(`{"issuer":"i","remote_jwks":{"service":"a b","path":"/j"}}`), `field remote_jwks.service: "a b" is not a valid service name`},
	}
	for _, c := range cases {
		_, err := model.Decode(jp("p"), c.value)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.what, err, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), rsaKey["n"].(string)[:16])) {
			t.Errorf("%s: the error quotes key material: %v", c.what, err)
		}
	}
}

// A policy's jwt names a provider or turns the requirement off, not both
// and not neither; the table lists the providers its policies name.
func TestJWTRequirement(t *testing.T) {
	table := func(policy, route string) []byte {
		return []byte(`{` + policy + `"virtual_hosts":[{"name":"v","domains":["*"],"policy":{"jwt":{"provider":"b"}},"routes":[` +
			`{"match":{"prefix":"/x"},"service":"web"` + route + `},` +
			`{"match":{"prefix":"/"},"service":"web","policy":{"jwt":{"provider":"a"}}}]}]}`)
	}
	rt := model.Ref{Kind: model.KindRouteTable, Name: "t"}
	obj, err := model.Decode(rt, table(`"policy":{"jwt":{"provider":"b"}},`, `,"policy":{"jwt":{"disabled":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.(*model.RouteTable).JWTProviders(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("JWTProviders() = %q, want [a b]", got)
	}
	for _, c := range []struct{ route, want string }{
		{`,"policy":{"jwt":{}}`, "field virtual_hosts[0].routes[0].policy.jwt: want provider (a jwt_providers name) or disabled: true"},
		{`,"policy":{"jwt":{"provider":"a","disabled":true}}`, "field virtual_hosts[0].routes[0].policy.jwt: exactly one of provider and disabled is required, got both"},
		{`,"policy":{"jwt":{"provider":"a/b"}}`, `field virtual_hosts[0].routes[0].policy.jwt.provider: "a/b" is not a valid JWT provider name`},
	} {
		// A bad route requirement rejects that route only: the table is kept.
		obj, err := model.Decode(rt, table("", c.route))
		if err == nil || err.Error() != c.want || obj == nil {
			t.Errorf("%s: got %v (table kept: %v), want %s", c.route, err, obj != nil, c.want)
		}
	}
	if obj, err := model.Decode(rt, table(`"policy":{"jwt":{}},`, "")); obj != nil || err == nil {
		t.Errorf("a bad table requirement: got %v, %v; want the table rejected", obj, err)
	}
}
