package fleet_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// The fleet view compares each Envoy's versions with the newest replica's:
// SYNCED, STALE, NACKED with the error, NOT SENT.
func TestReadFleet(t *testing.T) {
	_, cli := etcdtest.Start(t)
	current := map[string]string{"clusters": "c2", "endpoints": "e2", "listeners": "l2", "routes": "r2"}
	clustertest.Put(t, cli, "replicas/a", registry.Record{ID: "a", Address: "10.0.0.1:18000", Revision: 10,
		Versions: map[string]map[string]string{"edge": current}})
	clustertest.Put(t, cli, "replicas/b", registry.Record{ID: "b", Revision: 9,
		Versions: map[string]map[string]string{"edge": {"clusters": "c1", "endpoints": "e1", "listeners": "l1", "routes": "r1"}}})
	connected := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	synced := map[string]proxystate.TypeStatus{}
	for typ, v := range current {
		synced[typ] = proxystate.TypeStatus{Sent: v, Acked: v}
	}
	clustertest.Put(t, cli, "proxies/a/envoy-1", fleet.Proxy{Group: "edge", Delta: true, Connected: connected, Types: synced})
	clustertest.Put(t, cli, "proxies/b/envoy/2", fleet.Proxy{Group: "edge", Connected: connected, Types: map[string]proxystate.TypeStatus{
		"clusters":  {Sent: "c1", Acked: "c1"},
		"endpoints": {Sent: "e2", Acked: "e1", NackError: "endpoint 10.0.0.9:0:\n  port must not be 0"},
		"listeners": {Sent: "l2"},
	}})
	clustertest.Put(t, cli, "leader/694d9a7e6c1d5f04", "a")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := fleet.Read(ctx, cli, clustertest.KS)
	if err != nil {
		t.Fatal(err)
	}
	if f.Leader != "a" || len(f.Replicas) != 2 || len(f.Envoys) != 2 {
		t.Fatalf("fleet: leader %q, %d replicas, %d envoys", f.Leader, len(f.Replicas), len(f.Envoys))
	}
	want := map[string][]fleet.SyncState{
		"envoy-1": {fleet.Synced, fleet.Synced, fleet.Synced, fleet.Synced},
		"envoy/2": {fleet.Stale, fleet.Nacked, fleet.Stale, fleet.NotSent},
	}
	for _, e := range f.Envoys {
		for i, s := range e.Sync {
			if s.State != want[e.NodeID][i] {
				t.Errorf("%s %s: %s, want %s", e.NodeID, s.Type, s.State, want[e.NodeID][i])
			}
		}
	}

	var table bytes.Buffer
	if err := fleet.WriteTable(&table, f); err != nil {
		t.Fatal(err)
	}
	t.Logf("chanceryctl status:\n%s", table.String())
	for _, line := range []string{
		"envoy-1  edge   a        SYNCED    SYNCED     SYNCED     SYNCED",
		"envoy/2  edge   b        STALE     NACKED     STALE      NOT SENT  endpoints: endpoint 10.0.0.9:0: port must not be 0",
	} {
		if !strings.Contains(table.String(), line) {
			t.Errorf("fleet table has no line %q", line)
		}
	}

	var one bytes.Buffer
	if err := fleet.WriteEnvoy(&one, f, "envoy/2", connected.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t.Logf("chanceryctl status envoy/2:\n%s", one.String())
	for _, s := range []string{"Replica:    b\n", "(1h0m0s ago)", "endpoints  NACKED    e2    e1     e2", "port must not be 0"} {
		if !strings.Contains(one.String(), s) {
			t.Errorf("detail of envoy/2 has no %q", s)
		}
	}
	if err := fleet.WriteEnvoy(&one, f, "nobody", time.Now()); !errors.Is(err, fleet.ErrNoSuchEnvoy) {
		t.Errorf("unknown node: %v, want ErrNoSuchEnvoy", err)
	}
}
