package xdsserver_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/xdsserver"
)

// manyEndpoints gives web n endpoints and a route table that differs with
// n: a publish of it changes both endpoints and routes.
func manyEndpoints(n int) map[model.Ref]string {
	edits := map[model.Ref]string{
		{Kind: model.KindRouteTable, Name: "web"}: fmt.Sprintf(`{"virtual_hosts":[{"name":"all-%d","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`, n),
	}
	for i := range n {
		edits[model.Ref{Kind: model.KindEndpoint, Name: fmt.Sprintf("web/e%05d", i)}] = fmt.Sprintf(`{"address":"127.0.%d.%d","port":%d}`, i/250, i%250+1, 8000+i%1000)
	}
	return edits
}

// A publish never waits for a client: an Envoy that stops reading holds up
// neither the publish nor the other Envoys of its group, even when the
// publish changes two of its types and the first response alone overflows
// its window (its handler, the only sender, waits for it alone).
func TestStalledClientHoldsUpNoPublish(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, nil))

	// The stalled client: fixed 64 KiB windows (no bandwidth estimation to
	// grow them), and after its first responses it reads nothing more.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	stalled, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	node := &corev3.Node{Id: "stalled", Cluster: "edge"}
	for _, req := range []*discoveryv3.DeltaDiscoveryRequest{
		{Node: node, TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web"}},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"web"}},
	} {
		if err := stalled.Send(req); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 { // answer every first response: a quiet stream, woken by each publish
		r, err := stalled.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if err := stalled.Send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()}); err != nil {
			t.Fatal(err)
		}
	}

	waitAnswered(t, srv, "stalled", 4)

	healthy := openDelta(t, addr)
	healthy.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web"}})
	r := healthy.recv()

	for i, n := range []int{8000, 8001, 8002} { // about 400 KiB of endpoints each
		published := make(chan error, 1)
		go func() { published <- srv.Publish(translate(t, int64(11+i), manyEndpoints(n))) }()
		select {
		case err := <-published:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("publish %d did not return within 5s: it waits for the stalled client", i+1)
		}
		healthy.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.GetNonce()})
		r = healthy.recv()
		if got := len(r.GetResources()); got != 1 {
			t.Fatalf("publish %d: %d load assignments, want 1", i+1, got)
		}
	}
}

// waitAnswered waits until node has answered the last response of each of
// its types, types of them in all.
func waitAnswered(t *testing.T, srv *xdsserver.Server, node string, types int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, p := range srv.Proxies() {
			answered := 0
			for _, ts := range p.Types {
				if ts.Sent != "" && ts.Acked == ts.Sent {
					answered++
				}
			}
			if p.NodeID == node && answered == types {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s has not answered its %d types within 5s", node, types)
		}
		time.Sleep(time.Millisecond)
	}
}
