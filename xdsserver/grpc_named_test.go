package xdsserver_test

import (
	"slices"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// A delta client that names its listener (a proxyless gRPC client) gets
// that listener alone, not the group's others, and the route
// configuration it names; a wildcard client of the same group gets both
// listeners with the same version for the gRPC one.
func TestDeltaNamedListenerSubscription(t *testing.T) {
	edits := map[model.Ref]string{
		{Kind: model.KindListener, Name: "echo"}: `{"protocol":"grpc","route_table":"web","groups":["edge"]}`,
	}
	_, addr := startReplica(t, translate(t, 10, edits))
	d := openDelta(t, addr)
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResourceNamesSubscribe: []string{"echo"}})
	r := d.recv()
	if got := names(r); !slices.Equal(got, []string{"echo"}) {
		t.Fatalf("named listener subscription: got %v, want [echo]", got)
	}
	named := r.GetResources()[0].GetVersion()
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType, ResponseNonce: r.GetNonce()})
	d.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.RouteType, ResourceNamesSubscribe: []string{"grpc:web"}})
	r = d.recv()
	if got := names(r); !slices.Equal(got, []string{"grpc:web"}) {
		t.Fatalf("route subscription: got %v, want [grpc:web]", got)
	}

	w := openDelta(t, addr)
	w.send(&discoveryv3.DeltaDiscoveryRequest{TypeUrl: resourcev3.ListenerType})
	r = w.recv()
	got := names(r)
	slices.Sort(got)
	if len(got) != 2 || !slices.Contains(got, "echo") {
		t.Fatalf("wildcard listeners: got %v, want echo and the http listener", got)
	}
	for _, res := range r.GetResources() {
		if res.GetName() == "echo" && res.GetVersion() != named {
			t.Errorf("echo's version: %s to the wildcard client, %s to the named one", res.GetVersion(), named)
		}
	}
}
