package main

import (
	"maps"
	"testing"
)

func TestVersionsClaimWhatWasSetAndNotDropped(t *testing.T) {
	var n names
	var a, b versions
	a.set(&n, "svc-1", "v1")
	b.set(&n, "svc-2", "v7") // numbered after svc-1: b's slice has a hole
	a.set(&n, "svc-2", "v2")
	a.set(&n, "svc-1", "v3")
	a.set(&n, "svc-3", "v4")
	a.drop(&n, "svc-3")
	a.drop(&n, "never-held")
	if got, want := a.claim(&n), map[string]string{"svc-1": "v3", "svc-2": "v2"}; !maps.Equal(got, want) {
		t.Errorf("a claims %v, want %v", got, want)
	}
	if got, want := b.claim(&n), map[string]string{"svc-2": "v7"}; !maps.Equal(got, want) {
		t.Errorf("b claims %v, want %v", got, want)
	}
	if id1, id2 := n.id("svc-1"), n.id("svc-2"); id1 == id2 {
		t.Errorf("svc-1 and svc-2 share number %d", id1)
	}
	var none *versions
	none.drop(&n, "svc-1")
	if got := none.claim(&n); got != nil {
		t.Errorf("a type never asked for claims %v", got)
	}
}
