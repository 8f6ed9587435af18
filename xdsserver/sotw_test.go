package xdsserver_test

import (
	"context"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/chancery-xds/chancery/storage/model"
)

// sotwStream is a bare state-of-the-world ADS stream.
type sotwStream struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *corev3.Node
}

// adsClient connects to addr for the length of the test; streams opened
// with the context end with it.
func adsClient(t *testing.T, addr string) (discoveryv3.AggregatedDiscoveryServiceClient, context.Context) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); conn.Close() })
	return discoveryv3.NewAggregatedDiscoveryServiceClient(conn), ctx
}

func openSotw(t *testing.T, addr string) *sotwStream {
	t.Helper()
	c, ctx := adsClient(t, addr)
	s, err := c.StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &sotwStream{t: t, stream: s, node: &corev3.Node{Id: "envoy-sotw", Cluster: "edge"}}
}

func (s *sotwStream) request(typ, version, nonce string, names ...string) {
	s.t.Helper()
	req := &discoveryv3.DiscoveryRequest{Node: s.node, TypeUrl: typ, VersionInfo: version, ResponseNonce: nonce, ResourceNames: names}
	if err := s.stream.Send(req); err != nil {
		s.t.Fatal(err)
	}
}

func (s *sotwStream) recv() *discoveryv3.DiscoveryResponse {
	s.t.Helper()
	got := make(chan *discoveryv3.DiscoveryResponse, 1)
	go func() {
		r, err := s.stream.Recv()
		if err != nil {
			s.t.Error(err)
		}
		got <- r
	}()
	select {
	case r := <-got:
		if r == nil {
			s.t.FailNow()
		}
		return r
	case <-time.After(5 * time.Second):
		s.t.Fatal("no response within 5s")
		return nil
	}
}

// A SotW client that reconnects to another replica with the versions it
// holds is sent nothing until something changes.
func TestSotwReconnectWithCurrentVersionsResendsNothing(t *testing.T) {
	res := translate(t, 10, nil)
	_, addrA := startReplica(t, res)
	srvB, addrB := startReplica(t, res)

	a := openSotw(t, addrA)
	types := []struct {
		url   string
		names []string
	}{{resourcev3.ClusterType, nil}, {resourcev3.EndpointType, []string{"web"}}, {resourcev3.ListenerType, nil}, {resourcev3.RouteType, []string{"web"}}}
	versions := map[string]string{}
	for _, typ := range types {
		a.request(typ.url, "", "", typ.names...)
		r := a.recv()
		if len(r.GetResources()) != 1 {
			t.Fatalf("%s: %d resources from replica a", typ.url, len(r.GetResources()))
		}
		versions[typ.url] = r.GetVersionInfo()
		a.request(typ.url, r.GetVersionInfo(), r.GetNonce(), typ.names...) // ACK
	}

	b := openSotw(t, addrB)
	for _, typ := range types {
		b.request(typ.url, versions[typ.url], "", typ.names...)
	}
	// Anything replica b resent would arrive before this change.
	if err := srvB.Publish(translate(t, 11, map[model.Ref]string{{Kind: model.KindEndpoint, Name: "web/a"}: `{"address":"127.0.0.1","port":8095}`})); err != nil {
		t.Fatal(err)
	}
	r := b.recv()
	if r.GetTypeUrl() != resourcev3.EndpointType {
		t.Fatalf("first response after reconnect is %s version %s; want only the changed endpoints", r.GetTypeUrl(), r.GetVersionInfo())
	}
	if r.GetVersionInfo() == versions[resourcev3.EndpointType] {
		t.Error("endpoint response carries the old version")
	}
}

// A state-of-the-world client re-sends its names with every ACK. The same
// names change nothing; a name added or dropped on an ACK changes what it
// is sent, as on any other request.
func TestSotwNamesChangedOnAnACKAreHonoured(t *testing.T) {
	// Group edge reaches web, api and db.
	edits := map[model.Ref]string{
		{Kind: model.KindService, Name: "api"}:    `{"protocol":"http"}`,
		{Kind: model.KindEndpoint, Name: "api/a"}: `{"address":"127.0.0.1","port":8083}`,
		{Kind: model.KindService, Name: "db"}:     `{"protocol":"tcp"}`,
		{Kind: model.KindEndpoint, Name: "db/a"}:  `{"address":"127.0.0.1","port":8084}`,
		{Kind: model.KindRouteTable, Name: "web"}: `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[` +
			`{"match":{"prefix":"/api"},"service":"api"},{"match":{"prefix":"/db"},"service":"db"},{"match":{"prefix":"/"},"service":"web"}]}]}`,
	}
	srv, addr := startReplica(t, translate(t, 10, edits))
	s := openSotw(t, addr)
	eds := resourcev3.EndpointType
	names := func(r *discoveryv3.DiscoveryResponse) []string {
		var out []string
		for _, a := range r.GetResources() {
			var cla endpointv3.ClusterLoadAssignment
			if err := a.UnmarshalTo(&cla); err != nil {
				t.Fatal(err)
			}
			out = append(out, cla.GetClusterName())
		}
		slices.Sort(out)
		return out
	}
	s.request(eds, "", "", "web")
	r := s.recv()
	s.request(eds, r.GetVersionInfo(), r.GetNonce(), "web") // the same names
	s.request(eds, r.GetVersionInfo(), r.GetNonce(), "web", "api")
	r = s.recv()
	if got := names(r); !slices.Equal(got, []string{"api"}) { // what it lacks
		t.Fatalf("after adding api on an ACK, sent %v", got)
	}
	s.request(eds, r.GetVersionInfo(), r.GetNonce(), "api", "web") // the same, in another order
	s.request(eds, r.GetVersionInfo(), r.GetNonce(), "api", "db")  // web dropped, db added
	r = s.recv()
	if got := names(r); !slices.Equal(got, []string{"db"}) {
		t.Fatalf("after swapping web for db on an ACK, sent %v", got)
	}
	s.request(eds, r.GetVersionInfo(), r.GetNonce(), "db", "api")
	edits[model.Ref{Kind: model.KindEndpoint, Name: "web/a"}] = `{"address":"127.0.0.1","port":8091}`
	edits[model.Ref{Kind: model.KindEndpoint, Name: "api/a"}] = `{"address":"127.0.0.1","port":8093}`
	if err := srv.Publish(translate(t, 11, edits)); err != nil {
		t.Fatal(err)
	}
	if got := names(s.recv()); !slices.Equal(got, []string{"api"}) {
		t.Errorf("after dropping web on an ACK, a change to web and api sent %v", got)
	}
}
