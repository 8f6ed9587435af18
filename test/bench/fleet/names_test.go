package main

import (
	"maps"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
)

// held returns what v holds, by name.
func held(n *names, v *versions) map[string]string {
	m := map[string]string{}
	v.each(n, func(name, version string) { m[name] = version })
	return m
}

func TestVersionsHoldWhatWasSetAndNotDropped(t *testing.T) {
	var n names
	var a, b versions
	a.set(&n, "svc-1", "v1")
	b.set(&n, "svc-2", "v7") // numbered after svc-1: b's slice has a hole
	a.set(&n, "svc-2", "v2")
	a.set(&n, "svc-1", "v3")
	a.set(&n, "svc-3", "v4")
	a.drop(&n, "svc-3")
	a.drop(&n, "never-held")
	if got, want := held(&n, &a), map[string]string{"svc-1": "v3", "svc-2": "v2"}; !maps.Equal(got, want) {
		t.Errorf("a holds %v, want %v", got, want)
	}
	if got, want := held(&n, &b), map[string]string{"svc-2": "v7"}; !maps.Equal(got, want) {
		t.Errorf("b holds %v, want %v", got, want)
	}
	if id1, id2 := n.id("svc-1"), n.id("svc-2"); id1 == id2 {
		t.Errorf("svc-1 and svc-2 share number %d", id1)
	}
	var none *versions
	none.drop(&n, "svc-1")
	if got := held(&n, none); len(got) != 0 {
		t.Errorf("a type never asked for holds %v", got)
	}
}

// A claim request is the delta request with initial_resource_versions
// from what the client holds, as protobuf reads it.
func TestClaimRequestEncodesWhatIsHeld(t *testing.T) {
	var n names
	var v versions
	v.set(&n, "svc-1", "v1")
	v.set(&n, "svc-2", "v2")
	v.drop(&n, "svc-1")
	v.set(&n, "svc-3", "v3")
	req := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
		ResourceNamesSubscribe: []string{"svc-2", "svc-3"}}
	b, err := appendClaimRequest(nil, &claimRequest{req, &v, &n})
	if err != nil {
		t.Fatal(err)
	}
	var got discoveryv3.DeltaDiscoveryRequest
	if err := proto.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := proto.Clone(req).(*discoveryv3.DeltaDiscoveryRequest)
	want.InitialResourceVersions = map[string]string{"svc-2": "v2", "svc-3": "v3"}
	if !proto.Equal(&got, want) {
		t.Errorf("decoded %v, want %v", &got, want)
	}
}
