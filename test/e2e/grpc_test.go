package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/xds" // the xds:/// resolver and its balancers

	"github.com/chancery-xds/chancery/bootstrap"
	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/xdsserver"
)

// echoServer is a real gRPC server on loopback whose UnaryCall answers
// with its id, so a client can tell which one an RPC reached.
type echoServer struct {
	testgrpc.UnimplementedTestServiceServer
	id string
}

func (s *echoServer) UnaryCall(context.Context, *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	return &testgrpc.SimpleResponse{ServerId: s.id}, nil
}

func startEchoServer(t *testing.T, id string) (host string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, &echoServer{id: id})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns when Stop closes the listener
	}()
	t.Cleanup(func() { srv.Stop(); <-done })
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// grpcFleet is etcd, two replicas behind HAProxy ("first": the client's
// stream lands on a while it is up), two echo servers and one proxyless
// gRPC client of group grpc-clients dialling xds:///echo through HAProxy.
type grpcFleet struct {
	t      *testing.T
	etcd   *harness.Etcd
	a, b   *harness.Chancery
	lb     *harness.HAProxy
	client testgrpc.TestServiceClient
}

const grpcNode = "grpc-client-1"

// A proxyless gRPC client through Chancery: weights, changes on one
// stream, the loss of its replica, and bad input it never refuses.
func TestProxylessGRPCClient(t *testing.T) {
	f := &grpcFleet{t: t, etcd: harness.StartEtcd(t)}
	f.a = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "a", EtcdEndpoints: []string{f.etcd.Endpoint()}})
	f.b = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "b", EtcdEndpoints: []string{f.etcd.Endpoint()}})
	var backends []harness.HAProxyBackend
	for _, r := range []*harness.Chancery{f.a, f.b} {
		backends = append(backends, harness.HAProxyBackend{Name: r.ReplicaID(), Addr: r.XDSAddress(), CheckPort: grpcAdminPort(t, r)})
	}
	f.lb = harness.StartHAProxy(t, harness.HAProxyOptions{Backends: backends, Balance: "first"})
	f.lb.WaitStatus(t, 20*time.Second, map[string]string{"a": "UP", "b": "UP"})

	for _, id := range []string{"one", "two"} {
		host, port := startEchoServer(t, id)
		f.put("services/echo-"+id, `{"protocol":"grpc"}`)
		f.put("endpoints/echo-"+id+"/e1", fmt.Sprintf(`{"address":%q,"port":%d}`, host, port))
	}
	f.weights(80, 20)
	f.put("listeners/echo", `{"protocol":"grpc","route_table":"echo","groups":["grpc-clients"]}`)
	f.dial()

	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if _, err := f.call(); err != nil {
			return fmt.Errorf("%w; replica a serves the client: %s", err, f.a.Get(t, "/debug/proxies"))
		}
		return nil
	})
	f.checkSplit(80, 1000)
	streams := f.streamsOn(f.a)
	if len(streams) != 1 {
		t.Fatalf("the client holds %d streams on replica a, want 1", len(streams))
	}

	// A weight change written with etcdctl is followed on the same stream.
	f.weights(50, 50)
	f.waitShare(50)
	f.checkSplit(50, 1000)

	// Put to first call on the newly weighted server, ten changes.
	var took []time.Duration
	for i := range 10 {
		target, w := "one", [2]int{100, 0}
		if i%2 == 0 {
			target, w = "two", [2]int{0, 100}
		}
		start := time.Now()
		f.weights(w[0], w[1])
		took = append(took, f.firstCallTo(target, start))
	}
	slices.Sort(took)
	median := (took[4] + took[5]) / 2
	t.Logf("etcdctl put -> first gRPC call following the new weight, 10 changes: median %s, min %s, max %s", median, took[0], took[9])
	if median > 2*time.Second || took[9] > 10*time.Second {
		t.Errorf("put to first call: median %s (want ≤ 2s), max %s (want ≤ 10s)", median, took[9])
	}
	if again := f.streamsOn(f.a); len(again) != 1 || !again[0].Connected.Equal(streams[0].Connected) {
		t.Errorf("the client reconnected during the weight changes: streams %v, then %v", streams, again)
	}

	f.badInputs()

	// Kill the replica the client streams from: calls go on from what it
	// holds, its stream moves to b through HAProxy, and b's changes reach it.
	stop, failures := f.callLoop()
	f.a.Kill()
	harness.Eventually(t, 30*time.Second, 50*time.Millisecond, func() error {
		if n := len(f.streamsOn(f.b)); n != 1 {
			return fmt.Errorf("%d streams of the client on replica b", n)
		}
		return nil
	})
	f.weights(100, 0)
	f.firstCallTo("one", time.Now())
	sent, failed := stop()
	t.Logf("replica a killed: %d calls during the move to b, %d failed", sent, failed)
	if failed > 0 || sent < 100 {
		t.Errorf("%d of %d calls failed while the client moved to replica b (want 0 of ≥ 100): %v", failed, sent, failures())
	}
	f.checkNoNACK(f.b)
}

// badInputs writes objects that are bad as a whole, and good ones that
// gRPC could not take as Envoy does; the client never refuses an update,
// and a later good change still reaches it.
func (f *grpcFleet) badInputs() {
	f.t.Helper()
	f.put("routes/echo", `{"virtual_hosts":[{"name":"echo","domains":["*"],"routes":[{"match":{"regex":"("},"service":"echo-one"}]}]}`)
	f.put("routes/echo", `{"virtual_hosts":[{"name":"echo","domains":["*"],"routes":[],"surprise":1}]}`)
	f.put("listeners/echo", `{"protocol":"grpc","route_table":"echo","groups":["grpc-clients"],"port":8080}`)
	f.put("services/echo-maglev", `{"protocol":"grpc","lb_policy":"maglev"}`)
	f.put("endpoints/echo-maglev/e1", `{"address":"127.0.0.1","port":9}`)
	// A policy and a maglev service on other paths: those routes fail
	// closed for gRPC clients, the table is served.
	f.put("routes/echo", `{"virtual_hosts":[{"name":"echo","domains":["*"],"routes":[
		{"match":{"prefix":"/other.Limited/"},"service":"echo-one","policy":{"rate_limit":{"requests":1,"per":"1s"}}},
		{"match":{"prefix":"/other.Maglev/"},"service":"echo-maglev"},
		{"match":{"prefix":"/"},"weighted_services":[{"service":"echo-one","weight":0},{"service":"echo-two","weight":100}],
		 "retries":{"retry_on":"unavailable","num_retries":3},"timeout":"5s"}]}]}`)
	f.firstCallTo("two", time.Now())
	f.weights(100, 0)
	f.firstCallTo("one", time.Now())
	f.checkNoNACK(f.a)
}

func (f *grpcFleet) put(key, value string) {
	f.t.Helper()
	harness.MustEtcdctl(f.t, f.etcd.Endpoint(), "put", prefix+"/"+key, value)
}

// weights writes the route table: everything to echo-one and echo-two,
// split one:two, with gRPC retries on UNAVAILABLE.
func (f *grpcFleet) weights(one, two int) {
	f.t.Helper()
	f.put("routes/echo", fmt.Sprintf(`{"virtual_hosts":[{"name":"echo","domains":["*"],"routes":[
		{"match":{"prefix":"/"},"weighted_services":[{"service":"echo-one","weight":%d},{"service":"echo-two","weight":%d}],
		 "retries":{"retry_on":"unavailable","num_retries":3}}]}]}`, one, two))
}

// dial builds the client from the bootstrap chanceryctl bootstrap --grpc
// writes (bootstrap.GenerateGRPC), naming only HAProxy.
func (f *grpcFleet) dial() {
	f.t.Helper()
	js, err := bootstrap.GenerateGRPC(bootstrap.Config{NodeID: grpcNode, Group: "grpc-clients", XDS: []string{f.lb.Addr()}})
	if err != nil {
		f.t.Fatal(err)
	}
	// gRPC reads GRPC_XDS_BOOTSTRAP(_CONFIG) when its package initialises,
	// before any test runs; the resolver built from the same JSON has an
	// xDS client of its own, not the process-wide one.
	xdsResolver, err := xds.NewXDSResolverWithConfigForTesting(js)
	if err != nil {
		f.t.Fatalf("gRPC refused the bootstrap: %v\n%s", err, js)
	}
	cc, err := grpc.NewClient("xds:///echo", grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithResolvers(xdsResolver))
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { cc.Close() })
	f.client = testgrpc.NewTestServiceClient(cc)
}

func (f *grpcFleet) call() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	r, err := f.client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
	return r.GetServerId(), err
}

// checkSplit makes n calls and checks that share percent reached echo-one,
// ±5 points (four standard deviations of the share at n = 1,000).
func (f *grpcFleet) checkSplit(share, n int) {
	f.t.Helper()
	got := map[string]int{}
	for range n {
		id, err := f.call()
		if err != nil {
			f.t.Fatalf("call: %v", err)
		}
		got[id]++
	}
	pct := 100 * float64(got["one"]) / float64(n)
	f.t.Logf("%d/%d split over %d gRPC calls: %v (%.1f%% to one)", share, 100-share, n, got, pct)
	if got["one"]+got["two"] != n || math.Abs(pct-float64(share)) > 5 {
		f.t.Errorf("%d/%d split: %v (%.1f%% to one), want %d±5%%", share, 100-share, got, pct, share)
	}
}

// waitShare waits until 200 calls put share percent on echo-one, ±15 points.
func (f *grpcFleet) waitShare(share int) {
	f.t.Helper()
	harness.Eventually(f.t, 20*time.Second, 10*time.Millisecond, func() error {
		one := 0
		for range 200 {
			id, err := f.call()
			if err != nil {
				return err
			}
			if id == "one" {
				one++
			}
		}
		if math.Abs(float64(one)/2-float64(share)) > 15 {
			return fmt.Errorf("%d of 200 calls to one, want about %d%%", one, share)
		}
		return nil
	})
}

// firstCallTo calls until a call reaches target and returns the time since start.
func (f *grpcFleet) firstCallTo(target string, start time.Time) time.Duration {
	f.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if id, err := f.call(); err == nil && id == target {
			return time.Since(start)
		}
	}
	f.t.Fatalf("no call reached %s within 20s", target)
	return 0
}

// callLoop calls without pause until stop, bounded to two minutes; it
// counts the calls and the failures, each failure kept (the first ten).
func (f *grpcFleet) callLoop() (stop func() (sent, failed int), failures func() []string) {
	quit, done := make(chan struct{}), make(chan struct{})
	var sent, failed int
	var errs []string
	go func() {
		defer close(done)
		end := time.Now().Add(2 * time.Minute)
		for time.Now().Before(end) {
			select {
			case <-quit:
				return
			default:
			}
			sent++
			if _, err := f.call(); err != nil {
				if failed++; len(errs) < 10 {
					errs = append(errs, err.Error())
				}
			}
		}
	}()
	return func() (int, int) { close(quit); <-done; return sent, failed },
		func() []string { return errs }
}

// streamsOn is the client's streams a replica serves.
func (f *grpcFleet) streamsOn(r *harness.Chancery) []xdsserver.ProxyStatus {
	f.t.Helper()
	var all, out []xdsserver.ProxyStatus
	if err := json.Unmarshal(r.Get(f.t, "/debug/proxies"), &all); err != nil {
		f.t.Fatalf("replica %s /debug/proxies: %v", r.ReplicaID(), err)
	}
	for _, p := range all {
		if p.NodeID == grpcNode {
			out = append(out, p)
		}
	}
	return out
}

// checkNoNACK checks the replica counted no NACK and its view of the
// client has no rejection of any type.
func (f *grpcFleet) checkNoNACK(r *harness.Chancery) {
	f.t.Helper()
	if n, _ := r.Metric(f.t, "chancery_xds_nacks_total", nil); n != 0 {
		f.t.Errorf("replica %s counted %v NACKs: %s", r.ReplicaID(), n, r.Get(f.t, "/debug/proxies"))
	}
	for _, p := range f.streamsOn(r) {
		for typ, s := range p.Types {
			if s.NackError != "" {
				f.t.Errorf("the gRPC client refused %s from replica %s: %s", typ, r.ReplicaID(), s.NackError)
			}
		}
	}
}

func grpcAdminPort(t *testing.T, r *harness.Chancery) int {
	t.Helper()
	_, port, _ := strings.Cut(strings.TrimPrefix(r.AdminURL(), "http://"), ":")
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("admin URL %s: no port", r.AdminURL())
	}
	return n
}
