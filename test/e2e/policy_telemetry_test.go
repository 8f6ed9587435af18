package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// logWait bounds the wait for Envoy to write a line: it flushes access
// log files every second by default, and both cores may be busy.
const logWait = 20 * time.Second

// An http listener with two JSON access logs, one of them for responses of
// 400 and up: each request's line carries the chosen fields with their
// values and types, the filtered log holds the 404 and not the 200, and the
// listener's and the route's stat prefixes name their stats. A tcp
// listener's text log has one line per connection.
func TestTelemetryAccessLogs(t *testing.T) {
	g := newRig(t)
	dir := t.TempDir()
	all, errs, conns := filepath.Join(dir, "all.json"), filepath.Join(dir, "errors.json"), filepath.Join(dir, "tcp.log")
	fields := map[string]string{
		"status": "%RESPONSE_CODE%", "method": "%REQ(:METHOD)%", "path": "%REQ(:PATH)%", "upstream": "%UPSTREAM_HOST%",
		"duration_ms": "%DURATION%", "test_id": "%REQ(x-test-id)%", "tag": "chancery-%PROTOCOL%",
	}
	g.put("routes/logged", telemetrySpec(t, map[string]any{"virtual_hosts": []any{map[string]any{"name": "logged", "domains": []string{"*"},
		"routes": []any{
			map[string]any{"match": map[string]any{"path": "/missing"}, "direct_response": map[string]any{"status": 404}},
			map[string]any{"match": map[string]any{"prefix": "/api/"}, "service": "web", "stat_prefix": "logged_api"},
		}}}}))
	httpPort, tcpPort := harness.FreePort(t), harness.FreePort(t)
	g.put("listeners/logged", telemetrySpec(t, map[string]any{"address": "127.0.0.1", "port": httpPort, "protocol": "http",
		"route_table": "logged", "groups": []string{"edge"}, "stat_prefix": "logged_in",
		"access_logs": []any{
			map[string]any{"path": all, "format": "json", "fields": fields},
			map[string]any{"path": errs, "format": "json", "fields": fields, "status": map[string]any{"min": 400}},
		}}))
	g.put("listeners/logged-tcp", telemetrySpec(t, map[string]any{"address": "127.0.0.1", "port": tcpPort, "protocol": "tcp",
		"service": "web", "groups": []string{"edge"}, "stat_prefix": "logged_tcp",
		"access_logs": []any{map[string]any{"path": conns, "text": "conn %DOWNSTREAM_REMOTE_ADDRESS% %UPSTREAM_HOST% %BYTES_RECEIVED%"}}}))
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		g.failOnNACK()
		st, _, err := sendTestID(http.MethodGet, base+"/api/warmup", "warmup")
		if err != nil || st != 200 {
			return fmt.Errorf("listener logged: %d %v", st, err)
		}
		return nil
	})

	// A 200 from the upstream, logged before the 404 is sent: the filtered
	// log has by then decided on it.
	if st, _, err := sendTestID(http.MethodGet, base+"/api/ok?x=1", "ok-200"); err != nil || st != 200 {
		t.Fatalf("GET /api/ok: %d %v", st, err)
	}
	ok := waitLogLine(t, all, "ok-200")
	if st, _, err := sendTestID(http.MethodDelete, base+"/missing", "missing-404"); err != nil || st != 404 {
		t.Fatalf("DELETE /missing: %d %v", st, err)
	}
	missing := waitLogLine(t, all, "missing-404")
	upHost, upPort := g.webUpstream(t)
	checkLogField(t, ok, "status", float64(200))
	checkLogField(t, ok, "method", "GET")
	checkLogField(t, ok, "path", "/api/ok?x=1")
	checkLogField(t, ok, "upstream", fmt.Sprintf("%s:%d", upHost, upPort))
	checkLogField(t, ok, "tag", "chancery-HTTP/1.1")
	checkLogField(t, missing, "status", float64(404))
	checkLogField(t, missing, "method", "DELETE")
	checkLogField(t, missing, "path", "/missing")
	if u, _ := missing["upstream"].(string); strings.Contains(u, ":") {
		t.Errorf("a direct response names upstream %q", u)
	}
	for _, line := range []map[string]any{ok, missing} {
		// JSON numbers: one operator alone keeps its type. Bounded by the
		// test's own request timeout.
		if d, isNum := line["duration_ms"].(float64); !isNum || d < 0 || d > 2000 {
			t.Errorf("duration_ms %v (%T), want a number of 0-2000 ms", line["duration_ms"], line["duration_ms"])
		}
	}
	waitLogLine(t, errs, "missing-404")
	filtered := readLogLines(t, errs)
	if len(filtered) != 1 {
		t.Errorf("the log of status >= 400 holds %d lines, want the 404's alone: %v", len(filtered), filtered)
	}
	for _, l := range filtered {
		if st, _ := l["status"].(float64); st < 400 {
			t.Errorf("the log of status >= 400 holds %v", l)
		}
	}
	t.Logf("all.json: 200 line %v; 404 line %v; errors.json holds %d line(s)", ok, missing, len(filtered))

	// Stats under the listener's and the route's prefixes.
	harness.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
		if n, _ := g.envoy.Stat(t, "http.logged_in.downstream_rq_completed"); n < 3 {
			return fmt.Errorf("http.logged_in.downstream_rq_completed = %d, want at least 3", n)
		}
		if n, _ := g.envoy.Stat(t, "vhost.logged.route.logged_api.upstream_rq_completed"); n < 2 {
			return fmt.Errorf("vhost.logged.route.logged_api.upstream_rq_completed = %d, want at least 2", n)
		}
		return nil
	})

	// The tcp listener: a line per connection, written when it closes.
	const conns3 = 3
	var locals []string
	for i := range conns3 {
		local, n := tcpThrough(t, fmt.Sprintf("127.0.0.1:%d", tcpPort))
		locals = append(locals, local)
		t.Logf("tcp connection %d from %s sent %d bytes", i, local, n)
	}
	var lines []string
	harness.Eventually(t, logWait, 100*time.Millisecond, func() error {
		lines = strings.Split(strings.TrimSpace(readLog(t, conns)), "\n")
		if len(lines) < conns3 || lines[0] == "" {
			return fmt.Errorf("tcp.log has %d lines, want %d", len(lines), conns3)
		}
		return nil
	})
	if len(lines) != conns3 {
		t.Errorf("tcp.log has %d lines, want one per connection (%d): %q", len(lines), conns3, lines)
	}
	for _, local := range locals {
		want := fmt.Sprintf("conn %s %s:%d %d", local, upHost, upPort, len(tcpRequestText))
		if n := strings.Count("\n"+strings.Join(lines, "\n")+"\n", "\n"+want+"\n"); n != 1 {
			t.Errorf("tcp.log has %d lines %q, want 1; lines: %q", n, want, lines)
		}
	}
	g.checkEnvoyAccepted([]string{"http.logged_in.rds.logged.update_rejected"})
}

// sendTestID makes one request through Envoy carrying x-test-id.
func sendTestID(method, url, id string) (int, string, error) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("x-test-id", id)
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

const tcpRequestText = "GET / HTTP/1.0\r\n\r\n"

// tcpThrough sends one HTTP/1.0 request over a raw connection through the
// tcp listener and reads to the end, which the upstream closes; it returns
// the connection's local address and the bytes read.
func tcpThrough(t *testing.T, addr string) (string, int) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, tcpRequestText); err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(c)
	if err != nil || !strings.Contains(string(b), "up1") {
		t.Fatalf("through the tcp listener: %q %v", b, err)
	}
	return c.LocalAddr().String(), len(b)
}

// webUpstream is where the rig's service web listens (endpoints/web/up1).
func (g *rig) webUpstream(t *testing.T) (string, int) {
	t.Helper()
	var ep struct {
		Address string `json:"address"`
		Port    int    `json:"port"`
	}
	out := harness.MustEtcdctl(t, g.etcd.Endpoint(), "get", "--print-value-only", prefix+"/endpoints/web/up1")
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &ep); err != nil {
		t.Fatalf("endpoints/web/up1 %q: %v", out, err)
	}
	return ep.Address, ep.Port
}

// waitLogLine waits until the JSON log at path has the line of test_id id.
func waitLogLine(t *testing.T, path, id string) map[string]any {
	t.Helper()
	var found map[string]any
	harness.Eventually(t, logWait, 100*time.Millisecond, func() error {
		for _, l := range readLogLines(t, path) {
			if l["test_id"] == id {
				found = l
				return nil
			}
		}
		return fmt.Errorf("%s has no line with test_id %q yet", filepath.Base(path), id)
	})
	return found
}

// readLogLines parses every line of a JSON access log; a file Envoy has
// not created yet holds none.
func readLogLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(readLog(t, path)))
	for sc.Scan() {
		var l map[string]any
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("%s: a line that is not JSON: %q: %v", filepath.Base(path), sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

// readLog reads a log; one Envoy has not created yet is empty.
func readLog(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func checkLogField(t *testing.T, line map[string]any, key string, want any) {
	t.Helper()
	if got := line[key]; got != want {
		t.Errorf("line %v: %s = %v (%T), want %v (%T)", line["test_id"], key, got, got, want, want)
	}
}

func telemetrySpec(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A log file Envoy cannot open is the one access log problem Chancery
// cannot see: the path is valid, but its directory is missing on the
// Envoy's host. Envoy refuses that listener (a NACK, counted), keeps
// serving the others, and takes the listener once the path is fixed.
func TestTelemetryLogPathEnvoyCannotOpen(t *testing.T) {
	g := newRig(t)
	port := harness.FreePort(t)
	missing := filepath.Join(t.TempDir(), "no-such-dir", "a.log")
	listener := func(path string) string {
		return telemetrySpec(t, map[string]any{"address": "127.0.0.1", "port": port, "protocol": "http", "route_table": "web",
			"groups": []string{"edge"}, "access_logs": []any{map[string]any{"path": path}}})
	}
	g.put("listeners/unopenable", listener(missing))
	harness.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n, _ := g.envoy.Stat(t, "listener_manager.lds.update_rejected"); n < 1 {
			return fmt.Errorf("Envoy has not refused the listener yet (update_rejected %d)", n)
		}
		return nil
	})
	if n := metric(t, g.r, "chancery_xds_nacks_total", nil); n < 1 {
		t.Errorf("replica counted %v NACKs, want the refusal counted", n)
	}
	proxies := string(g.r.Get(t, "/debug/proxies"))
	var nack string
	for _, line := range strings.Split(proxies, "\n") {
		if strings.Contains(line, "no-such-dir") {
			nack = strings.TrimSpace(line)
		}
	}
	if nack == "" {
		t.Fatalf("the replica's view of the NACK does not name the path: %.2000s", proxies)
	}
	t.Logf("the NACK as the replica reports it: %.400s", nack)
	if _, _, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port), ""); err == nil {
		t.Errorf("the listener with an unopenable log serves")
	}
	g.waitServing() // main is unaffected
	fixed := filepath.Join(t.TempDir(), "a.log")
	g.put("listeners/unopenable", listener(fixed))
	harness.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		st, _, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", port), "")
		if err != nil || st != 200 {
			return fmt.Errorf("fixed listener: %d %v", st, err)
		}
		return nil
	})
	harness.Eventually(t, logWait, 100*time.Millisecond, func() error {
		if !strings.Contains(readLog(t, fixed), "GET / HTTP/1.1\" 200") {
			return fmt.Errorf("no default-format line for GET / in %s yet", fixed)
		}
		return nil
	})
}
