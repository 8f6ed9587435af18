package xdsserver

import (
	"fmt"
	"slices"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"

	"github.com/chancery-xds/chancery/translator"
)

// cla is a load assignment of one endpoint at 127.0.0.1:port.
func cla(name string, port uint32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{ClusterName: name, Endpoints: []*endpointv3.LocalityLbEndpoints{{
		LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
				Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}}}}}}}}
}

// A build patched from the one before (one load assignment replaced) has
// the version a build from scratch gives the same resources, and names
// exactly what changed.
func TestPatchedBuildMatchesFullBuild(t *testing.T) {
	var items []types.Resource
	for i := range 100 {
		items = append(items, cla(fmt.Sprintf("svc-%03d", i), uint32(8000+i)))
	}
	enc := newEncoder()
	first, err := enc.buildType(endpointsIdx, items, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := slices.Clone(items)
	next[42] = cla("svc-042", 9042)
	enc.begin()
	patched, err := enc.buildType(endpointsIdx, next, first)
	if err != nil {
		t.Fatal(err)
	}
	full, err := newEncoder().buildType(endpointsIdx, next, nil)
	if err != nil {
		t.Fatal(err)
	}
	if patched.version != full.version || patched.version == first.version {
		t.Errorf("versions: first %s, patched %s, full build %s", first.version, patched.version, full.version)
	}
	if len(patched.changed) != 1 || patched.changed[0].name != "svc-042" || len(patched.removed) != 0 {
		t.Errorf("changed %d (want svc-042 alone), removed %v", len(patched.changed), patched.removed)
	}
	if patched.base.Load() != first {
		t.Error("the patched build does not name the build it replaced")
	}
	if r := patched.lookup("svc-042"); r == nil || r != patched.changed[0] {
		t.Error("lookup does not find the replaced resource")
	}
}

// Streams behind by more than one build, holding the same build and
// wanting the same names, share one comparison, and it is the one each
// would make for itself: a changed resource from either build since, a
// name gone, and nothing they do not want.
func TestStreamsBehindShareOneDiff(t *testing.T) {
	var items []types.Resource
	for i := range 10 {
		items = append(items, cla(fmt.Sprintf("svc-%d", i), uint32(8000+i)))
	}
	enc := newEncoder()
	build := func(items []types.Resource, prev *builtType) *builtType {
		t.Helper()
		enc.begin()
		b, err := enc.buildType(endpointsIdx, items, prev)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := build(items, nil)
	items = slices.Clone(items)
	items[1] = cla("svc-1", 9001)
	second := build(items, first)
	items = slices.Concat(items[:3], items[4:]) // svc-3 goes
	items[5] = cla("svc-6", 9006)
	third := build(items, second)

	held := func(names ...string) *subscription {
		s := newSubscription([]string{"x"})
		if names == nil {
			s = newSubscription(nil)
			s.replace(nil) // wildcard
		} else {
			s.subscribe(names, nil)
		}
		s.sent = first
		return s
	}
	names := func(rs []*resource) []string {
		var out []string
		for _, r := range rs {
			out = append(out, r.name)
		}
		return out
	}
	for _, c := range []struct {
		subs              []*subscription
		wantRes, wantGone []string
	}{
		{[]*subscription{held(), held()}, []string{"svc-1", "svc-6"}, []string{"svc-3"}},
		{[]*subscription{held("svc-1", "svc-3", "svc-4"), held("svc-4", "svc-3", "svc-1")}, []string{"svc-1"}, []string{"svc-3"}},
		{[]*subscription{held("svc-0", "svc-6")}, []string{"svc-6"}, nil},
	} {
		var shared []*resource
		for i, s := range c.subs {
			res, gone := s.changes(third, nil)
			own, ownGone := s.diff(third, nil)
			if !slices.Equal(names(res), c.wantRes) || !slices.Equal(gone, c.wantGone) ||
				!slices.Equal(names(own), c.wantRes) || !slices.Equal(ownGone, c.wantGone) {
				t.Errorf("wildcard %v, names %v: sent %v and removed %v, its own diff %v and %v; want %v and %v",
					s.wildcard, s.names.m, names(res), gone, names(own), ownGone, c.wantRes, c.wantGone)
			}
			if i == 0 {
				shared = res
			} else if &res[0] != &shared[0] {
				t.Errorf("names %v: a second stream holding the same build compared again", s.names.m)
			}
		}
	}
	if len(third.diffs) != 3 {
		t.Errorf("the third build remembers %d comparisons; want 3 (one per name set)", len(third.diffs))
	}
}

// A snapshot whose EDS clusters and load assignments do not match is
// refused, either way round.
func TestInconsistentSnapshotIsRefused(t *testing.T) {
	eds := &clusterv3.Cluster{Name: "a", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}}}}
	for name, g := range map[string]*translator.GroupResources{
		"cluster without endpoints": {Clusters: []*clusterv3.Cluster{eds}},
		"endpoints without cluster": {Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: "b"}}},
	} {
		if _, err := buildSnapshot(newEncoder(), g, nil); err == nil {
			t.Errorf("%s: published", name)
		}
	}
	ok := &translator.GroupResources{Clusters: []*clusterv3.Cluster{eds}, Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: "a"}}}
	if _, err := buildSnapshot(newEncoder(), ok, nil); err != nil {
		t.Errorf("consistent snapshot refused: %v", err)
	}
}
