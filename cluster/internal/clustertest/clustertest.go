// Package clustertest runs replicas against an embedded etcd for the
// tests of the cluster's packages, and reads back what they wrote.
package clustertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"github.com/chancery-xds/chancery/cluster"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/embedetcd"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Prefix is the keyspace prefix the replicas under test serve.
const Prefix = "/test/v1"

// KS is the keyspace below Prefix.
var KS = storage.NewKeyspace(Prefix)

// Node is one replica under test: its own etcd client, a watcher feeding
// its snapshots to a cluster.Replica, and a metrics registry.
type Node struct {
	t       *testing.T
	cli     *clientv3.Client
	Replica *cluster.Replica
	Reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

// NodeOptions are what a test sets of a node; the zero value is a node
// with a 2s session TTL, publishing every 50ms, serving no Envoy.
type NodeOptions struct {
	TTL       time.Duration
	EachProxy func(func(*proxystate.Proxy))
	Versions  func() map[string]map[string]string
	Publish   time.Duration
	// Generation: ProxyGeneration; nil, the proxies are read every publish.
	Generation func() uint64
}

// StartNode starts replica id on e; it stops when the test ends.
func StartNode(t *testing.T, e *embedetcd.Etcd, id string, opts NodeOptions) *Node {
	t.Helper()
	if opts.TTL == 0 {
		opts.TTL = 2 * time.Second
	}
	if opts.Publish == 0 {
		opts.Publish = 50 * time.Millisecond
	}
	n := &Node{t: t, cli: NewClient(t, e), Reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).With(zap.String("replica", id))
	w := storage.NewWatcher(storage.WatcherConfig{Client: n.cli, Keyspace: KS, Coalesce: time.Millisecond, Logger: log.Named("watcher")})
	r, err := cluster.New(cluster.Config{
		Client: n.cli, Keyspace: KS, ID: id, Address: "127.0.0.1:18000", Version: "test",
		SessionTTL: opts.TTL, PublishInterval: opts.Publish, HealthCheckConcurrency: 16,
		EachProxy: opts.EachProxy, Versions: opts.Versions, Revision: w.Revision, ProxyGeneration: opts.Generation,
		Logger: log.Named("cluster"), Registerer: n.Reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.Replica = r
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return w.Run(gctx, func(s *model.Snapshot) { r.Observe(s, nil) }) })
		g.Go(func() error { return r.Run(gctx) })
		n.done <- g.Wait()
	}()
	t.Cleanup(n.Stop)
	return n
}

// Stop ends the replica as SIGTERM would: it resigns and revokes its lease.
func (n *Node) Stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			n.t.Errorf("replica %s: %v", n.Replica.ID(), err)
		}
	case <-time.After(10 * time.Second):
		n.t.Errorf("replica %s did not stop within 10s", n.Replica.ID())
	}
}

// Crash ends the replica as SIGKILL would, as far as etcd can tell: its
// connection goes and nothing is revoked, so its lease lives out its TTL.
func (n *Node) Crash() {
	if err := n.cli.Close(); err != nil {
		n.t.Logf("close client of %s: %v", n.Replica.ID(), err)
	}
	n.Stop()
}

// Leaders returns the nodes that lead now.
func Leaders(nodes ...*Node) []*Node {
	var out []*Node
	for _, n := range nodes {
		if n.Replica.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// WaitOneLeader waits until exactly one of nodes leads, failing the test if
// two ever lead at once, and returns it.
func WaitOneLeader(t *testing.T, timeout time.Duration, nodes ...*Node) *Node {
	t.Helper()
	var leader *Node
	Eventually(t, timeout, func() error {
		l := Leaders(nodes...)
		if len(l) > 1 {
			t.Fatalf("%d replicas lead at once", len(l))
		}
		if len(l) == 0 {
			return errors.New("no leader")
		}
		leader = l[0]
		return nil
	})
	return leader
}

// NewClient is a client of e, closed when the test ends.
func NewClient(t *testing.T, e *embedetcd.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() }) // a crashed node's client is closed already
	return cli
}

// Eventually polls cond every 10ms until it returns nil; after timeout it
// fails the test with cond's last error.
func Eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	harness.Eventually(t, timeout, 10*time.Millisecond, cond)
}

// Put writes one key below the prefix (a string as it is, anything else
// as JSON) and returns the revision it made.
func Put(t *testing.T, cli *clientv3.Client, key string, value any) int64 {
	t.Helper()
	s, ok := value.(string)
	if !ok {
		b, err := json.Marshal(value)
		if err != nil {
			t.Fatal(err)
		}
		s = string(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Put(ctx, Prefix+"/"+key, s)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

// Del deletes one key below the prefix.
func Del(t *testing.T, cli *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Delete(ctx, Prefix+"/"+key); err != nil {
		t.Fatal(err)
	}
}

// GetPrefix returns the keys below prefix/sub, relative to prefix/sub.
func GetPrefix(t *testing.T, cli *clientv3.Client, sub string) map[string]*KV {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, Prefix+"/"+sub, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*KV{}
	for _, x := range resp.Kvs {
		out[string(x.Key[len(Prefix)+1+len(sub):])] = &KV{Value: string(x.Value), Mod: x.ModRevision, Version: x.Version, Lease: x.Lease}
	}
	return out
}

// KV is one key as GetPrefix read it.
type KV struct {
	Value        string
	Mod, Version int64
	Lease        int64
}

// Verdicts returns health/ as endpoint -> status.
func Verdicts(t *testing.T, cli *clientv3.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, x := range GetPrefix(t, cli, "health/") {
		var h struct{ Status string }
		if err := json.Unmarshal([]byte(x.Value), &h); err != nil {
			h.Status = "unreadable"
		}
		out[name] = h.Status
	}
	return out
}

// WaitVerdicts waits until health/ holds exactly want.
func WaitVerdicts(t *testing.T, cli *clientv3.Client, want map[string]string) {
	t.Helper()
	Eventually(t, 10*time.Second, func() error {
		if got := Verdicts(t, cli); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("verdicts %v, want %v", got, want)
		}
		return nil
	})
}

// FastCheck is a health_check spec that decides within a second, with
// timeouts loose enough for a loaded CI machine (a gRPC check dials first).
func FastCheck(typ string) map[string]any {
	hc := map[string]any{"type": typ, "interval": "250ms", "timeout": "250ms", "healthy_threshold": 2, "unhealthy_threshold": 2}
	if typ == "http" {
		hc["path"] = "/healthz"
	}
	return hc
}

// Metric sums the samples of a counter or gauge in reg whose labels include
// labels.
func Metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// EndpointJSON is an endpoint object for the address addr (host:port).
func EndpointJSON(t *testing.T, addr string) map[string]any {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]any{"address": host, "port": p}
}
