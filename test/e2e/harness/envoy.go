package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"text/template"
	"time"
)

// EnvoyOptions configures one Envoy and its bootstrap.
type EnvoyOptions struct {
	// NodeID is node.id; empty picks envoy-1, envoy-2, ...
	NodeID string
	// Group is node.cluster, the node group Chancery serves; empty means "default".
	Group string
	// XDSAddresses are host:port addresses of control-plane replicas, all
	// endpoints of the static xds cluster that ADS connects through.
	XDSAddresses []string
	// Delta selects DELTA_GRPC ADS instead of state-of-the-world GRPC.
	Delta bool
	// ReconnectMax caps the backoff between xDS stream attempts; zero means 1s
	// (Envoy's own default of 30s would make failover tests slow).
	ReconnectMax time.Duration
	// LogLevel is --log-level; empty means info.
	LogLevel string
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// AdminOnly makes StartEnvoy wait only for the admin port, not for /ready:
	// for an Envoy whose control plane is not up (it stays INITIALIZING until
	// its first xDS fetch or the initial fetch timeout).
	AdminOnly bool
	// ReadyTimeout bounds the wait in StartEnvoy; zero means 30s.
	ReadyTimeout time.Duration
}

// Envoy is one bin/envoy process with a generated bootstrap.
type Envoy struct {
	t        testing.TB
	opts     EnvoyOptions
	adminURL string
	config   string
	proc     *process
}

var envoySeq atomic.Int64

// bootstrapTemplate is the smallest bootstrap that takes everything from ADS.
var bootstrapTemplate = template.Must(template.New("bootstrap").Parse(`node:
  id: {{.NodeID}}
  cluster: {{.Group}}
admin:
  address:
    socket_address: {address: 127.0.0.1, port_value: {{.AdminPort}}}
dynamic_resources:
  ads_config:
    api_type: {{if .Delta}}DELTA_GRPC{{else}}GRPC{{end}}
    transport_api_version: V3
    set_node_on_first_message_only: true
    grpc_services:
    - envoy_grpc:
        cluster_name: xds
        retry_policy:
          retry_back_off: {base_interval: {{.BackoffBase}}, max_interval: {{.BackoffMax}}}
  cds_config: {ads: {}, resource_api_version: V3}
  lds_config: {ads: {}, resource_api_version: V3}
static_resources:
  clusters:
  - name: xds
    type: {{.XDSClusterType}}
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {}
    load_assignment:
      cluster_name: xds
      endpoints:
      - lb_endpoints:
{{- range .XDS}}
        - endpoint:
            address:
              socket_address: {address: "{{.Host}}", port_value: {{.Port}}}
{{- end}}
`))

type bootstrapParams struct {
	EnvoyOptions
	AdminPort               int
	XDSClusterType          string
	XDS                     []hostPort
	BackoffBase, BackoffMax string
}

type hostPort struct {
	Host string
	Port int
}

// StartEnvoy writes a bootstrap, starts bin/envoy and waits until /ready
// answers 200 (LIVE), or only until the admin port answers if opts.AdminOnly.
func StartEnvoy(t testing.TB, opts EnvoyOptions) *Envoy {
	t.Helper()
	bin := binary(t, "envoy")
	if opts.NodeID == "" {
		opts.NodeID = fmt.Sprintf("envoy-%d", envoySeq.Add(1))
	}
	if opts.Group == "" {
		opts.Group = "default"
	}
	if opts.ReconnectMax == 0 {
		opts.ReconnectMax = time.Second
	}
	if opts.LogLevel == "" {
		opts.LogLevel = "info"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	params := bootstrapParams{
		EnvoyOptions:   opts,
		XDSClusterType: "STATIC",
		BackoffMax:     durationYAML(opts.ReconnectMax),
		BackoffBase:    durationYAML(min(opts.ReconnectMax, 100*time.Millisecond)),
	}
	if len(opts.XDSAddresses) == 0 {
		t.Fatalf("envoy %s: no XDSAddresses", opts.NodeID)
	}
	for _, addr := range opts.XDSAddresses {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("envoy %s: xDS address %q: %v", opts.NodeID, addr, err)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatalf("envoy %s: xDS address %q: %v", opts.NodeID, addr, err)
		}
		if net.ParseIP(host) == nil {
			params.XDSClusterType = "STRICT_DNS"
		}
		params.XDS = append(params.XDS, hostPort{Host: host, Port: n})
	}

	dir := t.TempDir()
	var e *Envoy
	startRetrying(t, "envoy "+opts.NodeID, func() ([]*process, error) {
		params.AdminPort = FreePort(t)
		e = &Envoy{
			t:        t,
			opts:     opts,
			adminURL: fmt.Sprintf("http://127.0.0.1:%d", params.AdminPort),
			config:   filepath.Join(dir, opts.NodeID+".yaml"),
		}
		var buf bytes.Buffer
		if err := bootstrapTemplate.Execute(&buf, params); err != nil {
			return nil, fmt.Errorf("render bootstrap: %w", err)
		}
		if err := os.WriteFile(e.config, buf.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("write bootstrap: %w", err)
		}
		args := []string{
			"-c", e.config,
			// --base-id names the shared memory of hot restart; a distinct one per
			// Envoy keeps parallel Envoys apart even if hot restart were enabled.
			"--base-id", strconv.Itoa(1 + rand.IntN(60000)),
			"--disable-hot-restart",
			"--log-level", opts.LogLevel,
			"--concurrency", "1",
		}
		args = append(args, opts.ExtraArgs...)
		e.proc = newProcess(t, "envoy "+opts.NodeID, bin, filepath.Join(dir, opts.NodeID+".log"), args)
		if err := e.proc.start(); err != nil {
			return []*process{e.proc}, err
		}
		if opts.AdminOnly {
			return []*process{e.proc}, e.waitAdmin()
		}
		return []*process{e.proc}, e.waitReady()
	})
	return e
}

func durationYAML(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s"
}

func (e *Envoy) waitAdmin() error {
	return e.proc.waitUntil(e.opts.ReadyTimeout, "answer from admin /server_info", func() error {
		_, err := getOK(e.adminURL + "/server_info")
		return err
	})
}

func (e *Envoy) waitReady() error {
	return e.proc.waitUntil(e.opts.ReadyTimeout, "200 (LIVE) from admin /ready", func() error {
		_, err := getOK(e.adminURL + "/ready")
		return err
	})
}

// WaitAdmin waits until the admin server answers, whatever the server state.
func (e *Envoy) WaitAdmin(t testing.TB) {
	t.Helper()
	if err := e.waitAdmin(); err != nil {
		t.Fatal(err)
	}
}

// WaitReady waits until /ready answers 200, i.e. the initial xDS fetch is done.
func (e *Envoy) WaitReady(t testing.TB) {
	t.Helper()
	if err := e.waitReady(); err != nil {
		t.Fatal(err)
	}
}

// NodeID returns the Envoy's node.id.
func (e *Envoy) NodeID() string { return e.opts.NodeID }

// AdminURL returns the admin base URL, http://127.0.0.1:port.
func (e *Envoy) AdminURL() string { return e.adminURL }

// ConfigPath returns the bootstrap file the Envoy runs with.
func (e *Envoy) ConfigPath() string { return e.config }

// LogPath returns the file that holds the Envoy's output.
func (e *Envoy) LogPath() string { return e.proc.logPath }

// PID returns the process ID of the current run (0 before the first start):
// a test that must not restart Envoy compares it before and after.
func (e *Envoy) PID() int {
	if e.proc.run == nil {
		return 0
	}
	return e.proc.run.cmd.Process.Pid
}

// Get fetches path from the admin server and fails the test unless it answers
// 200.
func (e *Envoy) Get(t testing.TB, path string) []byte {
	t.Helper()
	body, err := e.Fetch(path)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return body
}

// Fetch is Get for a caller that waits: an Envoy busy taking a large
// update may answer its admin interface late.
func (e *Envoy) Fetch(path string) ([]byte, error) {
	body, err := getOK(e.adminURL + path)
	if err != nil {
		return nil, fmt.Errorf("envoy %s: %w", e.opts.NodeID, err)
	}
	return body, nil
}

// Stat returns the counter or gauge name from /stats, and whether it exists.
func (e *Envoy) Stat(t testing.TB, name string) (int64, bool) {
	t.Helper()
	v, ok, err := e.FetchStat(name)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return v, ok
}

// FetchStat is Stat for a caller that waits (Fetch).
func (e *Envoy) FetchStat(name string) (int64, bool, error) {
	body, err := e.Fetch("/stats?filter=" + url.QueryEscape("^"+regexp.QuoteMeta(name)+"$"))
	if err != nil {
		return 0, false, err
	}
	v, ok := parseStat(body, name)
	return v, ok, nil
}

// parseStat finds "name: value" in /stats text; histograms and text readouts do
// not parse as integers and count as absent.
func parseStat(body []byte, name string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok || k != name {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

// Clusters returns the admin /clusters text: every cluster, host and health flag.
func (e *Envoy) Clusters(t testing.TB) string {
	t.Helper()
	return string(e.Get(t, "/clusters"))
}

// Stop sends SIGTERM and waits for the Envoy to exit.
func (e *Envoy) Stop() {
	e.t.Helper()
	if err := e.proc.stop(10 * time.Second); err != nil && !isSignalExit(err) {
		e.t.Errorf("stop envoy %s: %v", e.opts.NodeID, err)
	}
}
