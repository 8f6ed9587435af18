package fleet

import (
	"testing"

	"github.com/chancery-xds/chancery/internal/proxystate"
)

// Under churn a look reuses the last look's list and the states of held
// changes that passed; the first look at rest drops both. A reused state
// must not carry one Envoy's change into another's record.
func TestLooksReuseTheirStatesUnderChurnOnly(t *testing.T) {
	const n = 3
	g := newLookRig(t, n) // lookRig: publisher_budget_test.go
	g.served = "e2"
	for i := range n {
		g.set(i, "e2", "e1")
	}
	if nodes, reg := g.look(); reg || len(nodes) != 0 { // all held, the registration too
		t.Fatalf("a push in flight wrote %v (registration %v), want nothing", nodes, reg)
	}
	if len(g.p.scratch) != n {
		t.Fatalf("scratch holds %d states after a look, want %d", len(g.p.scratch), n)
	}
	for i := range n {
		g.set(i, "e2", "e2")
	}
	if nodes, reg := g.look(); !reg || len(nodes) != 0 { // every Envoy back at "served"
		t.Fatalf("the push over wrote %v (registration %v), want the registration only", nodes, reg)
	}
	if len(g.p.spare) != n {
		t.Fatalf("%d spare states after every held change passed, want %d", len(g.p.spare), n)
	}

	// Envoy 1 rejects and so is written at once, envoy 2 moves and is held
	// in a reused state.
	g.list[1].Types[proxystate.Endpoints] = proxystate.TypeStatus{Sent: "e2", Acked: "e2", NackError: "bad endpoint"}
	g.set(2, "e3", "e2")
	if nodes, _ := g.look(); len(nodes) != 1 || nodes[0] != "envoy-1" {
		t.Fatalf("wrote %v, want envoy-1", nodes)
	}
	if h := g.p.proxies[proxyID{group: "g", node: "envoy-2"}].held; h == nil || h.NodeID != "envoy-2" || h.Types[proxystate.Endpoints].Sent != "e3" {
		t.Fatalf("envoy-2 holds %+v, want its own change", h)
	}
	if h := g.p.proxies[proxyID{group: "g", node: "envoy-0"}].held; h != nil {
		t.Fatalf("envoy-0 holds %+v, want nothing", h)
	}

	if nodes, _ := g.look(); len(nodes) != 1 || nodes[0] != "envoy-2" { // what was held has held still
		t.Fatalf("at rest wrote %v, want envoy-2", nodes)
	}
	if got := g.p.proxies[proxyID{group: "g", node: "envoy-2"}].written.Types[proxystate.Endpoints].Sent; got != "e3" {
		t.Fatalf("envoy-2 written as sent %q, want e3", got)
	}
	if g.p.scratch != nil || g.p.spare != nil {
		t.Errorf("at rest the publisher keeps %d states of its last list and %d spares, want none", len(g.p.scratch), len(g.p.spare))
	}
}
