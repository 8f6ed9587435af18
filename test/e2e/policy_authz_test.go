package e2e

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// authzRequests is how many requests (or connections) each case of the
// authorization tests sends, and counts exactly.
const authzRequests = 50

// authzGet makes one GET to 127.0.0.1:port on a new connection, with the
// headers given.
func authzGet(port int, path string, headers map[string]string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
	if err != nil {
		return 0, "", err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
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

// authzStatuses sends n requests and counts their authzStatuses (0 for an error).
func authzStatuses(n int, get func() (int, string, error)) map[int]int {
	out := map[int]int{}
	for range n {
		st, _, err := get()
		if err != nil {
			st = 0
		}
		out[st]++
	}
	return out
}

// authzWaitStatus waits until get answers status (the configuration arrived).
func authzWaitStatus(t *testing.T, what string, status int, get func() (int, string, error)) {
	t.Helper()
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		st, body, err := get()
		if err != nil || st != status {
			return fmt.Errorf("%s: %d %q %v, want %d", what, st, body, err, status)
		}
		return nil
	})
}

// authzWantAll fails unless every one of the n requests got status.
func authzWantAll(t *testing.T, what string, got map[int]int, status int) {
	t.Helper()
	if got[status] != authzRequests || len(got) != 1 {
		t.Errorf("%s: authzStatuses %v, want all %d of %d", what, got, authzRequests, status)
	} else {
		t.Logf("%s: %d of %d answered %d", what, got[status], authzRequests, status)
	}
}

// RBAC on a route table: the table denies a path, a route under it lifts
// the table's authorization (authorization: {}), and two routes admit
// only a source range each: 127.0.0.1/32, which the test connects from,
// and 10.0.0.0/8, which it does not. Denied requests get 403 and Envoy
// counts each; the rest reach the upstream.
func TestAuthzRBACSourceAndPath(t *testing.T) {
	g := newTLSRig(t)
	allow := func(cidr string) map[string]any {
		return map[string]any{"authorization": map[string]any{"allow": []any{map[string]any{"source_cidrs": []string{cidr}}}}}
	}
	g.putJSON("routes/web", map[string]any{
		"policy": map[string]any{"authorization": map[string]any{"deny": []any{
			map[string]any{"paths": []any{map[string]any{"prefix": "/admin/"}, map[string]any{"exact": "/debug"}}},
		}}},
		"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": []any{
			map[string]any{"match": map[string]any{"prefix": "/admin/open/"}, "service": "web", "policy": map[string]any{"authorization": map[string]any{}}},
			map[string]any{"match": map[string]any{"prefix": "/local/"}, "service": "web", "policy": allow("127.0.0.1/32")},
			map[string]any{"match": map[string]any{"prefix": "/ten/"}, "service": "web", "policy": allow("10.0.0.0/8")},
			map[string]any{"match": map[string]any{"prefix": "/"}, "service": "web"},
		}}},
	})
	get := func(path string) func() (int, string, error) {
		return func() (int, string, error) { return authzGet(g.port, path, nil) }
	}
	authzWaitStatus(t, "GET /ten/x", 403, get("/ten/x"))
	denied := func() int64 { return sumStats(envoyStats(t, g.envoy, `^http\.main\.rbac\.denied$`)) }
	before := denied()
	for _, c := range []struct {
		path   string
		status int
	}{{"/admin/x", 403}, {"/debug", 403}, {"/ten/x", 403}, {"/admin/open/x", 200}, {"/local/x", 200}, {"/debug/x", 200}, {"/public", 200}} {
		authzWantAll(t, "GET "+c.path, authzStatuses(authzRequests, get(c.path)), c.status)
	}
	if got := denied() - before; got != 3*authzRequests {
		t.Errorf("Envoy counted %d RBAC denials, want %d", got, 3*authzRequests)
	}
	if st, body, err := authzGet(g.port, "/admin/x", nil); err != nil || st != 403 || !strings.Contains(body, "RBAC") {
		t.Errorf("a denied request: %d %q %v, want 403 with Envoy's RBAC body", st, body, err)
	}
	authzNoNACK(g)
}

// authzNoNACK fails unless Envoy refused no update and the replica
// counted no NACK (checkNoNACK without its SDS check, for rigs with no
// secret).
func authzNoNACK(g *tlsRig) {
	g.t.Helper()
	g.checkEnvoyAccepted(nil)
	for name, v := range envoyStats(g.t, g.envoy, `update_rejected$`) {
		if v != 0 {
			g.t.Errorf("Envoy %s = %d, want 0", name, v)
		}
	}
}

// A principal rule over mTLS: an https listener with tls.client_ca whose
// route table admits only spiffe://corp/alice. Alice's certificate gets
// 200; bob's, signed by the same CA, completes the handshake and gets 403.
func TestAuthzPrincipalOverMTLS(t *testing.T) {
	g := newTLSRig(t)
	serverCA, clientsCA := harness.NewCA(t, "authz-server-ca"), harness.NewCA(t, "authz-clients-ca")
	c, k := serverCA.Issue(t, harness.CertOptions{DNSNames: []string{"mtls.example.com"}})
	g.putCert("authz-cert", c, k)
	g.putCA("authz-clients", clientsCA)
	alice := loadPair(t, clientsCA, harness.CertOptions{CommonName: "alice", URIs: []string{"spiffe://corp/alice"}})
	bob := loadPair(t, clientsCA, harness.CertOptions{CommonName: "bob", URIs: []string{"spiffe://corp/bob"}})
	g.putJSON("routes/mtls", map[string]any{
		"policy": map[string]any{"authorization": map[string]any{"allow": []any{map[string]any{"principals": []string{"spiffe://corp/alice"}}}}},
		"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"},
			"routes": []any{map[string]any{"match": map[string]any{"prefix": "/"}, "service": "web"}}}},
	})
	port := harness.FreePort(t)
	l := httpsListener(port, map[string]any{"certificates": []any{sniCert("authz-cert")}, "client_ca": "authz-clients"})
	l["route_table"] = "mtls"
	g.putJSON("listeners/mtls", l)
	roots := certPool(t, serverCA)
	probe := func(client *tls.Certificate) func() (int, string, error) {
		return func() (int, string, error) {
			ans, err := tlsProbe{port: port, serverName: "mtls.example.com", roots: roots, client: client}.get("/")
			return ans.status, ans.body, err
		}
	}
	authzWaitStatus(t, "alice", 200, probe(&alice))
	authzWantAll(t, "alice (spiffe://corp/alice)", authzStatuses(authzRequests, probe(&alice)), 200)
	authzWantAll(t, "bob (spiffe://corp/bob, same CA)", authzStatuses(authzRequests, probe(&bob)), 403)
	g.checkNoNACK()
}

// authzEchoServer accepts TCP connections on 127.0.0.1, writes a banner and
// echoes one line; lines counts the lines it received.
type authzEchoServer struct {
	ln    net.Listener
	lines atomic.Int64 // lines echoed
	conns atomic.Int64 // connections accepted
}

func startAuthzEchoServer(t *testing.T) *authzEchoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &authzEchoServer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(conn, "hello\n"); err != nil {
					return
				}
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err == nil {
					s.lines.Add(1)
					io.WriteString(conn, line)
				}
			}()
		}
	}()
	return s
}

func (s *authzEchoServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

// echo connects to port, sends a line and reads until the connection
// ends: an admitted connection returns the banner and the line.
func authzEcho(port int) (string, error) {
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 3*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		if authzIsReset(err) || strings.Contains(err.Error(), "broken pipe") {
			return "", nil // closed on accept
		}
		return "", err
	}
	b, err := io.ReadAll(conn)
	if errors.Is(err, net.ErrClosed) || authzIsReset(err) {
		err = nil // a refused connection may be reset rather than closed
	}
	return string(b), err
}

func authzIsReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}

// Network RBAC on tcp listeners: one admitting 127.0.0.1/32 proxies every
// connection; one denying 127.0.0.0/8 and one admitting only 10.0.0.0/8
// close every connection, without a byte of the upstream's.
func TestAuthzNetworkRBAC(t *testing.T) {
	g := newTLSRig(t)
	up := startAuthzEchoServer(t)
	g.put("services/echo", `{"protocol":"tcp"}`)
	g.put("endpoints/echo/e1", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, up.port()))
	ports := map[string]int{}
	for name, a := range map[string]map[string]any{
		"tcp-allowed": {"allow_cidrs": []string{"127.0.0.1/32"}},
		"tcp-denied":  {"deny_cidrs": []string{"127.0.0.0/8"}, "allow_cidrs": []string{"0.0.0.0/0"}},
		"tcp-ten":     {"allow_cidrs": []string{"10.0.0.0/8"}},
	} {
		ports[name] = harness.FreePort(t)
		g.putJSON("listeners/"+name, map[string]any{"address": "127.0.0.1", "port": ports[name], "protocol": "tcp",
			"service": "echo", "groups": []string{"edge"}, "authorization": a})
	}
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if out, err := authzEcho(ports["tcp-allowed"]); err != nil || out != "hello\nping\n" {
			return fmt.Errorf("tcp-allowed: %q %v", out, err)
		}
		for _, name := range []string{"tcp-denied", "tcp-ten"} {
			if !strings.Contains(string(g.envoy.Get(t, "/listeners")), name+"::") {
				return fmt.Errorf("%s: not in Envoy yet", name)
			}
		}
		return nil
	})
	for _, name := range []string{"tcp-allowed", "tcp-denied", "tcp-ten"} {
		lines, conns := up.lines.Load(), up.conns.Load()
		got := map[string]int{}
		for range authzRequests {
			out, err := authzEcho(ports[name])
			if err != nil {
				out = "error: " + err.Error()
			}
			got[out]++
		}
		reached, connected := up.lines.Load()-lines, up.conns.Load()-conns
		t.Logf("%s: %d proxied, %d closed at once, %d other; upstream connections %d, lines that reached it %d",
			name, got["hello\nping\n"], got[""], authzRequests-got["hello\nping\n"]-got[""], connected, reached)
		if name == "tcp-allowed" {
			if got["hello\nping\n"] != authzRequests || reached != authzRequests {
				t.Errorf("%s: want all %d connections proxied both ways", name, authzRequests)
			}
			continue
		}
		// A refused connection matches no filter chain that proxies: it is
		// closed on accept and the upstream never sees it, so a client of
		// a server-first protocol reads nothing of the upstream's.
		if got[""] != authzRequests || connected != 0 || reached != 0 {
			t.Errorf("%s: want all %d connections closed at once, none reaching the upstream", name, authzRequests)
		}
	}
	authzNoNACK(g)
}

// authzHTTPServer is an HTTP authorization service: 200 for a check request
// carrying x-allow: yes, 403 otherwise; checks counts them.
type authzHTTPServer struct {
	srv    *http.Server
	port   int
	checks atomic.Int64
}

func startAuthzHTTPServer(t *testing.T) *authzHTTPServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &authzHTTPServer{port: ln.Addr().(*net.TCPAddr).Port}
	s.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.checks.Add(1)
		if r.Header.Get("x-allow") == "yes" && strings.HasPrefix(r.URL.Path, "/check/") {
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusForbidden)
	})}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// External authorization over HTTP to a Service: requests with x-allow:
// yes pass, others get the service's 403, a route with ext_authz
// disabled is not checked; with the service stopped, a listener that
// fails closed answers 403 and one with failure_mode_allow lets requests
// through.
func TestAuthzExternalHTTP(t *testing.T) {
	g := newTLSRig(t)
	authz := startAuthzHTTPServer(t)
	g.put("services/authz", `{"protocol":"http"}`)
	g.put("endpoints/authz/a1", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, authz.port))
	g.putJSON("routes/checked", map[string]any{"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": []any{
		map[string]any{"match": map[string]any{"prefix": "/free/"}, "service": "web", "policy": map[string]any{"ext_authz": map[string]any{"disabled": true}}},
		map[string]any{"match": map[string]any{"prefix": "/"}, "service": "web"},
	}}}})
	closed, open := harness.FreePort(t), harness.FreePort(t)
	for name, l := range map[string]struct {
		port  int
		allow bool
	}{"closed": {closed, false}, "open": {open, true}} {
		g.putJSON("listeners/"+name, map[string]any{"address": "127.0.0.1", "port": l.port, "protocol": "http", "route_table": "checked",
			"groups": []string{"edge"}, "ext_authz": map[string]any{"service": "authz", "protocol": "http", "timeout": "1s",
				"path_prefix": "/check", "headers_to_authorize": []string{"x-allow"}, "failure_mode_allow": l.allow}})
	}
	yes := map[string]string{"x-allow": "yes"}
	get := func(port int, path string, h map[string]string) func() (int, string, error) {
		return func() (int, string, error) { return authzGet(port, path, h) }
	}
	authzWaitStatus(t, "closed with x-allow", 200, get(closed, "/x", yes))
	authzWaitStatus(t, "open with x-allow", 200, get(open, "/x", yes))
	checks := authz.checks.Load()
	for _, port := range []int{closed, open} {
		authzWantAll(t, fmt.Sprintf(":%d with x-allow: yes", port), authzStatuses(authzRequests, get(port, "/x", yes)), 200)
		authzWantAll(t, fmt.Sprintf(":%d without x-allow", port), authzStatuses(authzRequests, get(port, "/x", nil)), 403)
		authzWantAll(t, fmt.Sprintf(":%d /free/ without x-allow", port), authzStatuses(authzRequests, get(port, "/free/x", nil)), 200)
	}
	if got := authz.checks.Load() - checks; got != 4*authzRequests {
		t.Errorf("the authorization service saw %d checks, want %d (none for /free/)", got, 4*authzRequests)
	}

	authz.srv.Close()
	authzWaitStatus(t, "closed with the service down", 403, get(closed, "/x", yes))
	authzWantAll(t, "fail closed, service down, with x-allow", authzStatuses(authzRequests, get(closed, "/x", yes)), 403)
	authzWantAll(t, "failure_mode_allow, service down, with x-allow", authzStatuses(authzRequests, get(open, "/x", yes)), 200)
	authzWantAll(t, "failure_mode_allow, service down, without x-allow", authzStatuses(authzRequests, get(open, "/x", nil)), 200)
	errs := envoyStats(t, g.envoy, `^http\.(closed|open)\.ext_authz\.(error|failure_mode_allowed)$`)
	t.Logf("Envoy ext_authz stats with the service down: %v", errs)
	if errs["http.closed.ext_authz.error"] < authzRequests || errs["http.open.ext_authz.failure_mode_allowed"] < 2*authzRequests {
		t.Errorf("Envoy ext_authz stats %v: want at least %d errors on closed and %d failure_mode_allowed on open", errs, authzRequests, 2*authzRequests)
	}
	authzNoNACK(g)
}
