package harness

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"
)

// HAProxyBackend is one server behind HAProxy: traffic goes to Addr, the
// health check is GET /readyz on CheckPort of the same host.
type HAProxyBackend struct {
	Name      string
	Addr      string // host:port of the xDS server
	CheckPort int    // the replica's admin port
}

// HAProxyOptions configures StartHAProxy.
type HAProxyOptions struct {
	Backends []HAProxyBackend
	// Balance is the backend's balance algorithm; empty means roundrobin.
	// "first" sends every connection to the first server that is up, so
	// a test knows which replica holds its Envoys.
	Balance string
	// CheckInterval is how often each server is checked; zero means 500ms.
	// A server goes down after 2 failed checks and up after 2 good ones.
	CheckInterval time.Duration
}

// HAProxy is a haproxy process in TCP mode in front of chancery replicas,
// run in the foreground on loopback ports with a config in t.TempDir().
// When a server is marked down its connections are shut, so Envoys
// reconnect through HAProxy to a server that is up.
type HAProxy struct {
	t        testing.TB
	addr     string
	statsURL string
	proc     *process
}

var haproxyConfig = template.Must(template.New("haproxy").Parse(`global
    # Two descriptors a connection, within the 20000 a test process may have.
    maxconn 9000

defaults
    mode tcp
    timeout connect 1s
    # xDS streams live for hours; gRPC keepalives, not HAProxy, find dead ones.
    timeout client 1h
    timeout server 1h
    timeout check 1s
    retries 3
    option redispatch

frontend xds
    bind {{.Addr}}
    default_backend replicas

backend replicas
    balance {{.Balance}}
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {{.Inter}} fastinter {{.Inter}} downinter {{.Inter}} fall 2 rise 2 on-marked-down shutdown-sessions
{{- range .Backends}}
    server {{.Name}} {{.Addr}} check port {{.CheckPort}}
{{- end}}

listen stats
    mode http
    bind {{.Stats}}
    stats enable
    stats uri /stats
    stats refresh 1s
`))

// StartHAProxy writes a config, starts haproxy and waits until its stats
// page answers; WaitStatus waits for the servers' states.
func StartHAProxy(t testing.TB, opts HAProxyOptions) *HAProxy {
	t.Helper()
	bin := systemBinary(t, "haproxy", "scripts/install-haproxy.sh")
	if opts.Balance == "" {
		opts.Balance = "roundrobin"
	}
	if opts.CheckInterval == 0 {
		opts.CheckInterval = 500 * time.Millisecond
	}
	dir := t.TempDir()
	var h *HAProxy
	startRetrying(t, "haproxy", func() ([]*process, error) {
		h = &HAProxy{t: t, addr: loopback(FreePort(t))}
		stats := loopback(FreePort(t))
		h.statsURL = "http://" + stats + "/stats;csv"
		var buf bytes.Buffer
		if err := haproxyConfig.Execute(&buf, map[string]any{
			"Addr": h.addr, "Stats": stats, "Balance": opts.Balance, "Backends": opts.Backends,
			"Inter": fmt.Sprintf("%dms", opts.CheckInterval.Milliseconds()),
		}); err != nil {
			return nil, fmt.Errorf("render haproxy config: %w", err)
		}
		config := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(config, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("write haproxy config: %w", err)
		}
		// -db: stay in the foreground, so the harness owns the process.
		h.proc = newProcess(t, "haproxy", bin, filepath.Join(dir, "haproxy.log"), []string{"-db", "-f", config})
		if err := h.proc.start(); err != nil {
			return []*process{h.proc}, err
		}
		return []*process{h.proc}, h.proc.waitUntil(10*time.Second, "stats page", func() error {
			_, err := getOK(h.statsURL)
			return err
		})
	})
	return h
}

// systemBinary finds an installed program on the PATH or in /usr/sbin; a
// missing one skips the test, or fails it when CHANCERY_E2E=required.
func systemBinary(t testing.TB, name, installer string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	if path := filepath.Join("/usr/sbin", name); isExecutable(path) {
		return path
	}
	if os.Getenv("CHANCERY_E2E") == "required" {
		t.Fatalf("%s is not installed: run %s (make tools)", name, installer)
	}
	t.Skipf("%s is not installed: run %s (CHANCERY_E2E=required turns this skip into a failure)", name, installer)
	return ""
}

func isExecutable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0
}

// Addr returns the frontend address, 127.0.0.1:port, that Envoys connect to.
func (h *HAProxy) Addr() string { return h.addr }

// LogPath returns the file that holds HAProxy's output.
func (h *HAProxy) LogPath() string { return h.proc.logPath }

// ServerStatus returns the status of every server of the backend by name,
// as HAProxy's stats say it: "UP", "DOWN", "UP 1/2" (going down), "DOWN 1/2"
// (coming up), ...
func (h *HAProxy) ServerStatus() (map[string]string, error) {
	body, err := getOK(h.statsURL)
	if err != nil {
		return nil, err
	}
	rows, err := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(body, []byte("# ")))).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("parse haproxy stats: %w", err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("haproxy stats are empty")
	}
	col := map[string]int{}
	for i, name := range rows[0] {
		col[name] = i
	}
	out := map[string]string{}
	for _, row := range rows[1:] {
		if len(row) > col["status"] && row[col["pxname"]] == "replicas" && row[col["svname"]] != "BACKEND" {
			out[row[col["svname"]]] = row[col["status"]]
		}
	}
	return out, nil
}

// WaitStatus waits until every named server has the given status ("UP" or
// "DOWN").
func (h *HAProxy) WaitStatus(t testing.TB, timeout time.Duration, want map[string]string) {
	t.Helper()
	Eventually(t, timeout, 50*time.Millisecond, func() error {
		got, err := h.ServerStatus()
		if err != nil {
			return err
		}
		for name, st := range want {
			if got[name] != st {
				return fmt.Errorf("haproxy servers %v, want %v", got, want)
			}
		}
		return nil
	})
}

// UpServers returns the names of the servers HAProxy would send a new
// connection to now: those up, including those failing checks but not yet
// down ("UP 1/2").
func UpServers(status map[string]string) []string {
	var up []string
	for name, st := range status {
		if strings.HasPrefix(st, "UP") {
			up = append(up, name)
		}
	}
	return up
}
