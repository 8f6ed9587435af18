package e2e

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// inspectUpstream answers every request with its name, the request URI and
// the Host it saw, so that a test sees what Envoy sent upstream.
func inspectUpstream(t *testing.T, name string) (host string, port int) {
	t.Helper()
	return serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Upstream", name)
		fmt.Fprintf(w, "%s uri=%s host=%s", name, r.URL.RequestURI(), r.Host)
	}))
}

// websocketUpstream completes a WebSocket handshake (RFC 6455: 101 with the
// key's accept value) and then echoes every byte it reads; anything else
// gets 400.
func websocketUpstream(t *testing.T) (host string, port int) {
	t.Helper()
	return serveUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want a websocket upgrade", http.StatusBadRequest)
			return
		}
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return // the client went away
		}
		defer conn.Close()
		sum := sha1.Sum([]byte(r.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			base64.StdEncoding.EncodeToString(sum[:]))
		if rw.Flush() != nil {
			return
		}
		buf := make([]byte, 4096)
		for { // ends when Envoy or the client closes the connection
			n, err := rw.Read(buf)
			if n > 0 {
				if _, werr := conn.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}))
}

// serveUpstream serves h on a free loopback port until the test ends.
func serveUpstream(t *testing.T, h http.Handler) (host string, port int) {
	return "127.0.0.1", serveLoopback(t, h)
}

// upgrade sends a WebSocket upgrade for path to Envoy on a raw connection
// and returns the response and, if it switched protocols, the connection.
func upgrade(t *testing.T, port int, path string) (*http.Response, net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: ws.example.com\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", path)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("upgrade %s: %v", path, err)
	}
	return resp, conn, br
}

// send makes one request through Envoy and returns its status, headers and body.
func send(t *testing.T, method, url string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v // net/http sends req.Host, not a Host header
			continue
		}
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

// The routing additions through a real Envoy: a WebSocket upgrade goes
// through where the route allows it and is refused where it does not; a
// query parameter picks a service; a regex rewrite and a host rewrite reach
// the upstream; a CORS preflight is answered for an allowed origin only;
// hashing on a header sticks one value to one endpoint of a ring_hash
// service and spreads many values.
func TestRoutingThroughEnvoy(t *testing.T) {
	g := newRig(t)
	endpoint := func(key, host string, port int) {
		g.put("endpoints/"+key, fmt.Sprintf(`{"address":%q,"port":%d}`, host, port))
	}
	h, p := inspectUpstream(t, "web")
	endpoint("web/up1", h, p)
	g.put("services/v2", `{"protocol":"http"}`)
	h, p = inspectUpstream(t, "v2")
	endpoint("v2/a", h, p)
	g.put("services/ws", `{"protocol":"http"}`)
	h, p = websocketUpstream(t)
	endpoint("ws/a", h, p)
	g.put("services/sticky", `{"protocol":"http","lb_policy":"ring_hash"}`)
	for _, name := range []string{"h1", "h2"} {
		h, p = inspectUpstream(t, name)
		endpoint("sticky/"+name, h, p)
	}
	g.put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],
		"policy":{"cors":{"allow_origins":[{"exact":"https://app.example.com"}],"allow_methods":["GET","PUT"],"max_age":"10m"}},
		"routes":[
		{"match":{"prefix":"/ws/"},"service":"ws","upgrades":["websocket"]},
		{"match":{"prefix":"/ws-refused/"},"service":"ws"},
		{"match":{"prefix":"/q/","query_parameters":[{"name":"v","exact":"2"}]},"service":"v2"},
		{"match":{"prefix":"/rx/"},"service":"web","regex_rewrite":{"pattern":"^/rx/([a-z]+)/([0-9]+)$","substitution":"/items/\\2/\\1"}},
		{"match":{"prefix":"/host/"},"service":"web","host_rewrite":"backend.internal"},
		{"match":{"prefix":"/hash/"},"service":"sticky","hash_policy":[{"header":"x-user"}]},
		{"match":{"prefix":"/"},"service":"web"}]}]}`)
	url := func(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", g.port, path) }
	// The table is in when the query match answers; the ring when both endpoints are in it.
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		g.failOnNACK()
		st, body, err := harness.HTTPGet(url("/q/a?v=2"), "")
		if err != nil || st != 200 || !strings.HasPrefix(body, "v2 ") {
			return fmt.Errorf("GET /q/a?v=2: %d %q %v", st, body, err)
		}
		if n, ok := g.envoy.Stat(t, "cluster.sticky.membership_healthy"); !ok || n != 2 {
			return fmt.Errorf("sticky has %d healthy endpoints in Envoy, want 2", n)
		}
		return nil
	})
	g.checkEnvoyAccepted([]string{"http.main.rds.web.update_rejected"})

	t.Run("websocket", func(t *testing.T) {
		resp, conn, br := upgrade(t, g.port, "/ws/chat")
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade on a route with upgrades: [websocket]: %s, want 101", resp.Status)
		}
		for i := range 5 {
			msg := fmt.Sprintf("ping-%d;", i)
			if _, err := io.WriteString(conn, msg); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != msg {
				t.Fatalf("echo %d: %q %v, want %q", i, got, err, msg)
			}
		}
		refused, _, _ := upgrade(t, g.port, "/ws-refused/chat")
		if refused.StatusCode != http.StatusForbidden {
			t.Errorf("upgrade on a route without upgrades: %s, want 403 (Envoy refuses the upgrade)", refused.Status)
		}
		t.Logf("5 messages echoed over the upgraded connection; without upgrades: %s", refused.Status)
	})

	t.Run("query parameter", func(t *testing.T) {
		for path, want := range map[string]string{"/q/a?v=2": "v2", "/q/a?v=1": "web", "/q/a": "web", "/q/a?x=1&v=2": "v2"} {
			st, _, body := send(t, http.MethodGet, url(path), nil)
			if st != 200 || !strings.HasPrefix(body, want+" ") {
				t.Errorf("GET %s: %d %q, want 200 from %s", path, st, body, want)
			}
		}
	})

	t.Run("regex rewrite", func(t *testing.T) {
		st, _, body := send(t, http.MethodGet, url("/rx/abc/42"), nil)
		if st != 200 || !strings.Contains(body, "uri=/items/42/abc ") {
			t.Errorf("GET /rx/abc/42: %d %q, want the upstream to see /items/42/abc", st, body)
		}
	})

	t.Run("host rewrite", func(t *testing.T) {
		st, _, body := send(t, http.MethodGet, url("/host/x"), map[string]string{"Host": "client.example.com"})
		if st != 200 || !strings.HasSuffix(body, "host=backend.internal") {
			t.Errorf("GET /host/x: %d %q, want the upstream to see Host backend.internal", st, body)
		}
	})

	t.Run("cors preflight", func(t *testing.T) {
		preflight := func(origin string) (int, http.Header) {
			st, hdr, _ := send(t, http.MethodOptions, url("/api/items"), map[string]string{
				"Origin": origin, "Access-Control-Request-Method": "PUT"})
			return st, hdr
		}
		st, hdr := preflight("https://app.example.com")
		if st != 200 || hdr.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
			hdr.Get("Access-Control-Allow-Methods") != "GET,PUT" || hdr.Get("Access-Control-Max-Age") != "600" || hdr.Get("X-Upstream") != "" {
			t.Errorf("preflight from an allowed origin: %d %v, want Envoy's 200 with the allow headers", st, hdr)
		}
		st, hdr = preflight("https://evil.example.com")
		if hdr.Get("Access-Control-Allow-Origin") != "" || hdr.Get("Access-Control-Allow-Methods") != "" {
			t.Errorf("preflight from another origin got %v, want no access-control-allow-* headers", hdr)
		}
		if hdr.Get("X-Upstream") != "web" {
			t.Errorf("preflight from another origin: %d %v, want it passed to the upstream", st, hdr)
		}
		_, hdr, _ = send(t, http.MethodGet, url("/api/items"), map[string]string{"Origin": "https://app.example.com"})
		if hdr.Get("Access-Control-Allow-Origin") != "https://app.example.com" {
			t.Errorf("GET from an allowed origin: %v, want access-control-allow-origin", hdr)
		}
	})

	t.Run("hash policy", func(t *testing.T) {
		upstreamOf := func(user string) string {
			st, hdr, body := send(t, http.MethodGet, url("/hash/x"), map[string]string{"X-User": user})
			if st != 200 {
				t.Fatalf("GET /hash/x as %s: %d %q", user, st, body)
			}
			return hdr.Get("X-Upstream")
		}
		first := upstreamOf("alice")
		for i := range 50 {
			if got := upstreamOf("alice"); got != first {
				t.Fatalf("request %d of x-user alice went to %s, the first to %s", i, got, first)
			}
		}
		seen := map[string]int{}
		for i := range 20 {
			seen[upstreamOf(fmt.Sprintf("user-%d", i))]++
		}
		if len(seen) < 2 {
			t.Errorf("20 x-user values all went to %v, want both endpoints used", seen)
		}
		t.Logf("51 requests of alice all to %s; 20 users spread %v", first, seen)
	})
	g.checkEnvoyAccepted([]string{"http.main.rds.web.update_rejected"})
}
