package xdsserver_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/translator"
	"github.com/chancery-xds/chancery/translator/output"
	"github.com/chancery-xds/chancery/xdsserver"
)

// keyspace is a small fleet: one HTTP listener for group edge.
var keyspace = map[model.Ref]string{
	{Kind: model.KindService, Name: "web"}:       `{"protocol":"http"}`,
	{Kind: model.KindEndpoint, Name: "web/a"}:    `{"address":"127.0.0.1","port":8081}`,
	{Kind: model.KindEndpoint, Name: "web/b"}:    `{"address":"127.0.0.1","port":8082}`,
	{Kind: model.KindRouteTable, Name: "web"}:    `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`,
	{Kind: model.KindListener, Name: "main"}:     `{"address":"127.0.0.1","port":10000,"protocol":"http","route_table":"web","groups":["edge"]}`,
	{Kind: model.KindService, Name: "unused"}:    `{"protocol":"http"}`,
	{Kind: model.KindEndpoint, Name: "unused/x"}: `{"address":"127.0.0.1","port":9999}`,
	{Kind: model.KindRouteTable, Name: "broken"}: `{"virtual_hosts":[]}`,
	{Kind: model.KindListener, Name: "internal"}: `{"address":"127.0.0.1","port":10001,"protocol":"tcp","service":"unused","groups":["internal"]}`,
}

func translate(t *testing.T, rev int64, edits map[model.Ref]string) *output.Resources {
	t.Helper()
	s := model.NewSnapshot(rev)
	for ref, v := range keyspace {
		if e, ok := edits[ref]; ok {
			v = e
		}
		s.Put(ref, []byte(v))
	}
	for ref, v := range edits {
		if _, ok := keyspace[ref]; !ok {
			s.Put(ref, []byte(v)) // an object the keyspace does not have
		}
	}
	s.SortRejections()
	res, _ := translator.Translate(s)
	return &res.Resources
}

// startReplica publishes res on a new server listening on loopback.
func startReplica(t *testing.T, res *output.Resources) (*xdsserver.Server, string) {
	t.Helper()
	return serveReplica(t, res, xdsserver.GRPCConfig{})
}

// serveReplica is startReplica with the gRPC server's settings.
func serveReplica(t *testing.T, res *output.Resources, cfg xdsserver.GRPCConfig) (*xdsserver.Server, string) {
	t.Helper()
	return serveReplicaWith(t, res, xdsserver.Config{Logger: zaptest.NewLogger(t)}, cfg)
}

// serveReplicaWith is serveReplica with the server's settings too.
func serveReplicaWith(t *testing.T, res *output.Resources, srvCfg xdsserver.Config, cfg xdsserver.GRPCConfig) (*xdsserver.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := xdsserver.New(ctx, srvCfg)
	if err := srv.Publish(res); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(xdsserver.ServerOptions(cfg)...)
	srv.Register(g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }() // returns when stopped below
	t.Cleanup(func() {
		g.Stop()
		cancel()
		waitReceivers(t, srv)
	})
	return srv, l.Addr().String()
}

// waitReceivers fails the test unless every stream's receiver ends once
// the gRPC server has stopped.
func waitReceivers(t *testing.T, srv *xdsserver.Server) {
	t.Helper()
	done := make(chan struct{})
	go func() { srv.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("stream receivers still running 10s after the gRPC server stopped")
	}
}

func dial(t *testing.T, addr string, opts xdsclient.Options) *xdsclient.Client {
	t.Helper()
	c, err := xdsclient.Dial(addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func holdsAll(held map[string]map[string]string) bool {
	return len(held[resourcev3.ListenerType]) == 1 && len(held[resourcev3.RouteType]) == 1 &&
		len(held[resourcev3.ClusterType]) == 1 && len(held[resourcev3.EndpointType]) == 1
}

func TestReplicasServeIdenticalVersions(t *testing.T) {
	a, _ := startReplica(t, translate(t, 10, nil))
	b, _ := startReplica(t, translate(t, 10, nil))
	for _, g := range []string{"edge", "internal"} {
		va, okA := a.Versions(g)
		vb, okB := b.Versions(g)
		if !okA || !okB || len(va.Versions) != len(xdsserver.TypeNames()) {
			t.Fatalf("group %s: versions %v / %v", g, va, vb)
		}
		for typ, v := range va.Versions {
			if vb.Versions[typ] != v {
				t.Errorf("group %s %s: replica a %s, replica b %s", g, typ, v, vb.Versions[typ])
			}
		}
	}
}

func TestReconnectToOtherReplicaResendsNothing(t *testing.T) {
	res := translate(t, 10, nil)
	_, addrA := startReplica(t, res)
	srvB, addrB := startReplica(t, res)

	first := dial(t, addrA, xdsclient.Options{NodeID: "envoy-1", Group: "edge"})
	if err := first.WaitFor(5*time.Second, holdsAll); err != nil {
		t.Fatal(err)
	}
	held := first.Held()
	first.Close()

	second := dial(t, addrB, xdsclient.Options{NodeID: "envoy-1", Group: "edge", Initial: held})
	// Replica b sends nothing: once it has compared what the client holds
	// with what it serves, it records the client as holding every type.
	vb, _ := srvB.Versions("edge")
	harness.Eventually(t, 5*time.Second, 5*time.Millisecond, func() error {
		for _, p := range srvB.Proxies() {
			if p.NodeID != "envoy-1" {
				continue
			}
			for typ, v := range vb.Versions {
				if typ == "secrets" {
					continue // the group has none, so the client never asks for them
				}
				if p.Types[typ].Acked != v || p.Types[typ].Sent != "" {
					return fmt.Errorf("%s: %+v, serving %s", typ, p.Types[typ], v)
				}
			}
			return nil
		}
		return errors.New("envoy-1 is not connected to replica b")
	})
	// The responses arrive in order: the first one after the reconnect is
	// the change below, so nothing was sent before it.
	// The stream is live: one endpoint change arrives as exactly that resource.
	if err := srvB.Publish(translate(t, 11, map[model.Ref]string{{Kind: model.KindEndpoint, Name: "web/b"}: `{"address":"127.0.0.1","port":8083}`})); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-second.Responses():
		if r.TypeURL != resourcev3.EndpointType || len(r.Resources) != 1 || r.Resources["web"] == nil {
			t.Errorf("after an endpoint change got %s with %d resources, want the endpoints of web alone", r.TypeURL, len(r.Resources))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("endpoint change did not arrive")
	}
}

func TestEndpointChangeKeepsOtherVersions(t *testing.T) {
	srv, _ := startReplica(t, translate(t, 10, nil))
	before, _ := srv.Versions("edge")
	if err := srv.Publish(translate(t, 11, map[model.Ref]string{{Kind: model.KindEndpoint, Name: "web/a"}: `{"address":"127.0.0.1","port":8090}`})); err != nil {
		t.Fatal(err)
	}
	after, _ := srv.Versions("edge")
	for _, typ := range []string{"listeners", "routes", "clusters"} {
		if before.Versions[typ] != after.Versions[typ] {
			t.Errorf("%s version changed from %s to %s on an endpoint change", typ, before.Versions[typ], after.Versions[typ])
		}
	}
	if before.Versions["endpoints"] == after.Versions["endpoints"] {
		t.Error("endpoints version did not change")
	}
	// The internal group reaches no changed resource: nothing changes there.
	internal, _ := srv.Versions("internal")
	if internal.Revision != 11 {
		t.Errorf("revision %d, want 11", internal.Revision)
	}
}

func TestUnknownGroupGetsEmptySnapshot(t *testing.T) {
	_, addr := startReplica(t, translate(t, 10, nil))
	c := dial(t, addr, xdsclient.Options{NodeID: "lonely", Group: "nobody-selects-me"})
	seen := map[string]bool{}
	for len(seen) < len(xdsclient.Types) {
		select {
		case r := <-c.Responses():
			if len(r.Resources) != 0 {
				t.Errorf("%s: %d resources for a group no listener names", r.TypeURL, len(r.Resources))
			}
			seen[r.TypeURL] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d of %d types answered", len(seen), len(xdsclient.Types))
		}
	}
}

func TestInvalidSnapshotIsNotPublished(t *testing.T) {
	res := translate(t, 10, nil)
	srv, _ := startReplica(t, res)
	good, _ := srv.Versions("edge")

	bad := translate(t, 11, nil)
	bad.Groups["edge"].Clusters = append(bad.Groups["edge"].Clusters, &clusterv3.Cluster{Name: ""}) // fails Envoy's validation
	if err := srv.Publish(bad); err == nil {
		t.Fatal("publish of an invalid cluster succeeded")
	}
	now, _ := srv.Versions("edge")
	for typ, v := range good.Versions {
		if now.Versions[typ] != v {
			t.Errorf("%s version moved to %s after a refused publish", typ, now.Versions[typ])
		}
	}
}
