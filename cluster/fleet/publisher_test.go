package fleet_test

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// fakeProxies stands in for the xDS server's list of connected Envoys.
type fakeProxies struct {
	mu         sync.Mutex
	list       map[string]fleet.Proxy
	generation atomic.Uint64 // bumped by every update
	reads      atomic.Int64  // calls of each
}

func (f *fakeProxies) each(fn func(*proxystate.Proxy)) {
	f.reads.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.list {
		st := fleet.StateOf(p)
		fn(&st)
	}
}

func (f *fakeProxies) update(fn func(map[string]fleet.Proxy)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f.list)
	f.generation.Add(1)
}

// A fleet at rest is not looked at: while neither the proxy generation nor
// the versions served change, the publisher reads no proxies, and the first
// change after the rest is written.
func TestRestingFleetIsNotRead(t *testing.T) {
	e, cli := etcdtest.Start(t)
	fp := &fakeProxies{list: map[string]fleet.Proxy{}}
	for i := range 20 {
		id := fmt.Sprintf("envoy-%02d", i)
		fp.list[id] = fleet.Proxy{NodeID: id, Group: "edge", Delta: true, Connected: time.Now().UTC(),
			Types: map[string]proxystate.TypeStatus{"clusters": {Sent: "v1", Acked: "v1"}}}
	}
	versions := func() map[string]map[string]string { return map[string]map[string]string{"edge": {"clusters": "v1"}} }
	clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: 30 * time.Second, Publish: 20 * time.Millisecond,
		EachProxy: fp.each, Versions: versions, Generation: fp.generation.Load})
	clustertest.Eventually(t, 10*time.Second, func() error {
		if n := len(clustertest.GetPrefix(t, cli, "proxies/a/edge/")); n != 20 {
			return fmt.Errorf("%d proxies published, want 20", n)
		}
		return nil
	})
	// The publish that wrote them may still be finishing: wait for the
	// reads to stop, then hold them to none over about 25 intervals.
	deadline := time.Now().Add(5 * time.Second)
	before := fp.reads.Load()
	for {
		time.Sleep(100 * time.Millisecond)
		now := fp.reads.Load()
		if now == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxies are still read at every publish while nothing changes (%d reads)", now)
		}
		before = now
	}
	time.Sleep(500 * time.Millisecond)
	if reads := fp.reads.Load() - before; reads != 0 {
		t.Errorf("the proxies were read %d times while nothing changed, want 0", reads)
	}

	fp.update(func(m map[string]fleet.Proxy) {
		p := m["envoy-03"]
		p.Types = map[string]proxystate.TypeStatus{"clusters": {Sent: "v2", Acked: "v1", NackError: "bad cluster"}}
		m["envoy-03"] = p
	})
	clustertest.Eventually(t, 10*time.Second, func() error {
		if x := clustertest.GetPrefix(t, cli, "proxies/a/edge/")["envoy-03"]; x == nil || !strings.Contains(x.Value, "bad cluster") {
			return fmt.Errorf("envoy-03's rejection not published yet")
		}
		return nil
	})
}

// A replica publishes its Envoys in batches, under its lease, rewriting only
// what changed; when it leaves, its registration and its Envoys go with it.
func TestProxyStatusIsBatchedAndLeased(t *testing.T) {
	e, cli := etcdtest.Start(t)
	connected := time.Now().Add(-time.Minute).UTC()
	fp := &fakeProxies{list: map[string]fleet.Proxy{}}
	for i := range 300 {
		id := fmt.Sprintf("envoy-%03d", i)
		fp.list[id] = fleet.Proxy{NodeID: id, Group: "edge", Delta: true, Connected: connected,
			Types: map[string]proxystate.TypeStatus{"clusters": {Sent: "v1", Acked: "v1"}}}
	}
	versions := func() map[string]map[string]string { return map[string]map[string]string{"edge": {"clusters": "v1"}} }
	// A long TTL: what vanishes at the end was revoked, not expired.
	n := clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: 30 * time.Second, EachProxy: fp.each, Versions: versions})

	var first map[string]*clustertest.KV
	clustertest.Eventually(t, 10*time.Second, func() error {
		if first = clustertest.GetPrefix(t, cli, "proxies/a/edge/"); len(first) != 300 {
			return fmt.Errorf("%d proxies published, want 300", len(first))
		}
		return nil
	})
	txns := map[int64]bool{}
	for node, x := range first {
		txns[x.Mod] = true
		if x.Lease == 0 {
			t.Errorf("proxies/a/edge/%s is not under the replica's lease", node)
		}
	}
	if len(txns) > 3 {
		t.Errorf("300 proxies took %d transactions, want at most 3", len(txns))
	}
	reg := clustertest.GetPrefix(t, cli, "replicas/")["a"]
	if reg == nil || reg.Lease == 0 {
		t.Fatalf("replicas/a: %+v, want it under the lease", reg)
	}

	fp.update(func(m map[string]fleet.Proxy) {
		p := m["envoy-007"]
		p.Types = map[string]proxystate.TypeStatus{"clusters": {Sent: "v2", Acked: "v1", NackError: "bad cluster"}}
		m["envoy-007"] = p
		delete(m, "envoy-299")
	})
	clustertest.Eventually(t, 10*time.Second, func() error {
		now := clustertest.GetPrefix(t, cli, "proxies/a/edge/")
		if len(now) != 299 || now["envoy-007"].Mod == first["envoy-007"].Mod {
			return fmt.Errorf("%d proxies, envoy-007 at revision %d", len(now), now["envoy-007"].Mod)
		}
		for node, x := range now {
			if node != "envoy-007" && x.Mod != first[node].Mod {
				t.Fatalf("proxies/a/edge/%s rewritten though it did not change", node)
			}
		}
		return nil
	})

	n.Stop()
	if left := len(clustertest.GetPrefix(t, cli, "proxies/a/edge/")) + len(clustertest.GetPrefix(t, cli, "replicas/")); left != 0 {
		t.Errorf("%d keys left after the replica stopped, want 0 (its lease revoked)", left)
	}
}

// When every Envoy ACKs a new version, no proxy record is rewritten: they
// say "at the served version", and only the replica's record moves. The
// fleet view still shows the versions themselves.
func TestInSyncFleetWritesNothingOnChange(t *testing.T) {
	e, cli := etcdtest.Start(t)
	var mu sync.Mutex
	served := "v1"
	fp := &fakeProxies{list: map[string]fleet.Proxy{}}
	setAll := func(v string) {
		mu.Lock()
		served = v
		mu.Unlock()
		fp.update(func(m map[string]fleet.Proxy) {
			for id, p := range m {
				p.Types = map[string]proxystate.TypeStatus{"clusters": {Sent: v, Acked: v}}
				m[id] = p
			}
		})
	}
	for i := range 50 {
		id := fmt.Sprintf("envoy-%02d", i)
		fp.list[id] = fleet.Proxy{NodeID: id, Group: "edge", Delta: true, Connected: time.Now().UTC()}
	}
	setAll("v1")
	versions := func() map[string]map[string]string {
		mu.Lock()
		defer mu.Unlock()
		return map[string]map[string]string{"edge": {"clusters": served}}
	}
	// Publishing once a second: the test's two updates below land between
	// two publishes (a publish reads the versions and the proxies apart).
	clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: 30 * time.Second, Publish: time.Second, EachProxy: fp.each, Versions: versions})
	var first map[string]*clustertest.KV
	clustertest.Eventually(t, 10*time.Second, func() error {
		if first = clustertest.GetPrefix(t, cli, "proxies/a/edge/"); len(first) != 50 {
			return fmt.Errorf("%d proxies published, want 50", len(first))
		}
		return nil
	})
	regBefore := clustertest.GetPrefix(t, cli, "replicas/")["a"].Mod

	// The change, and every Envoy's ACK of it, between two publishes.
	mu.Lock()
	served = "v2"
	mu.Unlock()
	setAll("v2")
	clustertest.Eventually(t, 10*time.Second, func() error {
		if reg := clustertest.GetPrefix(t, cli, "replicas/")["a"]; reg.Mod == regBefore {
			return fmt.Errorf("replicas/a not rewritten yet")
		}
		return nil
	})
	for node, x := range clustertest.GetPrefix(t, cli, "proxies/a/edge/") {
		if x.Mod != first[node].Mod {
			t.Errorf("proxies/a/edge/%s rewritten though it ACKed the served version", node)
		}
	}
	f, err := fleet.Read(t.Context(), cli, clustertest.KS)
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range f.Envoys {
		if s := env.Sync[0]; s.State != fleet.Synced || s.Acked != "v2" {
			t.Errorf("%s clusters: %s acked %q, want SYNCED at v2", env.NodeID, s.State, s.Acked)
		}
	}
}
