package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Changes a few hundred milliseconds apart on a busy replica: an interval
// falls in one push, and the next change comes before the next interval.
// At the quiet moment after its push the registration has moved since the
// last look, and every Envoy is at the new version: the quiet look writes
// the registration, and no proxy record, since "served" stays true in all
// of them. Held instead, the registration would be written maxHeld
// intervals on, in the middle of some push, with every Envoy that push had
// not reached.
func TestQuietLookWritesTheRegistrationWithoutTheFleet(t *testing.T) {
	g := newLookRig(t, 3)
	for v := 2; v <= 2*maxHeld; v += 2 {
		ver, next := fmt.Sprintf("e%d", v), fmt.Sprintf("e%d", v+1)
		g.serve(ver)
		for i := range g.list { // the interval falls in the push of ver
			g.set(i, ver, fmt.Sprintf("e%d", v-1))
		}
		if nodes, reg := g.look(); reg || len(nodes) != 0 {
			t.Fatalf("%s: an interval during the push wrote %v (registration %v), want it all held", ver, nodes, reg)
		}
		g.serve(next) // the next change, pushed and taken before the next interval
		for i := range g.list {
			g.set(i, next, next)
		}
		nodes, reg := g.lookAs(true)
		if !reg || len(nodes) != 0 {
			t.Fatalf("%s: the quiet look after the push wrote %v (registration %v), want the registration alone", next, nodes, reg)
		}
		if got := g.p.served["g"]["endpoints"]; got != next {
			t.Fatalf("%s: the registration written serves %q", next, got)
		}
	}
}

// At a quiet moment what changed is written at once, whatever it says: an
// Envoy that was sent a version and has not answered is published so.
func TestQuietLookWritesAStuckEnvoy(t *testing.T) {
	g := newLookRig(t, 3)
	g.serve("e2")
	g.set(0, "e2", "e2")
	g.set(1, "e2", "e2")
	g.set(2, "e2", "e1")
	nodes, reg := g.lookAs(true)
	if !reg || !slices.Equal(nodes, []string{"envoy-2"}) {
		t.Fatalf("the quiet look wrote %v (registration %v), want envoy-2 and the registration", nodes, reg)
	}
	if got := g.p.proxies[proxyID{group: "g", node: "envoy-2"}].written.Types[proxystate.Endpoints]; got != (proxystate.TypeStatus{Sent: "e2", Acked: "e1"}) {
		t.Errorf("envoy-2 written as %+v, want sent e2, acked e1", got)
	}
}

// Run watches for the quiet moment while something is held: the
// registration of a change whose push spans an interval is written as
// soon as the fleet holds still, not an interval later; while Envoys keep
// moving, it is not.
func TestRunPublishesWhenTheFleetHoldsStill(t *testing.T) {
	_, cli := etcdtest.Start(t)
	g := newRig(t, 3, cli)
	const interval = 2 * time.Second
	g.p.cfg.Interval = interval
	g.p.quietWindow = 200 * time.Millisecond // the loop below moves the fleet every millisecond; a busy machine may delay it, but not this long
	g.p.cfg.Logger = zaptest.NewLogger(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- g.p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	key := g.p.cfg.Keyspace.ReplicaKey("a")
	waitServed(t, cli, key, "e1", 5*time.Second)

	// A push that moves every millisecond across the first interval.
	g.serve("e2")
	for i := 0; time.Since(start) < interval+500*time.Millisecond; i++ {
		g.set(i%3, "e2", "e1")
		time.Sleep(time.Millisecond)
	}
	if got := served(t, cli, key); got != "e1" {
		t.Fatalf("the registration says %q while Envoys still moved, want e1 (held)", got)
	}
	for i := range g.list {
		g.set(i, "e2", "e2")
	}
	still := time.Now()
	waitServed(t, cli, key, "e2", interval)
	if took := time.Since(still); took > interval/2 {
		t.Errorf("the registration was written %s after the fleet held still, want within the quiet window, well before the next interval", took)
	}
	if got := value(g.p.proxyWrites); got != 3 {
		t.Errorf("%v proxy records written, want 3 (the first publish only)", got)
	}
}

// served reads the version of endpoints the registration at key names.
func served(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cli.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	var r registry.Record
	if err := json.Unmarshal(resp.Kvs[0].Value, &r); err != nil {
		t.Fatal(err)
	}
	return r.Versions["g"]["endpoints"]
}

func waitServed(t *testing.T, cli *clientv3.Client, key, want string, within time.Duration) {
	t.Helper()
	harness.Eventually(t, within, 5*time.Millisecond, func() error {
		if got := served(t, cli, key); got != want {
			return fmt.Errorf("the registration names %q, want %s", got, want)
		}
		return nil
	})
}
