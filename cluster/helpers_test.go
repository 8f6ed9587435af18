package cluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/chancery-xds/chancery/cluster"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/embedetcd"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

const prefix = "/test/v1"

var ks = storage.NewKeyspace(prefix)

// node is one replica under test: its own etcd client, a watcher feeding
// its snapshots to a cluster.Replica, and a metrics registry.
type node struct {
	t       *testing.T
	cli     *clientv3.Client
	replica *cluster.Replica
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	done    chan error
	stopped bool
}

type nodeOptions struct {
	ttl      time.Duration
	proxies  func([]cluster.ProxyState) []cluster.ProxyState
	versions func() map[string]map[string]string
	publish  time.Duration
	// generation: ProxyGeneration; nil, the proxies are read every publish.
	generation func() uint64
}

func startNode(t *testing.T, e *embedetcd.Etcd, id string, opts nodeOptions) *node {
	t.Helper()
	if opts.ttl == 0 {
		opts.ttl = 2 * time.Second
	}
	if opts.publish == 0 {
		opts.publish = 50 * time.Millisecond
	}
	n := &node{t: t, cli: newClient(t, e), reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	log := zaptest.NewLogger(t, zaptest.Level(zap.InfoLevel)).With(zap.String("replica", id))
	w := storage.NewWatcher(storage.WatcherConfig{Client: n.cli, Keyspace: ks, Coalesce: time.Millisecond, Logger: log.Named("watcher")})
	r, err := cluster.New(cluster.Config{
		Client: n.cli, Keyspace: ks, ID: id, Address: "127.0.0.1:18000", Version: "test",
		SessionTTL: opts.ttl, PublishInterval: opts.publish, HealthCheckConcurrency: 16,
		Proxies: opts.proxies, Versions: opts.versions, Revision: w.Revision, ProxyGeneration: opts.generation,
		Logger: log.Named("cluster"), Registerer: n.reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	n.replica = r
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return w.Run(gctx, func(s *model.Snapshot) { r.Observe(s, nil) }) })
		g.Go(func() error { return r.Run(gctx) })
		n.done <- g.Wait()
	}()
	t.Cleanup(n.stop)
	return n
}

// stop ends the replica as SIGTERM would: it resigns and revokes its lease.
func (n *node) stop() {
	if n.stopped {
		return
	}
	n.stopped = true
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil && !errors.Is(err, context.Canceled) {
			n.t.Errorf("replica %s: %v", n.replica.ID(), err)
		}
	case <-time.After(10 * time.Second):
		n.t.Errorf("replica %s did not stop within 10s", n.replica.ID())
	}
}

// crash ends the replica as SIGKILL would, as far as etcd can tell: its
// connection goes and nothing is revoked, so its lease lives out its TTL.
func (n *node) crash() {
	if err := n.cli.Close(); err != nil {
		n.t.Logf("close client of %s: %v", n.replica.ID(), err)
	}
	n.stop()
}

func newClient(t *testing.T, e *embedetcd.Etcd) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() }) // a crashed node's client is closed already
	return cli
}

// eventually polls cond every 10ms until it returns nil; after timeout it
// fails the test with cond's last error.
func eventually(t *testing.T, timeout time.Duration, cond func() error) {
	t.Helper()
	harness.Eventually(t, timeout, 10*time.Millisecond, cond)
}

// put writes one key below the prefix and returns the revision it made.
func put(t *testing.T, cli *clientv3.Client, key string, value any) int64 {
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
	resp, err := cli.Put(ctx, prefix+"/"+key, s)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func del(t *testing.T, cli *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Delete(ctx, prefix+"/"+key); err != nil {
		t.Fatal(err)
	}
}

// getPrefix returns the keys below prefix/sub, relative to prefix/sub.
func getPrefix(t *testing.T, cli *clientv3.Client, sub string) map[string]*kv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix+"/"+sub, clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*kv{}
	for _, x := range resp.Kvs {
		out[string(x.Key[len(prefix)+1+len(sub):])] = &kv{value: string(x.Value), mod: x.ModRevision, version: x.Version, lease: x.Lease}
	}
	return out
}

type kv struct {
	value        string
	mod, version int64
	lease        int64
}

// verdicts returns health/ as endpoint -> status.
func verdicts(t *testing.T, cli *clientv3.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, x := range getPrefix(t, cli, "health/") {
		var h struct{ Status string }
		if err := json.Unmarshal([]byte(x.value), &h); err != nil {
			h.Status = "unreadable"
		}
		out[name] = h.Status
	}
	return out
}

// metric sums the samples of a counter or gauge in reg whose labels include
// labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
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

func endpointJSON(t *testing.T, addr string) map[string]any {
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

// httpTarget is an HTTP endpoint whose answer to GET /healthz the test sets.
type httpTarget struct {
	srv    *httptest.Server
	status atomic.Int32
	hits   atomic.Int64
}

func startHTTPTarget(t *testing.T) *httpTarget {
	h := &httpTarget{}
	h.status.Store(http.StatusOK)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.hits.Add(1)
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(h.status.Load()))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *httpTarget) addr() string { return h.srv.Listener.Addr().String() }

// tcpTarget accepts and closes connections until closed; reopen listens on
// the same port again.
type tcpTarget struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func startTCPTarget(t *testing.T) *tcpTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tt := &tcpTarget{t: t, addr: ln.Addr().String()}
	tt.serve(ln)
	t.Cleanup(tt.close)
	return tt
}

func (tt *tcpTarget) serve(ln net.Listener) {
	tt.mu.Lock()
	tt.ln = ln
	tt.mu.Unlock()
	tt.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

func (tt *tcpTarget) close() {
	tt.mu.Lock()
	ln := tt.ln
	tt.ln = nil
	tt.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	tt.wg.Wait()
}

func (tt *tcpTarget) reopen() {
	tt.t.Helper()
	var ln net.Listener
	eventually(tt.t, 5*time.Second, func() error {
		var err error
		ln, err = net.Listen("tcp", tt.addr)
		return err
	})
	tt.serve(ln)
}

// grpcTarget is a gRPC server with the standard health service.
type grpcTarget struct {
	addr   string
	health *health.Server
}

func startGRPCTarget(t *testing.T) *grpcTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &grpcTarget{addr: ln.Addr().String(), health: health.NewServer()}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, g.health)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			t.Errorf("grpc target: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return g
}

func (g *grpcTarget) set(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	g.health.SetServingStatus("", st)
}
