package model

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// JWTProvider is one issuer of JSON Web Tokens and the keys that verify
// them. Key: jwt_providers/<name>. Every HTTP listener carries every
// usable provider; a route policy's jwt names the one whose tokens it
// requires. A request without a token, or with one that does not verify
// (signature, issuer, audience, expiry), is answered 401.
type JWTProvider struct {
	Issuer string `json:"issuer"` // the tokens' "iss", exactly
	// Audiences, when set, are the "aud" values accepted: a token must
	// name one of them.
	Audiences []string `json:"audiences,omitempty"`
	// JWKS is the verifying keys as a JSON Web Key Set, given inline:
	// public keys only. Exactly one of jwks and remote_jwks is set.
	JWKS       string      `json:"jwks,omitempty"`
	RemoteJWKS *RemoteJWKS `json:"remote_jwks,omitempty"`
	// ClaimsToHeaders copies claims of a verified token into request
	// headers for the upstream; the headers are removed from every request
	// first, so a client cannot forge them.
	ClaimsToHeaders []ClaimToHeader `json:"claims_to_headers,omitempty"`
	// Forward keeps the token's header upstream; by default it is removed.
	Forward bool `json:"forward,omitempty"`
	// FromHeaders and FromParams are where the token is looked for; by
	// default "Authorization: Bearer <token>" and the access_token query
	// parameter.
	FromHeaders []TokenHeader `json:"from_headers,omitempty"`
	FromParams  []string      `json:"from_params,omitempty"`
	// ClockSkew is how far past exp (and before nbf) a token is still
	// accepted, in whole seconds; default 60s.
	ClockSkew Duration `json:"clock_skew,omitempty"`
}

// RemoteJWKS is a JWKS Envoy fetches over HTTP from a service's endpoints
// and keeps for cache_duration.
type RemoteJWKS struct {
	Service       string   `json:"service"`
	Path          string   `json:"path"`                     // "/.well-known/jwks.json"
	CacheDuration Duration `json:"cache_duration,omitempty"` // default 10m
	Timeout       Duration `json:"timeout,omitempty"`        // of one fetch; default 1s
}

// ClaimToHeader copies one claim of a verified token into a request header.
type ClaimToHeader struct {
	// Claim is a top-level claim ("sub") or a dotted path into nested
	// objects ("realm.role").
	Claim  string `json:"claim"`
	Header string `json:"header"`
}

// TokenHeader is a request header a token is read from, after a prefix
// ("Bearer ") when one is given.
type TokenHeader struct {
	Name        string `json:"name"`
	ValuePrefix string `json:"value_prefix,omitempty"`
}

// Defaults that translation applies to unset fields.
const (
	DefaultJWKSCacheDuration = 10 * time.Minute
	DefaultJWKSTimeout       = time.Second
	DefaultJWTClockSkew      = 60 * time.Second
)

// Validate checks every field and reports all problems at once. No error
// quotes the JWKS: a key set that is not what it should be may hold a
// private key.
func (j *JWTProvider) Validate() error {
	v := &validator{}
	j.checkLimits(v)
	if j.Issuer == "" {
		v.add("issuer", "required: the tokens' iss, such as https://auth.example.com")
	}
	checkNoControl(v, "issuer", j.Issuer)
	j.validateAudiences(v)
	switch {
	case j.JWKS != "" && j.RemoteJWKS != nil:
		v.add("jwks", "exactly one of jwks (inline) and remote_jwks is required, got both")
	case j.JWKS == "" && j.RemoteJWKS == nil:
		v.add("jwks", "exactly one of jwks (an inline JSON Web Key Set) and remote_jwks is required")
	case j.RemoteJWKS != nil:
		j.RemoteJWKS.validate(v)
	case len(j.JWKS) <= int(limit(limJWKS).Max):
		checkJWKS(v, "jwks", j.JWKS)
	}
	j.validateClaims(v)
	j.validateTokenSources(v)
	j.ClockSkew.check(v, "clock_skew")
	if d := j.ClockSkew.Std(); d%time.Second != 0 {
		v.add("clock_skew", "want whole seconds (Envoy counts it in seconds), got %s", d)
	}
	return v.err()
}

func (j *JWTProvider) validateAudiences(v *validator) {
	seen := map[string]bool{}
	for i, a := range j.Audiences {
		f := "audiences[" + strconv.Itoa(i) + "]"
		switch {
		case a == "":
			v.add(f, "must not be empty")
		case seen[a]:
			v.add(f, "duplicate audience %q", a)
		}
		seen[a] = true
		checkNoControl(v, f, a)
	}
}

func (r *RemoteJWKS) validate(v *validator) {
	switch {
	case r.Service == "":
		v.add("remote_jwks.service", "required: the service whose endpoints serve the JWKS")
	case !ValidName(r.Service):
		v.add("remote_jwks.service", "%q is not a valid service name", r.Service)
	}
	switch {
	case r.Path == "":
		v.add("remote_jwks.path", "required: the JWKS's path, such as /.well-known/jwks.json")
	case r.Path[0] != '/':
		v.add("remote_jwks.path", "must start with '/', got %q", r.Path)
	case strings.ContainsFunc(r.Path, func(c rune) bool { return c <= ' ' || c == '#' || c == 0x7f }):
		v.add("remote_jwks.path", "want a URL path without spaces, control characters or '#', got %q", r.Path)
	}
	r.CacheDuration.check(v, "remote_jwks.cache_duration")
	r.Timeout.check(v, "remote_jwks.timeout")
}

// claimRE is the claim syntax: names of letters, digits, '_', '-' and ':'
// ("cognito:groups"), joined by single dots to reach into nested objects.
// Envoy splits a claim on '.', so a name holding a dot cannot be named.
var claimRE = regexp.MustCompile(`^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$`)

func (j *JWTProvider) validateClaims(v *validator) {
	headers := map[string]int{}
	for i, c := range j.ClaimsToHeaders {
		p := "claims_to_headers[" + strconv.Itoa(i) + "]"
		switch {
		case c.Claim == "":
			v.add(p+".claim", "required: a claim such as sub, or a dotted path such as realm.role")
		case !claimRE.MatchString(c.Claim):
			v.add(p+".claim", "%q is not a claim: want a name of letters, digits, '_', '-' or ':', or such names joined by single dots (realm.role)", c.Claim)
		}
		checkSetHeader(v, p+".header", c.Header)
		lower := strings.ToLower(c.Header)
		if other, dup := headers[lower]; dup && c.Header != "" {
			v.add(p+".header", "header %q is already set by claims_to_headers[%d]", c.Header, other)
		} else {
			headers[lower] = i
		}
	}
}

// paramRE is a query parameter name a token may be read from.
var paramRE = regexp.MustCompile(`^[A-Za-z0-9._~-]+$`)

func (j *JWTProvider) validateTokenSources(v *validator) {
	for i, h := range j.FromHeaders {
		p := "from_headers[" + strconv.Itoa(i) + "]"
		checkSetHeader(v, p+".name", h.Name)
		checkNoControl(v, p+".value_prefix", h.ValuePrefix)
	}
	for i, q := range j.FromParams {
		f := "from_params[" + strconv.Itoa(i) + "]"
		if !paramRE.MatchString(q) {
			v.add(f, "%q is not a query parameter name: want letters, digits, '.', '_', '~' or '-'", q)
		}
	}
}

// checkSetHeader checks a header name Envoy reads or sets.
func checkSetHeader(v *validator, field, name string) {
	switch {
	case name == "":
		v.add(field, "required: a header name")
	case !validHeaderName(name):
		v.add(field, "%q is not a header name", name)
	case !modifiableHeader(name):
		v.add(field, "%q is a pseudo-header or host: want an ordinary header", name)
	}
}

// JWTRequirement is a policy's demand for a token: from the named
// provider, or none (disabled) where a level above requires one.
type JWTRequirement struct {
	Provider string `json:"provider,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
}

func (j *JWTRequirement) validate(v *validator, p string) {
	if j == nil {
		return
	}
	v.checkLen(jwtRequirementLimit(p), len(j.Provider), p, ".provider")
	switch {
	case j.Provider != "" && j.Disabled:
		v.add(p, "exactly one of provider and disabled is required, got both")
	case j.Provider == "" && !j.Disabled:
		v.add(p, "want provider (a jwt_providers name) or disabled: true")
	case j.Provider != "" && !ValidName(j.Provider):
		v.add(p+".provider", "%q is not a valid JWT provider name", j.Provider)
	}
}

// jwtRequirementLimit is the provider limit of the level policy path p is
// at: "policy.jwt", "virtual_hosts[i].policy.jwt" or a route's.
func jwtRequirementLimit(p string) fieldLimit {
	return [...]fieldLimit{limJWTTableProvider, limJWTVHostProvider, limJWTRouteProvider}[policyLevelOf(p)]
}

// JWTProviders returns, sorted and once each, the providers the table's
// policies name.
func (rt *RouteTable) JWTProviders() []string {
	var out []string
	rt.policies(func(p *HTTPPolicy, _ string) {
		if p.JWT != nil && p.JWT.Provider != "" {
			out = append(out, p.JWT.Provider)
		}
	})
	slices.Sort(out)
	return slices.Compact(out)
}

// URI is the JWKS's URL as Envoy is given it: Envoy fetches it from the
// service's cluster, so the host, the service's name, is informational.
func (r *RemoteJWKS) URI() string { return fmt.Sprintf("http://%s%s", r.Service, r.Path) }

// privateMembers are the JWK members of private or secret key material
// (RFC 7518 section 6): an inline JWKS is stored and shown as it is, so it
// may hold public keys only.
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"}

// checkJWKS reports, at field, why text is not a set of public signing
// keys Envoy can verify tokens with. Messages name keys by index and
// members by name, never by value.
func checkJWKS(v *validator, field, text string) {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal([]byte(text), &set); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			v.add(field, "does not parse as JSON (at byte %d): want a JSON Web Key Set {\"keys\":[...]}", syntax.Offset)
		} else {
			v.add(field, "does not parse as a JSON Web Key Set: want {\"keys\":[{\"kty\":...}, ...]}")
		}
		return
	}
	if len(set.Keys) == 0 {
		v.add(field, "want a JSON Web Key Set {\"keys\":[...]} with at least one key")
		return
	}
	for i, k := range set.Keys {
		if msg := jwkProblem(k); msg != "" {
			v.add(field, "keys[%d]: %s", i, msg)
		}
	}
}

// jwkProblem says what is wrong with one key, or "".
func jwkProblem(k map[string]json.RawMessage) string {
	for _, m := range privateMembers {
		if _, ok := k[m]; ok {
			return fmt.Sprintf("holds the private member %q: an inline JWKS holds public keys only (the value is not shown)", m)
		}
	}
	kty, ok := jwkString(k, "kty")
	if !ok {
		return `want "kty": "RSA", "EC" or "OKP"`
	}
	for _, m := range []string{"kid", "alg", "use"} {
		if _, set := k[m]; set {
			if _, ok := jwkString(k, m); !ok {
				return fmt.Sprintf("member %q: want a string", m)
			}
		}
	}
	if use, _ := jwkString(k, "use"); use != "" && use != "sig" {
		return fmt.Sprintf("use %.16q: want \"sig\", the keys verify signatures", use)
	}
	alg, _ := jwkString(k, "alg")
	switch kty {
	case "RSA":
		return rsaProblem(k, alg)
	case "EC":
		return ecProblem(k, alg)
	case "OKP":
		return okpProblem(k, alg)
	case "oct":
		return `kty "oct" is a shared secret, not a public key: an inline JWKS holds public keys only (RSA, EC or OKP)`
	}
	return fmt.Sprintf("unknown kty %.16q: want RSA, EC or OKP", kty)
}

func rsaProblem(k map[string]json.RawMessage, alg string) string {
	switch alg {
	case "", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
	default:
		return fmt.Sprintf("alg %.16q does not go with an RSA key: want RS256, RS384, RS512, PS256, PS384 or PS512", alg)
	}
	n, msg := jwkBytes(k, "n")
	if msg != "" {
		return msg
	}
	e, msg := jwkBytes(k, "e")
	if msg != "" {
		return msg
	}
	if bits := new(big.Int).SetBytes(n).BitLen(); bits < 2048 || bits > 16384 {
		return fmt.Sprintf("an RSA modulus of %d bits: want 2048 to 16384", bits)
	}
	if exp := new(big.Int).SetBytes(e); len(e) > 4 || exp.Cmp(big.NewInt(3)) < 0 || exp.Bit(0) == 0 {
		return "member \"e\": want an odd RSA exponent of at least 3 and at most 32 bits, such as AQAB"
	}
	return ""
}

// ecCurves are the curves of EC keys: their coordinates' length and the
// algorithm that goes with each.
var ecCurves = map[string]struct {
	curve ecdh.Curve
	size  int
	alg   string
}{
	"P-256": {ecdh.P256(), 32, "ES256"},
	"P-384": {ecdh.P384(), 48, "ES384"},
	"P-521": {ecdh.P521(), 66, "ES512"},
}

func ecProblem(k map[string]json.RawMessage, alg string) string {
	crv, _ := jwkString(k, "crv")
	c, ok := ecCurves[crv]
	if !ok {
		return "member \"crv\": want P-256, P-384 or P-521"
	}
	if alg != "" && alg != c.alg {
		return fmt.Sprintf("alg %.16q does not go with curve %s: want %s", alg, crv, c.alg)
	}
	x, msg := jwkBytes(k, "x")
	if msg != "" {
		return msg
	}
	y, msg := jwkBytes(k, "y")
	if msg != "" {
		return msg
	}
	if len(x) != c.size || len(y) != c.size {
		return fmt.Sprintf("members \"x\" and \"y\": want %d bytes each for %s", c.size, crv)
	}
	if _, err := c.curve.NewPublicKey(slices.Concat([]byte{4}, x, y)); err != nil {
		return fmt.Sprintf("members \"x\" and \"y\" are not a point of %s", crv)
	}
	return ""
}

func okpProblem(k map[string]json.RawMessage, alg string) string {
	if crv, _ := jwkString(k, "crv"); crv != "Ed25519" {
		return "member \"crv\": want Ed25519 (Envoy verifies EdDSA with Ed25519 keys)"
	}
	if alg != "" && alg != "EdDSA" {
		return fmt.Sprintf("alg %.16q does not go with an Ed25519 key: want EdDSA", alg)
	}
	x, msg := jwkBytes(k, "x")
	if msg != "" {
		return msg
	}
	if len(x) != ed25519.PublicKeySize {
		return fmt.Sprintf("member \"x\": want %d bytes for Ed25519", ed25519.PublicKeySize)
	}
	return ""
}

// jwkString is a key's string member.
func jwkString(k map[string]json.RawMessage, name string) (string, bool) {
	var s string
	raw, ok := k[name]
	if !ok || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// jwkBytes is a key's base64url member, or why it is not one.
func jwkBytes(k map[string]json.RawMessage, name string) ([]byte, string) {
	s, ok := jwkString(k, name)
	if !ok || s == "" {
		return nil, fmt.Sprintf("member %q: required, a base64url string", name)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Sprintf("member %q: want base64url without padding", name)
	}
	return b, ""
}
