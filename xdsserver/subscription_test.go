package xdsserver

import (
	"runtime"
	"slices"
	"testing"
	"time"
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
	if s.names.len() != 2 {
		t.Errorf("names now %v", s.names.m)
	}
	if added := s.replace([]string{"a", "c"}); !slices.Equal(added, []string{"c"}) || s.wants("b") {
		t.Errorf("replacing b with c added %v; still wants b: %v", added, s.wants("b"))
	}
	// A list that repeats a name and leaves another out is not the set.
	if s.replace([]string{"a", "a"}); s.wants("c") || !s.wants("a") || s.names.len() != 1 {
		t.Errorf("a, a after a, c: names now %v", s.names.m)
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

// Subscriptions that want the same names share one set; a change makes the
// changed one a set of its own and leaves the others' alone; a set nobody
// holds is forgotten.
func TestSubscriptionsShareNames(t *testing.T) {
	a, b, c := newSubscription([]string{"x"}), newSubscription([]string{"x"}), newSubscription([]string{"x"})
	a.subscribe([]string{"web", "api", "db"}, nil)
	b.subscribe([]string{"db", "web"}, nil)
	b.subscribe([]string{"api", "web"}, nil)
	c.replace([]string{"api", "db", "web"})
	if a.names != b.names || a.names != c.names {
		t.Fatalf("the same names in three subscriptions are %p, %p, %p; want one set", a.names, b.names, c.names)
	}
	b.subscribe(nil, []string{"api"})
	if a.names == b.names || a.names.len() != 3 || b.names.len() != 2 || b.wants("api") || !a.wants("api") {
		t.Fatalf("after b dropped api: a %v, b %v", a.names.m, b.names.m)
	}
	if added := b.subscribe([]string{"api", "api"}, nil); !slices.Equal(added, []string{"api"}) || b.names != a.names {
		t.Errorf("b taking api back (named twice) added %v; shares a's set again: %v", added, b.names == a.names)
	}

	// A first request naming what others want takes their set as it is;
	// one naming a name twice and leaving one out does not.
	e := newSubscription([]string{"x"})
	if added := e.subscribe([]string{"db", "api", "web"}, nil); len(added) != 3 || e.names != a.names {
		t.Errorf("a first request for a's names added %v; shares a's set: %v", added, e.names == a.names)
	}
	f := newSubscription([]string{"x"})
	if added := f.subscribe([]string{"db", "api", "db"}, nil); len(added) != 2 || f.names.len() != 2 || f.wants("web") {
		t.Errorf("db twice and api: added %v, names %v", added, f.names.m)
	}

	d := newSubscription([]string{"x"})
	d.subscribe([]string{"only-d-wants-this"}, nil)
	if forgotten("only-d-wants-this") {
		t.Fatal("a set in use is not remembered")
	}
	runtime.KeepAlive(d) // and no longer
	deadline := time.Now().Add(5 * time.Second)
	for !forgotten("only-d-wants-this") {
		if time.Now().After(deadline) {
			t.Fatal("a set nobody holds is still remembered after 5s")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

func forgotten(name string) bool {
	nameSets.Lock()
	defer nameSets.Unlock()
	for _, bucket := range nameSets.byHash {
		for _, wp := range bucket {
			if s := wp.Value(); s != nil && s.has(name) {
				return false
			}
		}
	}
	return true
}
