package cluster

import (
	"fmt"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage"
)

// Under churn a look reuses the last look's list and the states of held
// changes that passed; the first look at rest drops both. A reused state
// must not carry one Envoy's change into another's record.
func TestLooksReuseTheirStatesUnderChurnOnly(t *testing.T) {
	const n = 3
	list := make([]ProxyState, n)
	for i := range list {
		list[i] = stateOf(Proxy{NodeID: fmt.Sprintf("envoy-%d", i), Group: "g", Delta: true, Connected: time.Unix(1000, int64(i)).UTC(),
			Types: map[string]TypeRecord{"endpoints": {Acked: "e1"}}})
	}
	served, generation := "e1", uint64(0)
	r := &Replica{cfg: Config{ID: "a", Keyspace: storage.NewKeyspace("/t"),
		Proxies:         func(dst []ProxyState) []ProxyState { return append(dst, list...) },
		Versions:        func() map[string]map[string]string { return map[string]map[string]string{"g": {"endpoints": served}} },
		Revision:        func() int64 { return 1 },
		ProxyGeneration: func() uint64 { return generation },
	}}
	p := newPublisher(r, 0)
	look := func(step string, want int) []change {
		t.Helper()
		changes, gen, err := p.changes()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if len(changes) != want {
			t.Fatalf("%s: %d changes, want %d", step, len(changes), want)
		}
		p.applied(changes)
		p.generation, p.current = gen, true
		return changes
	}
	set := func(i int, sent, acked string) {
		list[i].Types[0].TypeRecord = TypeRecord{Sent: sent, Acked: acked} // endpoints, the only type
		generation++
	}
	look("first", n+1)

	served = "e2"
	for i := range n {
		set(i, "e2", "e1")
	}
	look("push in flight", 0) // held: the registration too
	if len(p.scratch) != n {
		t.Fatalf("scratch holds %d states after a look, want %d", len(p.scratch), n)
	}
	for i := range n {
		set(i, "e2", "e2")
	}
	look("push over", 1) // the registration; every Envoy back at "served"
	if len(p.spare) != n {
		t.Fatalf("%d spare states after every held change passed, want %d", len(p.spare), n)
	}

	// Envoy 1 rejects and so is written at once, envoy 2 moves and is held
	// in a reused state.
	list[1].Types[0].TypeRecord = TypeRecord{Sent: "e2", Acked: "e2", NackError: "bad endpoint"}
	set(2, "e3", "e2")
	got := look("one rejects, one moves", 1)
	if got[0].node != "envoy-1" {
		t.Fatalf("wrote %s, want envoy-1", got[0].node)
	}
	if h := p.proxies["envoy-2"].held; h == nil || h.NodeID != "envoy-2" || h.Types[0].Sent != "e3" {
		t.Fatalf("envoy-2 holds %+v, want its own change", h)
	}
	if h := p.proxies["envoy-0"].held; h != nil {
		t.Fatalf("envoy-0 holds %+v, want nothing", h)
	}

	got = look("at rest", 1) // what was held has held still
	if got[0].node != "envoy-2" || got[0].state.Types[0].Sent != "e3" {
		t.Fatalf("wrote %s at %+v, want envoy-2 sent e3", got[0].node, got[0].state.Types[0])
	}
	if p.scratch != nil || p.spare != nil {
		t.Errorf("at rest the publisher keeps %d states of its last list and %d spares, want none", len(p.scratch), len(p.spare))
	}
}
