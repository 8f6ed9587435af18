package xdsserver

import (
	"slices"
	"testing"
)

// A state-of-the-world request lists every name it wants: the names new to
// the subscription are what it added, and a repeat of the same list (every
// ACK) changes nothing.
func TestSubscriptionReplace(t *testing.T) {
	s := newSubscription([]string{"a", "b"})
	if added := s.replace([]string{"a", "b"}); !slices.Equal(added, []string{"a", "b"}) {
		t.Fatalf("first request added %v", added)
	}
	if added := s.replace([]string{"b", "a"}); added != nil {
		t.Errorf("the same names again added %v", added)
	}
	if len(s.names) != 2 {
		t.Errorf("names now %v", s.names)
	}
	if added := s.replace([]string{"a", "c"}); !slices.Equal(added, []string{"c"}) || s.wants("b") {
		t.Errorf("replacing b with c added %v; still wants b: %v", added, s.wants("b"))
	}
	w := newSubscription(nil)
	if added := w.replace(nil); added != nil || !w.wildcard {
		t.Errorf("legacy wildcard: added %v, wildcard %v", added, w.wildcard)
	}
	// Naming x ends the legacy wildcard; x is not new to it.
	if added := w.replace([]string{"x"}); added != nil || w.wildcard || !w.wants("x") || w.wants("y") {
		t.Errorf("naming x after the wildcard: added %v, wildcard %v", added, w.wildcard)
	}
}
