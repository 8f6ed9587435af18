package e2e

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// A route table requiring a JWT from an inline JWKS, through a real Envoy:
// no token 401; a token signed by the JWKS's key 200, with its claims
// forwarded as headers and the token itself not; an expired token, one
// signed by another key 401, one for another audience 403; a route with
// the requirement off 200 without a token; a client's own claim header
// never reaches the upstream. A provider whose JWKS Envoy fetches from a
// service (a server in the test): its tokens 200. A provider holding a
// private key: rejected without quoting it, its route 503. Envoy refuses
// no update.
func TestJWTAuthentication(t *testing.T) {
	g := newRig(t)
	echo := startHeaderEcho(t)
	jwks := startJWKSServer(t)
	inline, other := newRSAKey(t), newRSAKey(t)
	remote := newECKey(t)
	jwks.set(jwksOf(t, remote.jwk(t)))

	g.put("services/echo", `{"protocol":"http"}`)
	g.put("endpoints/echo/a", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, echo.port))
	g.put("services/jwks", `{"protocol":"http"}`)
	g.put("endpoints/jwks/a", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, jwks.port))
	g.put("jwt_providers/corp", jsonText(t, map[string]any{
		"issuer": "https://auth.corp.test", "audiences": []string{"web"}, "jwks": jwksOf(t, inline.jwk(t)),
		"claims_to_headers": []any{
			map[string]any{"claim": "sub", "header": "x-jwt-sub"},
			map[string]any{"claim": "realm.role", "header": "x-jwt-role"},
		},
	}))
	g.put("jwt_providers/partners", jsonText(t, map[string]any{
		"issuer": "https://partners.test", "remote_jwks": map[string]any{"service": "jwks", "path": "/jwks.json", "timeout": "2s"},
		"claims_to_headers": []any{map[string]any{"claim": "sub", "header": "x-jwt-sub"}},
	}))
	g.put("routes/web", jsonText(t, map[string]any{
		"policy": map[string]any{"jwt": map[string]any{"provider": "corp"}},
		"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": []any{
			map[string]any{"match": map[string]any{"prefix": "/open/"}, "service": "echo", "policy": map[string]any{"jwt": map[string]any{"disabled": true}}},
			map[string]any{"match": map[string]any{"prefix": "/partners/"}, "service": "echo", "policy": map[string]any{"jwt": map[string]any{"provider": "partners"}}},
			map[string]any{"match": map[string]any{"prefix": "/"}, "service": "echo"},
		}}},
	}))

	now := time.Now()
	claims := func(iss, aud string, exp time.Time) map[string]any {
		return map[string]any{"iss": iss, "aud": aud, "sub": "alice", "iat": now.Unix(), "exp": exp.Unix(), "realm": map[string]any{"role": "admin"}}
	}
	good := inline.sign(t, claims("https://auth.corp.test", "web", now.Add(time.Hour)))
	url := fmt.Sprintf("http://127.0.0.1:%d", g.port)

	// Only the table written above answers both of these: Envoy holds it,
	// both providers, and the clusters they reach (the rig's first table
	// answers 200 to anything).
	partner := remote.sign(t, claims("https://partners.test", "any", now.Add(time.Hour)))
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if st, body, err := getWithToken(url+"/api", good, false); err != nil || st != 200 || !strings.Contains(body, "sub=alice") {
			return fmt.Errorf("GET /api with a valid token: %d %q %v", st, body, err)
		}
		if st, body, err := getWithToken(url+"/api", "", false); err != nil || st != 401 {
			return fmt.Errorf("GET /api without a token: %d %q %v", st, body, err)
		}
		if st, body, err := getWithToken(url+"/partners/x", partner, false); err != nil || st != 200 {
			return fmt.Errorf("GET /partners/x with a partner's token: %d %q %v", st, body, err)
		}
		return nil
	})

	expired := inline.sign(t, claims("https://auth.corp.test", "web", now.Add(-10*time.Minute))) // past the 60s skew
	cases := []struct {
		what, path, token string
		status            int
		body              string // what the upstream saw, for a 200
		forged            bool   // the client sends x-jwt-sub itself
	}{
		{"no token", "/api", "", 401, "", false},
		{"valid token", "/api", good, 200, "sub=alice role=admin authorization=false", false},
		{"expired token", "/api", expired, 401, "", false},
		{"another key", "/api", other.sign(t, claims("https://auth.corp.test", "web", now.Add(time.Hour))), 401, "", false},
		// A token that verifies but is for another audience is forbidden,
		// not unauthenticated: Envoy answers 403.
		{"another audience", "/api", inline.sign(t, claims("https://auth.corp.test", "mobile", now.Add(time.Hour))), 403, "", false},
		{"requirement off", "/open/x", "", 200, "sub= role= authorization=false", false},
		// A claim header is the token's: the client's own is replaced, or
		// removed where no token is checked.
		{"forged claim header", "/api", good, 200, "sub=alice role=admin authorization=false", true},
		{"forged, requirement off", "/open/x", "", 200, "sub= role= authorization=false", true},
		{"remote JWKS", "/partners/x", partner, 200, "sub=alice role= authorization=false", false},
		{"corp token on partners", "/partners/x", good, 401, "", false},
	}
	const rounds = 20 // each case this many times: every answer must be the same
	for _, c := range cases {
		matched := 0
		for i := range rounds {
			st, body, err := getWithToken(url+c.path, c.token, c.forged)
			if err != nil {
				t.Fatalf("%s, request %d: %v", c.what, i, err)
			}
			if st == c.status && (c.status != 200 || body == c.body) {
				matched++
			} else if matched == i { // report the first miss only
				t.Errorf("%s: GET %s answered %d %q, want %d %q", c.what, c.path, st, body, c.status, c.body)
			}
		}
		t.Logf("%-22s %d/%d answered %d", c.what, matched, rounds, c.status)
		if matched != rounds {
			t.Errorf("%s: %d of %d requests answered as wanted", c.what, matched, rounds)
		}
	}
	if n := jwks.fetches.Load(); n < 1 || n > 10 {
		t.Errorf("the JWKS server was asked %d times, want 1 to 10 (Envoy caches it for 10m)", n)
	} else {
		t.Logf("the JWKS server was asked %d times", n)
	}
	if rej := g.rejections(); len(rej) > 0 {
		t.Errorf("rejections: %v", rej)
	}

	// A provider whose JWKS holds a private key is rejected without
	// quoting it, and a route requiring it answers 503: it fails closed.
	priv := inline.jwk(t)
	priv["d"] = b64url(inline.rsa.D.Bytes())
	g.put("jwt_providers/leaky", jsonText(t, map[string]any{"issuer": "https://leaky.test", "jwks": jwksOf(t, priv)}))
	g.put("routes/web", jsonText(t, map[string]any{
		"policy": map[string]any{"jwt": map[string]any{"provider": "corp"}},
		"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": []any{
			map[string]any{"match": map[string]any{"prefix": "/leaky/"}, "service": "echo", "policy": map[string]any{"jwt": map[string]any{"provider": "leaky"}}},
			map[string]any{"match": map[string]any{"prefix": "/"}, "service": "echo"},
		}}},
	}))
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		st, body, err := getWithToken(url+"/leaky/x", good, false)
		if err != nil || st != 503 || !strings.Contains(body, `JWT provider "leaky" is rejected`) {
			return fmt.Errorf("GET /leaky/x: %d %q %v, want 503 naming the provider", st, body, err)
		}
		return nil
	})
	rej := g.rejections()
	if !namesFieldRE("jwks").MatchString(rej["jwt_providers/leaky"]) || !namesFieldRE("virtual_hosts[*].routes[*].policy.jwt.provider").MatchString(rej["routes/web"]) {
		t.Errorf("rejections do not name the fields: %q", rej)
	}
	for key, reason := range rej {
		if strings.Contains(reason, priv["d"].(string)[:24]) {
			t.Errorf("%s: the rejection quotes the private key", key)
		}
	}
	if st, _, err := getWithToken(url+"/api", good, false); err != nil || st != 200 {
		t.Errorf("the rest of the table: GET /api %d %v, want 200", st, err)
	}
	g.checkEnvoyAccepted([]string{"http.main.rds.web.update_rejected"})
}

// getWithToken sends one GET with "Authorization: Bearer token" (none if
// token is empty), and "x-jwt-sub: mallory" if forged, and returns the
// status and body.
func getWithToken(url, token string, forged bool) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if forged {
		req.Header.Set("x-jwt-sub", "mallory")
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwtKey is a signing key made in the test and its JWS algorithm.
type jwtKey struct {
	alg   string
	kid   string
	rsa   *rsa.PrivateKey
	ecdsa *ecdsa.PrivateKey
}

func newRSAKey(t *testing.T) *jwtKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtKey{alg: "RS256", kid: "k1", rsa: k}
}

func newECKey(t *testing.T) *jwtKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &jwtKey{alg: "ES256", kid: "e1", ecdsa: k}
}

// jwk is the key's public half as a JWK.
func (k *jwtKey) jwk(t *testing.T) map[string]any {
	t.Helper()
	if k.rsa != nil {
		return map[string]any{"kty": "RSA", "kid": k.kid, "alg": k.alg, "use": "sig",
			"n": b64url(k.rsa.N.Bytes()), "e": b64url(big.NewInt(int64(k.rsa.E)).Bytes())}
	}
	pub, err := k.ecdsa.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"kty": "EC", "kid": k.kid, "alg": k.alg, "crv": "P-256", "x": b64url(pub[1:33]), "y": b64url(pub[33:])}
}

func jwksOf(t *testing.T, keys ...map[string]any) string {
	t.Helper()
	return jsonText(t, map[string]any{"keys": keys})
}

// sign makes a compact JWS of claims (RFC 7515): RS256 is PKCS #1 v1.5
// over SHA-256, ES256 is r || s of 32 bytes each.
func (k *jwtKey) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	header := b64url([]byte(jsonText(t, map[string]any{"alg": k.alg, "typ": "JWT", "kid": k.kid})))
	input := header + "." + b64url([]byte(jsonText(t, claims)))
	digest := sha256.Sum256([]byte(input))
	var sig []byte
	var err error
	if k.rsa != nil {
		sig, err = rsa.SignPKCS1v15(rand.Reader, k.rsa, crypto.SHA256, digest[:])
	} else {
		var r, s *big.Int
		r, s, err = ecdsa.Sign(rand.Reader, k.ecdsa, digest[:])
		if err == nil {
			sig = append(r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32))...)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64url(sig)
}

// headerEcho is an upstream that answers with the claim headers it was
// sent and whether an Authorization header reached it.
type headerEcho struct{ port int }

func startHeaderEcho(t *testing.T) *headerEcho {
	t.Helper()
	return &headerEcho{port: serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "sub=%s role=%s authorization=%t", r.Header.Get("x-jwt-sub"), r.Header.Get("x-jwt-role"), r.Header.Get("Authorization") != "")
	}))}
}

// jwksServer serves a JWKS at /jwks.json and counts the fetches.
type jwksServer struct {
	port    int
	body    atomic.Value // string
	fetches atomic.Int64
}

func startJWKSServer(t *testing.T) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.port = serveLoopback(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/jwks.json" {
			http.NotFound(w, r)
			return
		}
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, s.body.Load())
	}))
	return s
}

func (s *jwksServer) set(jwks string) { s.body.Store(jwks) }

// serveLoopback serves h on a free loopback port until the test ends.
func serveLoopback(t *testing.T, h http.Handler) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve %s: %v", ln.Addr(), err)
		}
	}()
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("close %s: %v", ln.Addr(), err)
		}
		<-done
	})
	return ln.Addr().(*net.TCPAddr).Port
}
