package fleet_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// A node id reused in another group is another Envoy: each has its record
// (proxies/<replica>/<group>/<node-id>) and its line in the fleet view,
// and the second neither replaces the first nor is merged into it. When
// one goes, the other stays.
func TestReusedNodeIDInAnotherGroupIsAnotherEnvoy(t *testing.T) {
	e, cli := etcdtest.Start(t)
	connected := time.Now().Add(-time.Minute).UTC()
	fp := &fakeProxies{list: map[string]fleet.Proxy{
		"edge/vm-1":     {NodeID: "vm-1", Group: "edge", Delta: true, Connected: connected, Types: map[string]proxystate.TypeStatus{"clusters": {Sent: "e1", Acked: "e1"}}},
		"internal/vm-1": {NodeID: "vm-1", Group: "internal", Connected: connected.Add(time.Second), Types: map[string]proxystate.TypeStatus{"clusters": {Sent: "i1", Acked: "i0"}}},
		"edge/vm-2":     {NodeID: "vm-2", Group: "edge", Delta: true, Connected: connected, Types: map[string]proxystate.TypeStatus{"clusters": {Sent: "e1", Acked: "e1"}}},
	}}
	versions := func() map[string]map[string]string {
		return map[string]map[string]string{"edge": {"clusters": "e1"}, "internal": {"clusters": "i1"}}
	}
	clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: 30 * time.Second, EachProxy: fp.each, Versions: versions, Generation: fp.generation.Load})

	clustertest.Eventually(t, 10*time.Second, func() error {
		got := clustertest.GetPrefix(t, cli, "proxies/a/")
		for _, key := range []string{"edge/vm-1", "internal/vm-1", "edge/vm-2"} {
			if got[key] == nil {
				return fmt.Errorf("no proxies/a/%s yet (have %d records)", key, len(got))
			}
		}
		if len(got) != 3 {
			return fmt.Errorf("%d records, want 3", len(got))
		}
		return nil
	})
	f := readFleet(t, cli)
	states := map[string]fleet.SyncState{}
	for _, env := range f.Envoys {
		states[env.Group+"/"+env.NodeID] = env.Sync[0].State
	}
	want := map[string]fleet.SyncState{"edge/vm-1": fleet.Synced, "internal/vm-1": fleet.Stale, "edge/vm-2": fleet.Synced}
	if len(states) != len(want) || len(f.Envoys) != len(want) {
		t.Fatalf("fleet view: %v, want %v", states, want)
	}
	for id, s := range want {
		if states[id] != s {
			t.Errorf("%s: clusters %s, want %s", id, states[id], s)
		}
	}
	var out bytes.Buffer
	if err := fleet.WriteEnvoy(&out, f, "vm-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "Group:      edge") || !strings.Contains(out.String(), "Group:      internal") {
		t.Errorf("status of vm-1 shows one Envoy, want both groups:\n%s", out.String())
	}

	fp.update(func(m map[string]fleet.Proxy) { delete(m, "internal/vm-1") })
	clustertest.Eventually(t, 10*time.Second, func() error {
		got := clustertest.GetPrefix(t, cli, "proxies/a/")
		if got["internal/vm-1"] != nil || got["edge/vm-1"] == nil || len(got) != 2 {
			return fmt.Errorf("after internal/vm-1 left: %d records", len(got))
		}
		return nil
	})
}

// Records that replicas wrote before the group was in the key,
// proxies/<replica>/<node-id>, still read with their whole node id.
func TestReadFleetReadsRecordsWithoutGroupInTheKey(t *testing.T) {
	_, cli := etcdtest.Start(t)
	clustertest.Put(t, cli, "replicas/old", registry.Record{ID: "old"})
	clustertest.Put(t, cli, "proxies/old/envoy-1", fleet.Proxy{Group: "edge"})
	clustertest.Put(t, cli, "proxies/old/rack-7/envoy-2", fleet.Proxy{Group: "edge"})
	clustertest.Put(t, cli, "proxies/old/edge/envoy-3", fleet.Proxy{Group: "edge"})
	clustertest.Put(t, cli, "proxies/old/a%2Fb/envoy-4", fleet.Proxy{Group: "a/b"})
	f := readFleet(t, cli)
	var got []string
	for _, env := range f.Envoys {
		got = append(got, env.Group+" "+env.NodeID)
	}
	if want := "edge envoy-1,edge envoy-3,a/b envoy-4,edge rack-7/envoy-2"; strings.Join(got, ",") != want {
		t.Errorf("envoys %q, want %q", strings.Join(got, ","), want)
	}
}

func readFleet(t *testing.T, cli *clientv3.Client) *fleet.View {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := fleet.Read(ctx, cli, clustertest.KS)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
