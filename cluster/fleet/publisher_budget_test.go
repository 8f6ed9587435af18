package fleet

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// lookRig drives a publisher's looks by hand over a list of Envoys that
// hold one type, endpoints.
type lookRig struct {
	t          *testing.T
	mu         sync.Mutex // for a rig whose publisher runs
	list       []proxystate.Proxy
	served     string
	generation uint64
	p          *Publisher
}

func newLookRig(t *testing.T, n int) *lookRig {
	g := newRig(t, n, nil)
	g.look() // every Envoy written, at "served"
	return g
}

// newRig makes the rig's Envoys and publisher, writing with cli (nil for
// rigs that only look).
func newRig(t *testing.T, n int, cli *clientv3.Client) *lookRig {
	g := &lookRig{t: t, served: "e1"}
	for i := range n {
		g.list = append(g.list, stateOf(Proxy{NodeID: fmt.Sprintf("envoy-%d", i), Group: "g", Delta: true,
			Connected: time.Unix(1000, int64(i)).UTC(), Types: map[string]proxystate.TypeStatus{"endpoints": {Acked: "e1"}}}))
	}
	g.p = NewPublisher(PublisherConfig{Self: registry.Record{ID: "a"}, Keyspace: storage.NewKeyspace("/t"), Client: cli,
		EachProxy: func(fn func(*proxystate.Proxy)) {
			g.mu.Lock()
			defer g.mu.Unlock()
			for i := range g.list {
				fn(&g.list[i])
			}
		},
		Versions: func() map[string]map[string]string {
			g.mu.Lock()
			defer g.mu.Unlock()
			return map[string]map[string]string{"g": {"endpoints": g.served}}
		},
		Revision: func() int64 { return 1 },
		ProxyGeneration: func() uint64 {
			g.mu.Lock()
			defer g.mu.Unlock()
			return g.generation
		},
		Interval: time.Hour,
	})
	return g
}

// set gives Envoy i the endpoints it was sent and has acked.
func (g *lookRig) set(i int, sent, acked string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.list[i].Types[proxystate.Endpoints] = proxystate.TypeStatus{Sent: sent, Acked: acked}
	g.generation++
}

// serve makes the replica serve version v.
func (g *lookRig) serve(v string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.served = v
}

// look runs one interval and returns the nodes it wrote, and whether it
// wrote the registration.
func (g *lookRig) look() (nodes []string, reg bool) {
	g.t.Helper()
	return g.lookAs(false)
}

// lookAs runs one publish, at a quiet moment if quiet.
func (g *lookRig) lookAs(quiet bool) (nodes []string, reg bool) {
	g.t.Helper()
	changes, gen, err := g.p.changes(quiet)
	if err != nil {
		g.t.Fatal(err)
	}
	g.p.applied(changes)
	g.p.generation, g.p.current = gen, true
	for _, c := range changes {
		if c.node == "" {
			reg = true
		} else {
			nodes = append(nodes, c.node)
		}
	}
	return nodes, reg
}

// Under constant churn every record moves at every interval: those held
// maxHeld intervals are written at most overdueBudget per interval, those
// held longest first, so every one is written in turn.
func TestOverdueRecordsAreWrittenWithinTheBudget(t *testing.T) {
	g := newLookRig(t, 5)
	g.p.overdueBudget = 2
	writes := map[string][]int{} // node -> the intervals it was written at
	for interval := 1; interval <= 12; interval++ {
		for i := range g.list { // a push in flight everywhere, the registration still
			g.set(i, fmt.Sprintf("e%d", interval+1), fmt.Sprintf("e%d", interval))
		}
		nodes, _ := g.look()
		if len(nodes) > 2 {
			t.Fatalf("interval %d wrote %d records %v, want at most the budget, 2", interval, len(nodes), nodes)
		}
		// All five fall due at interval 4: three wait; at 5 those three
		// are due again, and one waits.
		if want, ok := map[int]float64{maxHeld: 3, maxHeld + 1: 1}[interval]; ok {
			if got := value(g.p.overdue); got != want {
				t.Errorf("interval %d: the overdue gauge shows %v, want %v left waiting", interval, got, want)
			}
		}
		for _, n := range nodes {
			writes[n] = append(writes[n], interval)
		}
	}
	for i := range g.list {
		node := g.list[i].NodeID
		w := writes[node]
		if len(w) < 2 {
			t.Errorf("%s written at intervals %v: want it written in turn, at least twice in 12", node, w)
			continue
		}
		if w[0] < maxHeld {
			t.Errorf("%s first written at interval %d, before it was held %d", node, w[0], maxHeld)
		}
		for j := 1; j < len(w); j++ {
			if gap := w[j] - w[j-1]; gap > 5 {
				t.Errorf("%s written at %v: %d intervals apart, want at most ceil(5/2)+maxHeld-1", node, w, gap)
			}
		}
	}
}

// A registration that moves the served version rewrites, with it, only the
// records that would say something false under it: those written as
// "served" whose Envoy is not at the new version. Records with versions of
// their own wait.
func TestRegistrationRewritesOnlyRecordsItWouldFalsify(t *testing.T) {
	g := newLookRig(t, 3)
	// envoy-2 falls behind and is written with its own versions.
	g.set(2, "e1", "e0")
	g.list[2].Types[proxystate.Endpoints].NackError = "bad endpoint"
	if nodes, _ := g.look(); !slices.Equal(nodes, []string{"envoy-2"}) {
		t.Fatalf("a rejection wrote %v, want envoy-2", nodes)
	}
	g.list[2].Types[proxystate.Endpoints].NackError = ""
	g.generation++
	if nodes, _ := g.look(); len(nodes) != 0 {
		t.Fatalf("the rejection's end wrote %v at once, want it held an interval", nodes)
	}
	if nodes, _ := g.look(); !slices.Equal(nodes, []string{"envoy-2"}) {
		t.Fatalf("the rejection's end, held still, wrote %v, want envoy-2", nodes)
	}

	// e2 is published. envoy-0 has it; envoy-1 has not been sent it yet;
	// envoy-2 (written as at e0) has been sent it.
	g.served = "e2"
	g.set(0, "e2", "e2")
	g.set(2, "e2", "e0")
	if nodes, reg := g.look(); reg || len(nodes) != 0 {
		t.Fatalf("the first interval of a new version wrote %v (registration %v), want it all held", nodes, reg)
	}
	// The registration holds still and goes out. envoy-1 is now sent e2,
	// envoy-2 has moved on to e1: both still moving.
	g.set(1, "e2", "e1")
	g.set(2, "e2", "e1")
	nodes, reg := g.look()
	if !reg {
		t.Fatalf("the registration was not written once it held still")
	}
	// envoy-0 is at "served" either way; envoy-1's "served" would now mean
	// e2, which it has not acked; envoy-2's record names e0 and stays true.
	if !slices.Equal(nodes, []string{"envoy-1"}) {
		t.Errorf("with the registration the flush wrote %v, want envoy-1 only", nodes)
	}
	if got := g.p.proxies[proxyID{group: "g", node: "envoy-1"}].written.Types[proxystate.Endpoints].Acked; got != "e1" {
		t.Errorf("envoy-1 written as acked %q, want e1", got)
	}
	if got := g.p.proxies[proxyID{group: "g", node: "envoy-2"}].written.Types[proxystate.Endpoints].Acked; got != "e0" {
		t.Errorf("envoy-2 written as acked %q, want e0 until its own change holds still", got)
	}
	if nodes, _ := g.look(); !slices.Equal(nodes, []string{"envoy-2"}) {
		t.Errorf("the next interval wrote %v, want envoy-2, whose change held still", nodes)
	}
}

// What a publish commits is counted: the registration once, and each
// proxy record written or deleted.
func TestPublishCountsStatusWrites(t *testing.T) {
	_, cli := etcdtest.Start(t)
	g := newRig(t, 3, cli)
	p := g.p
	if err := p.publish(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	g.list = g.list[:2] // envoy-2 leaves
	g.generation++
	if err := p.publish(t.Context(), false); err != nil {
		t.Fatal(err)
	}
	if got := value(p.regWrites); got != 1 {
		t.Errorf("%v registration writes counted, want 1", got)
	}
	if got := value(p.proxyWrites); got != 4 {
		t.Errorf("%v proxy writes counted, want 4 (three records, then one deleted)", got)
	}
	resp, err := cli.Get(t.Context(), "/t/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Count != 3 {
		t.Errorf("%d status keys in etcd, want the registration and two records", resp.Count)
	}
}

// value reads a gauge or a counter.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}
