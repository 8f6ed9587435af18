package harness

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// ChanceryOptions configures one chancery replica.
type ChanceryOptions struct {
	// EtcdEndpoints is passed as --etcd-endpoints (comma-joined). When empty the
	// replica runs its embedded etcd with --data-dir in t.TempDir(), on free
	// client and peer ports (EmbeddedEtcdEndpoint), kept across restarts.
	EtcdEndpoints []string
	// ReplicaID is passed as --replica-id; empty picks replica-1, replica-2, ...
	ReplicaID string
	// ExtraArgs are appended to the serve command line.
	ExtraArgs []string
	// ReadyTimeout bounds the wait for /readyz; zero means 30s.
	ReadyTimeout time.Duration
	// StopTimeout bounds the graceful drain after SIGTERM; zero means 30s.
	StopTimeout time.Duration
}

// Chancery is one replica run from bin/chancery serve on loopback ports.
type Chancery struct {
	t        testing.TB
	opts     ChanceryOptions
	xdsAddr  string
	adminURL string
	etcdURL  string // the embedded etcd's client URL; "" with EtcdEndpoints
	proc     *process
}

var replicaSeq atomic.Int64

// StartChancery starts bin/chancery serve and waits until its /readyz answers 200.
func StartChancery(t testing.TB, opts ChanceryOptions) *Chancery {
	t.Helper()
	bin := binary(t, "chancery")
	if opts.ReplicaID == "" {
		opts.ReplicaID = fmt.Sprintf("replica-%d", replicaSeq.Add(1))
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 30 * time.Second
	}
	if opts.StopTimeout == 0 {
		opts.StopTimeout = 30 * time.Second
	}
	dir := t.TempDir()
	var c *Chancery
	startRetrying(t, "chancery "+opts.ReplicaID, func() ([]*process, error) {
		c = &Chancery{
			t:        t,
			opts:     opts,
			xdsAddr:  loopback(FreePort(t)),
			adminURL: "http://" + loopback(FreePort(t)),
		}
		args := []string{"serve",
			"--xds-address", c.xdsAddr,
			"--admin-address", strings.TrimPrefix(c.adminURL, "http://"),
			"--replica-id", opts.ReplicaID,
			"--log-format", "console",
		}
		if len(opts.EtcdEndpoints) > 0 {
			args = append(args, "--etcd-endpoints", strings.Join(opts.EtcdEndpoints, ","))
		} else {
			c.etcdURL = "http://" + loopback(FreePort(t))
			args = append(args, "--data-dir", filepath.Join(dir, "etcd.data"),
				"--embedded-etcd-client-url", c.etcdURL, "--embedded-etcd-peer-url", "http://"+loopback(FreePort(t)))
		}
		args = append(args, opts.ExtraArgs...)
		c.proc = newProcess(t, "chancery "+opts.ReplicaID, bin, filepath.Join(dir, opts.ReplicaID+".log"), args)
		if err := c.proc.start(); err != nil {
			return []*process{c.proc}, err
		}
		return []*process{c.proc}, c.waitReady()
	})
	return c
}

func (c *Chancery) waitReady() error {
	return c.proc.waitUntil(c.opts.ReadyTimeout, "200 from /readyz", func() error {
		_, err := getOK(c.adminURL + "/readyz")
		return err
	})
}

// XDSAddress returns the replica's xDS gRPC address, 127.0.0.1:port.
func (c *Chancery) XDSAddress() string { return c.xdsAddr }

// AdminURL returns the replica's admin base URL, http://127.0.0.1:port.
func (c *Chancery) AdminURL() string { return c.adminURL }

// EmbeddedEtcdEndpoint returns the client URL of the replica's embedded
// etcd, for etcdctl and chanceryctl; "" when it was given EtcdEndpoints.
func (c *Chancery) EmbeddedEtcdEndpoint() string { return c.etcdURL }

// EmbeddedEtcdClient returns a client to the replica's embedded etcd,
// closed when the test ends.
func (c *Chancery) EmbeddedEtcdClient(t testing.TB) *clientv3.Client {
	t.Helper()
	return newEtcdClient(t, []string{c.etcdURL})
}

// ReplicaID returns the --replica-id the replica runs with.
func (c *Chancery) ReplicaID() string { return c.opts.ReplicaID }

// LogPath returns the file that holds the replica's output, across restarts.
func (c *Chancery) LogPath() string { return c.proc.logPath }

// Running reports whether the replica's process is alive.
func (c *Chancery) Running() bool { return c.proc.running() }

// Stop sends SIGTERM and waits for a clean exit; any exit code but 0 is a test
// error.
func (c *Chancery) Stop() {
	c.t.Helper()
	if err := c.proc.stop(c.opts.StopTimeout); err != nil {
		c.t.Errorf("stop chancery %s: want a clean exit, got %v", c.opts.ReplicaID, err)
	}
}

// Kill sends SIGKILL and waits for the replica to be gone.
func (c *Chancery) Kill() {
	c.t.Helper()
	if err := c.proc.kill(); err != nil {
		c.t.Fatal(err)
	}
}

// Start starts a stopped or killed replica again with the same ports, replica
// ID and arguments, and waits until it is ready.
func (c *Chancery) Start() {
	c.t.Helper()
	if err := c.proc.start(); err != nil {
		c.t.Fatal(err)
	}
	if err := c.waitReady(); err != nil {
		c.t.Fatal(err)
	}
}

// Get fetches path from the admin server and fails the test unless it answers
// 200.
func (c *Chancery) Get(t testing.TB, path string) []byte {
	t.Helper()
	body, err := getOK(c.adminURL + path)
	if err != nil {
		t.Fatalf("chancery %s: %v", c.opts.ReplicaID, err)
	}
	return body
}

// Metric scrapes /metrics and returns the sum of the samples of metric name
// whose labels include labels (nil matches every series), and whether any
// series matched. For a histogram or summary, name_count and name_sum select the
// sample count and sum; the plain name means the count.
func (c *Chancery) Metric(t testing.TB, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	families, err := parseMetrics(c.Get(t, "/metrics"))
	if err != nil {
		t.Fatalf("chancery %s: parse /metrics: %v", c.opts.ReplicaID, err)
	}
	return metricValue(families, name, labels)
}

func parseMetrics(text []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(text))
}

func metricValue(families map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	family, field := families[name], ""
	if family == nil {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && families[base] != nil {
				family, field = families[base], suffix
			}
		}
	}
	if family == nil {
		return 0, false
	}
	var sum float64
	found := false
	for _, m := range family.GetMetric() {
		if !hasLabels(m, labels) {
			continue
		}
		found = true
		sum += sampleValue(m, field)
	}
	return sum, found
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	matched := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			matched++
		}
	}
	return matched == len(want)
}

func sampleValue(m *dto.Metric, field string) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil && field == "_sum":
		return m.GetHistogram().GetSampleSum()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Summary != nil && field == "_sum":
		return m.GetSummary().GetSampleSum()
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}
