package main

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/translator"
)

// byGroup keys the test server's cache by node group, as Chancery does.
type byGroup struct{}

func (byGroup) ID(n *corev3.Node) string { return n.GetCluster() }

// testServer is a stock go-control-plane ADS server serving the workload's
// translation to one group.
type testServer struct {
	t     *testing.T
	cache cachev3.SnapshotCache
	snap  *model.Snapshot
	addr  string
	n     int
	stop  func() // stops the server; once, or at cleanup
	// withholdSecrets leaves the secrets out of what publish sets, though
	// the listeners still name them.
	withholdSecrets bool
}

func startTestServer(t *testing.T, spec workload.Spec) *testServer {
	t.Helper()
	spec.Groups = workload.Groups(1)
	s := &testServer{t: t, cache: cachev3.NewSnapshotCache(true, byGroup{}, nil), snap: workload.Snapshot(1, workload.Objects(spec))}
	s.publish()
	ctx, cancel := context.WithCancel(context.Background())
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, serverv3.NewServer(ctx, s.cache, nil))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- g.Serve(lis) }()
	s.stop = sync.OnceFunc(func() {
		g.Stop() // closes every connection first, as a killed server would
		cancel()
		if err := <-served; err != nil {
			t.Errorf("test server: %v", err)
		}
	})
	t.Cleanup(s.stop)
	return s
}

// publish sets the snapshot of the current model, at a new version.
func (s *testServer) publish() {
	s.t.Helper()
	res, err := translator.Translate(s.snap)
	if err != nil {
		s.t.Fatal(err)
	}
	g := res.Groups["group-00"]
	s.n++
	secrets := asResources(g.Secrets)
	if s.withholdSecrets {
		secrets = nil
	}
	snap, err := cachev3.NewSnapshot(strconv.Itoa(s.n), map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType: asResources(g.Clusters), resourcev3.EndpointType: asResources(g.Endpoints),
		resourcev3.ListenerType: asResources(g.Listeners), resourcev3.RouteType: asResources(g.Routes),
		resourcev3.SecretType: secrets,
	})
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.cache.SetSnapshot(context.Background(), "group-00", snap); err != nil {
		s.t.Fatal(err)
	}
}

func asResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}

// TestFleetRecognisesChangesByContent runs a small fleet in each mode, on
// each transport, against the stock server and checks that one endpoint
// write reaches every client, recognised from the endpoint's metadata.
func TestFleetRecognisesChangesByContent(t *testing.T) {
	for _, tc := range []struct{ mode, transport string }{{"delta", "h2"}, {"sotw", "h2"}, {"delta", "grpc"}, {"sotw", "grpc"}} {
		t.Run(tc.mode+"/"+tc.transport, func(t *testing.T) {
			srv := startTestServer(t, workload.Spec{Services: 3, EndpointsPer: 2})
			cfg := config{mode: tc.mode, transport: tc.transport, clients: 3, addrs: []string{srv.addr}, groups: workload.Groups(1), nodePrefix: "n",
				perConn: 1, backoff: 10 * time.Millisecond, backoffMax: 100 * time.Millisecond, connectRate: 1000}
			f := newFleet(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() {
				cancel()
				wg.Wait()
			})
			wg.Go(func() { f.startClients(ctx, &wg) })
			waitFor(t, "every client synced", func() bool { return f.synced.Load() == 3 })

			o := workload.Endpoint(1, 0, 7)
			srv.snap.Put(o.Ref, o.Value)
			srv.publish()
			f.ledger.post([]benchapi.Write{{Seq: 7, Key: "svc-00001/ep-0", PutNs: nowNs(), Raw: true}})
			waitFor(t, "the write delivered to every client", func() bool { return f.ledger.result(7, false).Delivered == 3 })
			if r := f.ledger.result(7, true); len(r.LatenciesNs) != 3 {
				t.Fatalf("latencies: got %v, want three", r.LatenciesNs)
			}
		})
	}
}

// TestFleetSyncsOnlyWithTheListenersSecret serves an https listener whose
// certificate secret is at first withheld: the clients get every other
// type but none counts as synced until the secret, which they subscribed
// to by the name the listener gives, arrives; then a write reaches them.
func TestFleetSyncsOnlyWithTheListenersSecret(t *testing.T) {
	cert, err := workload.SelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"delta", "sotw"} {
		t.Run(mode, func(t *testing.T) {
			srv := startTestServer(t, workload.Spec{Services: 3, EndpointsPer: 2, Certificate: &cert})
			srv.withholdSecrets = true
			srv.publish()
			cfg := config{mode: mode, transport: "h2", clients: 3, addrs: []string{srv.addr}, groups: workload.Groups(1), nodePrefix: "n",
				perConn: 1, backoff: 10 * time.Millisecond, backoffMax: 100 * time.Millisecond, connectRate: 1000}
			f := newFleet(cfg)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			t.Cleanup(func() {
				cancel()
				wg.Wait()
			})
			wg.Go(func() { f.startClients(ctx, &wg) })
			waitFor(t, "every other type received", func() bool {
				for _, typ := range typeURLs {
					if typ != resourcev3.SecretType && f.responses[typeIndex[typ]].Load() < 3 {
						return false
					}
				}
				return true
			})
			if n := f.synced.Load(); n != 0 {
				t.Fatalf("%d clients synced without the secret", n)
			}

			srv.withholdSecrets = false
			srv.publish()
			waitFor(t, "every client synced", func() bool { return f.synced.Load() == 3 })
			if n := f.resources[typeIndex[resourcev3.SecretType]].Load(); n < 3 {
				t.Fatalf("%d secrets received, want one per client", n)
			}
			o := workload.Endpoint(2, 1, 9)
			srv.snap.Put(o.Ref, o.Value)
			srv.publish()
			f.ledger.post([]benchapi.Write{{Seq: 9, Key: "svc-00002/ep-1", PutNs: nowNs(), Raw: true}})
			waitFor(t, "the write delivered to every client", func() bool { return f.ledger.result(9, false).Delivered == 3 })
		})
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
