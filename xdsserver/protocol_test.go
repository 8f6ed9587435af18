package xdsserver_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator/output"
)

// deltaStream is a bare delta ADS stream.
type deltaStream struct {
	t      *testing.T
	stream discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	node   *corev3.Node
	got    chan *discoveryv3.DeltaDiscoveryResponse
}

func openDelta(t *testing.T, addr string) *deltaStream {
	t.Helper()
	c, ctx := adsClient(t, addr)
	s, err := c.DeltaAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := &deltaStream{t: t, stream: s, node: &corev3.Node{Id: "envoy-delta", Cluster: "edge"}, got: make(chan *discoveryv3.DeltaDiscoveryResponse, 16)}
	go func() {
		for {
			r, err := s.Recv()
			if err != nil {
				close(d.got)
				return
			}
			d.got <- r
		}
	}()
	return d
}

func (d *deltaStream) send(req *discoveryv3.DeltaDiscoveryRequest) {
	d.t.Helper()
	req.Node, d.node = d.node, nil
	if err := d.stream.Send(req); err != nil {
		d.t.Fatal(err)
	}
}

func (d *deltaStream) recv() *discoveryv3.DeltaDiscoveryResponse {
	d.t.Helper()
	select {
	case r, ok := <-d.got:
		if !ok {
			d.t.Fatal("stream ended")
		}
		return r
	case <-time.After(5 * time.Second):
		d.t.Fatal("no response within 5s")
		return nil
	}
}

// none fails if a response arrives within a short wait.
func (d *deltaStream) none() {
	d.t.Helper()
	select {
	case r := <-d.got:
		d.t.Fatalf("unexpected %s response: %d resources, removed %v", r.GetTypeUrl(), len(r.GetResources()), r.GetRemovedResources())
	case <-time.After(200 * time.Millisecond):
	}
}

func names(r *discoveryv3.DeltaDiscoveryResponse) []string {
	var out []string
	for _, res := range r.GetResources() {
		out = append(out, res.GetName())
	}
	return out
}

// withAPI adds a second service to group edge, and moves web's endpoint a
// to port (unless 0).
func withAPI(port int) map[model.Ref]string {
	edits := map[model.Ref]string{
		{Kind: model.KindService, Name: "api"}:    `{"protocol":"http"}`,
		{Kind: model.KindEndpoint, Name: "api/a"}: `{"address":"127.0.0.1","port":8181}`,
		{Kind: model.KindRouteTable, Name: "web"}: `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/api"},"service":"api"},{"match":{"prefix":"/"},"service":"web"}]}]}`,
	}
	if port != 0 {
		edits[model.Ref{Kind: model.KindEndpoint, Name: "web/a"}] = fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, port)
	}
	return edits
}

// A delta client gets what it names, nothing once it unsubscribes, and the
// resource again when it subscribes again, though it did not change.
func TestDeltaSubscribeUnsubscribe(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web"}})
	r := d.recv()
	if got := names(r); len(got) != 1 || got[0] != "web" {
		t.Fatalf("first response names %v, want [web]", got)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.GetNonce()})
	d.none()

	// Swap web for api; api's arrival shows the server took the request.
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType,
		ResourceNamesUnsubscribe: []string{"web"}, ResourceNamesSubscribe: []string{"api"}})
	r = d.recv()
	if got := names(r); len(got) != 1 || got[0] != "api" {
		t.Fatalf("after swapping web for api, names %v, want [api]", got)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.GetNonce()})
	if err := srv.Publish(translate(t, 11, withAPI(8095))); err != nil { // moves web's endpoint alone
		t.Fatal(err)
	}
	d.none()

	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web", "missing"}})
	r = d.recv()
	if got := names(r); len(got) != 1 || got[0] != "web" {
		t.Fatalf("after subscribing again, names %v, want [web]", got)
	}
}

// A wildcard delta client is told of a removed resource by name.
func TestDeltaRemoval(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, nil))
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	r := d.recv()
	if got := names(r); len(got) != 1 || got[0] != "main" {
		t.Fatalf("listeners %v, want [main]", got)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: r.GetNonce()})
	res := translate(t, 11, nil)
	res.Groups["edge"].Listeners, res.Groups["edge"].Routes = nil, nil
	if err := srv.Publish(res); err != nil {
		t.Fatal(err)
	}
	r = d.recv()
	if len(r.GetResources()) != 0 || len(r.GetRemovedResources()) != 1 || r.GetRemovedResources()[0] != "main" {
		t.Fatalf("after the listener went: resources %v, removed %v; want only main removed", names(r), r.GetRemovedResources())
	}
}

// A state-of-the-world request that answers a response since replaced is
// ignored; the endpoints response carries only what changed.
func TestSotwStaleNonceAndPartialEndpoints(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	s := openSotw(t, addr)
	s.request(resourcev3.EndpointType, "", "", "web", "api")
	first := s.recv()
	if len(first.GetResources()) != 2 {
		t.Fatalf("first endpoints response has %d resources, want 2", len(first.GetResources()))
	}
	s.request(resourcev3.EndpointType, first.GetVersionInfo(), first.GetNonce(), "web", "api")
	if err := srv.Publish(translate(t, 11, withAPI(8095))); err != nil {
		t.Fatal(err)
	}
	second := s.recv()
	if len(second.GetResources()) != 1 {
		t.Fatalf("after one endpoint change, %d resources, want web's alone", len(second.GetResources()))
	}
	// A late second answer to the first response, naming api alone, is
	// stale: it changes nothing.
	s.request(resourcev3.EndpointType, first.GetVersionInfo(), first.GetNonce(), "api")
	s.request(resourcev3.EndpointType, second.GetVersionInfo(), second.GetNonce(), "web", "api")
	if err := srv.Publish(translate(t, 12, withAPI(8096))); err != nil {
		t.Fatal(err)
	}
	third := s.recv()
	if third.GetVersionInfo() == second.GetVersionInfo() || len(third.GetResources()) != 1 {
		t.Fatalf("third response: version %s (second %s), %d resources", third.GetVersionInfo(), second.GetVersionInfo(), len(third.GetResources()))
	}
}

// Until a client answers a response, publishes wait; its answer brings the
// newest state in one response.
func TestUnansweredResponseHoldsPublishes(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web", "api"}})
	first := d.recv()
	for i, port := range []int{8095, 8096, 8097} {
		if err := srv.Publish(translate(t, int64(11+i), withAPI(port))); err != nil {
			t.Fatal(err)
		}
	}
	d.none()
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: first.GetNonce()})
	r := d.recv()
	if got := names(r); len(got) != 1 || got[0] != "web" {
		t.Fatalf("after the ACK: %v, want [web]", got)
	}
	latest, _ := srv.Versions("edge")
	if r.GetSystemVersionInfo() != latest.Versions["endpoints"] {
		t.Errorf("after the ACK: version %s, want the newest %s", r.GetSystemVersionInfo(), latest.Versions["endpoints"])
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.GetNonce()})
	d.none()
}

// A publish does not wake a stream whose every subscription waits for an
// answer; the answer brings what is newest. Answers racing publishes, the
// client still ends at the newest version.
func TestAnswersRacingPublishesEndAtTheNewest(t *testing.T) {
	const publishes = 200
	versions := make([]*output.Resources, publishes)
	for i := range versions {
		versions[i] = translate(t, int64(11+i), withAPI(9000+i))
	}
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"web", "api"}})
	r := d.recv()
	published := make(chan error, 1)
	go func() {
		for _, res := range versions {
			if err := srv.Publish(res); err != nil {
				published <- err
				return
			}
			time.Sleep(time.Duration(rand.IntN(200)) * time.Microsecond)
		}
		published <- nil
	}()
	ack := func() {
		d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: r.GetNonce()})
	}
	ack()
	for published != nil {
		select {
		case err := <-published:
			if err != nil {
				t.Fatal(err)
			}
			published = nil
		case next, ok := <-d.got:
			if !ok {
				t.Fatal("stream ended")
			}
			r = next
			ack()
		case <-time.After(10 * time.Second):
			t.Fatal("no response and no end of the publishes within 10s")
		}
	}
	latest, _ := srv.Versions("edge")
	for r.GetSystemVersionInfo() != latest.Versions["endpoints"] {
		r = d.recv() // fails after 5 s without one: a publish lost to the race
		ack()
	}
	d.none() // holding the newest, answered: nothing more
}

// A state-of-the-world client that reconnects holding the version before
// the current one is sent only what changed since.
func TestSotwReconnectOneVersionBehind(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	a := openSotw(t, addr)
	a.request(resourcev3.EndpointType, "", "", "web", "api")
	old := a.recv()
	if err := srv.Publish(translate(t, 11, withAPI(8095))); err != nil {
		t.Fatal(err)
	}
	b := openSotw(t, addr)
	b.request(resourcev3.EndpointType, old.GetVersionInfo(), "", "web", "api")
	r := b.recv()
	if len(r.GetResources()) != 1 || r.GetVersionInfo() == old.GetVersionInfo() {
		t.Fatalf("reconnect one version behind: %d resources at version %s, want web's alone at a new version", len(r.GetResources()), r.GetVersionInfo())
	}
}

// A delta client that reconnects holding a resource the server no longer
// has is told it is removed, and is sent nothing it holds already.
func TestDeltaReconnectRemovesWhatIsGone(t *testing.T) {
	_, addr := startReplica(t, translate(t, 10, nil))
	first := openDelta(t, addr)
	first.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	r := first.recv()
	if len(r.GetResources()) != 1 {
		t.Fatalf("listeners %v, want [main]", names(r))
	}
	held := map[string]string{"main": r.GetResources()[0].GetVersion(), "gone": "some-version"}

	second := openDelta(t, addr)
	second.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, InitialResourceVersions: held})
	r = second.recv()
	if len(r.GetResources()) != 0 || len(r.GetRemovedResources()) != 1 || r.GetRemovedResources()[0] != "gone" {
		t.Errorf("after reconnect: resources %v, removed %v; want only gone removed", names(r), r.GetRemovedResources())
	}
}

// StatusGeneration moves with every change to what Proxies returns, and
// only then: a poller can skip an unchanged fleet.
func TestStatusGenerationFollowsProxies(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, nil))
	waitGen := func(after uint64, what string) uint64 {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for srv.StatusGeneration() == after {
			if time.Now().After(deadline) {
				t.Fatalf("status generation still %d after %s", after, what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return srv.StatusGeneration()
	}
	start := srv.StatusGeneration()
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	r := d.recv()
	sent := waitGen(start, "a response was sent")
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: r.GetNonce()})
	acked := waitGen(sent, "an ACK")
	if p := srv.Proxies(); len(p) != 1 || p[0].Types["listeners"].Acked == "" {
		t.Fatalf("proxies after the ACK: %+v", p)
	}
	time.Sleep(100 * time.Millisecond)
	if g := srv.StatusGeneration(); g != acked {
		t.Errorf("status generation moved from %d to %d with nothing happening", acked, g)
	}
	if err := d.stream.CloseSend(); err != nil {
		t.Fatal(err)
	}
	waitGen(acked, "the stream closed")
	if p := srv.Proxies(); len(p) != 0 {
		t.Errorf("proxies after the stream closed: %+v", p)
	}
}

// settle opens a delta ADS stream holding group edge's clusters, the
// endpoints of the named clusters, listeners and routes, every response
// answered.
func settle(t *testing.T, addr string, endpoints ...string) *deltaStream {
	t.Helper()
	d := openDelta(t, addr)
	for _, req := range []*discoveryv3.DeltaDiscoveryRequest{
		{TypeUrl: resourcev3.ClusterType},
		{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: endpoints},
		{TypeUrl: resourcev3.ListenerType},
		{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"web"}},
	} {
		d.send(req)
		r := d.recv()
		if r.GetTypeUrl() != req.GetTypeUrl() {
			t.Fatalf("asked for %s, got %s", req.GetTypeUrl(), r.GetTypeUrl())
		}
		d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: r.GetTypeUrl(), ResponseNonce: r.GetNonce()})
	}
	d.none()
	return d
}

// A route to a new cluster is pushed only once the client has applied the
// cluster and its endpoints: Envoy answers a route to a cluster still
// warming with 503.
func TestRoutesWaitForNewClustersToWarm(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, nil))
	d := settle(t, addr, "web")
	if err := srv.Publish(translate(t, 11, withAPI(0))); err != nil { // cluster api, and a route to it
		t.Fatal(err)
	}
	cds := d.recv()
	if got := names(cds); cds.GetTypeUrl() != resourcev3.ClusterType || len(got) != 1 || got[0] != "api" {
		t.Fatalf("first after the publish: %s %v, want clusters [api]", cds.GetTypeUrl(), got)
	}
	d.none() // the route waits for the cluster

	// As Envoy does: it asks for the new cluster's endpoints, then ACKs.
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResourceNamesSubscribe: []string{"api"}})
	eds := d.recv()
	if got := names(eds); eds.GetTypeUrl() != resourcev3.EndpointType || len(got) != 1 || got[0] != "api" {
		t.Fatalf("after asking for api's endpoints: %s %v", eds.GetTypeUrl(), got)
	}
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ClusterType, ResponseNonce: cds.GetNonce()})
	d.none() // the cluster is applied, but warms until its endpoints are
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.EndpointType, ResponseNonce: eds.GetNonce()})
	rds := d.recv()
	if got := names(rds); rds.GetTypeUrl() != resourcev3.RouteType || len(got) != 1 || got[0] != "web" {
		t.Fatalf("once the cluster is warm: %s %v, want routes [web]", rds.GetTypeUrl(), got)
	}
}

// Endpoint changes in flight hold nothing back: only endpoints the client
// has just asked for do.
func TestEndpointPushesDoNotHoldRoutes(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, nil))
	d := settle(t, addr, "web")
	if err := srv.Publish(translate(t, 11, map[model.Ref]string{{Kind: model.KindEndpoint, Name: "web/a"}: `{"address":"127.0.0.1","port":8095}`})); err != nil {
		t.Fatal(err)
	}
	if r := d.recv(); r.GetTypeUrl() != resourcev3.EndpointType {
		t.Fatalf("after an endpoint change: %s, want endpoints", r.GetTypeUrl())
	} // and not answered
	route := `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/web"},"service":"web"}]}]}`
	if err := srv.Publish(translate(t, 12, map[model.Ref]string{
		{Kind: model.KindEndpoint, Name: "web/a"}: `{"address":"127.0.0.1","port":8095}`,
		{Kind: model.KindRouteTable, Name: "web"}: route,
	})); err != nil {
		t.Fatal(err)
	}
	if r := d.recv(); r.GetTypeUrl() != resourcev3.RouteType {
		t.Fatalf("after a route change: %s, want routes", r.GetTypeUrl())
	}
}

// A publish that removes a cluster, and the route to it, holds nothing
// back: the client has nothing to warm.
func TestRemovedClusterDoesNotHoldRoutes(t *testing.T) {
	srv, addr := startReplica(t, translate(t, 10, withAPI(0)))
	d := settle(t, addr, "web", "api")
	if err := srv.Publish(translate(t, 11, nil)); err != nil {
		t.Fatal(err)
	}
	got := map[string]*discoveryv3.DeltaDiscoveryResponse{}
	for range 3 { // clusters, endpoints and routes, none answered
		r := d.recv()
		got[r.GetTypeUrl()] = r
	}
	for _, typ := range []string{resourcev3.ClusterType, resourcev3.EndpointType} {
		if r := got[typ]; r == nil || len(r.GetRemovedResources()) != 1 || r.GetRemovedResources()[0] != "api" {
			t.Errorf("%s: %v, want api removed", typ, r)
		}
	}
	if r := got[resourcev3.RouteType]; r == nil || len(names(r)) != 1 {
		t.Errorf("routes: %v, want web", r)
	}
}
