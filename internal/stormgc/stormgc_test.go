package stormgc

import (
	"runtime/debug"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// Relaxed says whether a burst is in progress.
func (r *Relaxer) Relaxed() bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.on
}

// gcPercent reads the GC percent.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// waitUntil polls cond for up to 5 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5s: not %s", what)
		}
	}
}

func TestBurstRaisesThePercentUntilItEnds(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const window = 50 * time.Millisecond // the burst ends after 500ms with fewer than 5 opens
	r := New(400, 5, window, zaptest.NewLogger(t))
	for range 4 {
		r.Opened()
	}
	if r.Relaxed() || gcPercent() != 100 {
		t.Fatalf("after 4 opens: relaxed %v, percent %d; want not yet", r.Relaxed(), gcPercent())
	}
	r.Opened()
	if !r.Relaxed() || gcPercent() != 400 {
		t.Fatalf("after 5 opens: relaxed %v, percent %d; want 400", r.Relaxed(), gcPercent())
	}

	// Opens at a burst's rate keep it going, past several quiet spells.
	for until := time.Now().Add(30 * window); time.Now().Before(until); time.Sleep(window / 5) {
		r.Opened()
		if gcPercent() != 400 {
			t.Fatal("the percent came back while streams still arrived in a burst")
		}
	}
	waitUntil(t, "back to the usual percent", func() bool { return !r.Relaxed() && gcPercent() == 100 })

	// A trickle does not start another.
	for range 8 {
		r.Opened()
		time.Sleep(window / 2)
	}
	if r.Relaxed() {
		t.Error("a trickle of opens, one every half window, started a burst")
	}
}

func TestPercentAlreadyHigherIsLeftAlone(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(800))
	r := New(400, 2, time.Second, zaptest.NewLogger(t))
	for range 10 {
		r.Opened()
	}
	if r.Relaxed() || gcPercent() != 800 {
		t.Errorf("usual percent 800: relaxed %v, percent %d; want it left at 800", r.Relaxed(), gcPercent())
	}
	debug.SetGCPercent(-1) // collection off
	r = New(400, 2, time.Second, zaptest.NewLogger(t))
	r.Opened()
	r.Opened()
	if gcPercent() != -1 {
		t.Errorf("collection off: percent %d after a burst, want it left off", gcPercent())
	}
}

func TestOffDoesNothing(t *testing.T) {
	r := New(0, 1, time.Second, nil)
	if r != nil {
		t.Fatal("New(0, ...) is not nil")
	}
	r.Opened() // a nil Relaxer does nothing
	if r.Relaxed() {
		t.Error("a nil Relaxer is relaxed")
	}
}
