package xdsserver

import (
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"

	"github.com/chancery-xds/chancery/translator"
)

// What a client holds hashes to the version of the snapshot it came from:
// heldVersion and buildSnapshot must agree.
func TestHeldVersionMatchesSnapshotVersion(t *testing.T) {
	g := &translator.GroupResources{Clusters: []*clusterv3.Cluster{{Name: "a"}, {Name: "b"}}}
	snap, err := buildSnapshot(newEncoder(), g, nil)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]string{}
	for _, r := range snap.types[clustersIdx].sorted {
		held[r.name] = r.hash
	}
	if got, want := heldVersion(held), snap.versions["clusters"]; got != want {
		t.Errorf("heldVersion %s, snapshot version %s", got, want)
	}
	delete(held, "b")
	if heldVersion(held) == snap.versions["clusters"] {
		t.Error("a subset hashes to the full version")
	}
}
