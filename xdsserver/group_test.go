package xdsserver

import (
	"testing"
	"time"
)

// More streams than a wave are woken in waves, across groups; groups set
// while the waves run are woken once more after the current pass.
func TestGroupsWakeEveryStreamInWaves(t *testing.T) {
	gs := &groups{all: map[string]*group{}, pending: map[*group]struct{}{}}
	a, b := gs.get("a"), gs.get("b")
	var streams []*stream
	for i := range 3*waveSize(0) + 5 {
		st := &stream{wakeCh: make(chan struct{}, 1)}
		st.open.Store(1)
		streams = append(streams, st)
		[]*group{a, b}[i%2].join(st)
	}
	woken := func() int {
		n := 0
		for _, st := range streams {
			select {
			case <-st.wakeCh:
				n++
			default:
			}
		}
		return n
	}
	waking := func() bool {
		gs.wakeMu.Lock()
		defer gs.wakeMu.Unlock()
		return gs.waking
	}

	gs.wake([]*group{a, b})
	for deadline := time.Now().Add(5 * time.Second); waking(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the waves did not end")
		}
	}
	if n := woken(); n != len(streams) {
		t.Fatalf("woken %d of %d streams", n, len(streams))
	}

	// A wake while waves run leaves it to them: when their pass ends, they
	// list the pending group's streams and wake those.
	gs.wakeMu.Lock()
	gs.waking = true // as if waves were running
	gs.wakeMu.Unlock()
	gs.wake([]*group{b})
	if n := woken(); n != 0 {
		t.Fatalf("%d streams woken while waves ran", n)
	}
	gs.wakeInWaves(nil) // the running waves end their pass
	if n := woken(); n != len(streams)/2 {
		t.Fatalf("after the waves' pass: woken %d streams, want group b's %d", n, len(streams)/2)
	}
	if waking() {
		t.Fatal("the waves did not end")
	}

	// Up to a wave is woken at once, before wake returns, even while waves
	// run for others.
	few := &stream{wakeCh: make(chan struct{}, 1)}
	few.open.Store(1)
	c := gs.get("c")
	c.join(few)
	gs.wakeMu.Lock()
	gs.waking = true // as if waves were running
	gs.wakeMu.Unlock()
	gs.wake([]*group{c})
	select {
	case <-few.wakeCh:
	default:
		t.Fatal("a small group was not woken before wake returned")
	}
}
