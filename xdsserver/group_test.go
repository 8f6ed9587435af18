package xdsserver

import (
	"sync"
	"testing"
	"time"
)

// newTestStream is a stream of g with open subscriptions, as wake sees it.
func newTestStream(g *group, open int32) *stream {
	st := &stream{wakeCh: make(chan struct{}, 1)}
	st.open.Store(open)
	g.join(st)
	return st
}

// woken drains the wakes of streams and counts them.
func woken(streams []*stream) int {
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

// A publish wakes, before it returns, every stream of a small group it
// changed that has a subscription to bring up to date, and no other.
func TestGroupsWakeTheirStreams(t *testing.T) {
	gs := &groups{all: map[string]*group{}, pending: map[*group]struct{}{}}
	a, b := gs.get("a"), gs.get("b")
	var inA []*stream
	for range 3 {
		inA = append(inA, newTestStream(a, 1))
	}
	waiting := newTestStream(a, 0) // every subscription waits for an answer
	other := newTestStream(b, 1)

	gs.wake([]*group{a})
	gs.wake([]*group{a}) // a wake already pending covers this one: wake never blocks
	if n := woken(inA); n != len(inA) {
		t.Fatalf("woken %d of %d streams", n, len(inA))
	}
	if woken([]*stream{waiting}) != 0 {
		t.Error("a stream waiting on every answer was woken")
	}
	if woken([]*stream{other}) != 0 {
		t.Error("a stream of another group was woken")
	}
}

// More streams than a wave are woken a wave at a time, the next wave as
// soon as every handler of the last is done, across groups; groups set
// while the waves run are woken once more after the current pass; the
// goroutine waking them is waited for.
func TestGroupsWakeManyStreamsInWaves(t *testing.T) {
	gs := &groups{all: map[string]*group{}, pending: map[*group]struct{}{}}
	a, b := gs.get("a"), gs.get("b")
	n := 3*waveSize(0) + 5
	var streams []*stream
	for i := range n {
		streams = append(streams, newTestStream([]*group{a, b}[i%2], 1))
	}
	// Handlers, as serve runs them: take the wake and the wave, be done.
	var mu sync.Mutex
	wakes := map[*stream]int{}
	stop := make(chan struct{})
	var handlers sync.WaitGroup
	for _, st := range streams {
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			for {
				select {
				case <-st.wakeCh:
					mu.Lock()
					wakes[st]++
					mu.Unlock()
					st.wave.Swap(nil).done()
				case <-stop:
					return
				}
			}
		}()
	}
	defer func() { close(stop); handlers.Wait() }()
	count := func() (total, distinct int) {
		mu.Lock()
		defer mu.Unlock()
		for _, k := range wakes {
			total += k
		}
		return total, len(wakes)
	}
	waitFor := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
			if total, _ := count(); total >= want {
				return
			}
			if time.Now().After(deadline) {
				total, distinct := count()
				t.Fatalf("%d wakes of %d streams, want %d", total, distinct, want)
			}
		}
	}

	gs.wake([]*group{a, b})
	waitFor(n)
	gs.workers.Wait()
	if total, distinct := count(); total != n || distinct != n {
		t.Fatalf("%d wakes of %d streams, want each of %d woken once", total, distinct, n)
	}

	// A wake while waves run is left to them: when their pass ends, they
	// list the pending group's streams and wake those.
	gs.wakeMu.Lock()
	gs.waking = true // as if waves were running
	gs.wakeMu.Unlock()
	gs.wake([]*group{b})
	if total, _ := count(); total != n {
		t.Fatalf("%d streams woken while waves ran", total-n)
	}
	gs.workers.Add(1)
	gs.wakeInWaves(nil) // the running waves end their pass
	waitFor(n + n/2)
	gs.wakeMu.Lock()
	waking := gs.waking
	gs.wakeMu.Unlock()
	if waking {
		t.Fatal("the waves did not end")
	}
}

// A stream that is not woken, or whose handler takes up the wave late, does
// not hold a wave up.
func TestWaveDoneWithoutTheHandler(t *testing.T) {
	g := &group{streams: map[*stream]struct{}{}}
	quiet := newTestStream(g, 0)
	w := &wave{finished: make(chan struct{})}
	w.left.Store(2)
	quiet.wake(w) // nothing to bring up to date: done at once
	busy := newTestStream(g, 1)
	busy.wake(w)
	next := &wave{finished: make(chan struct{})}
	next.left.Store(1)
	busy.wake(next) // the handler never took w up: this wake serves it
	select {
	case <-w.finished:
	default:
		t.Fatal("the wave still waits")
	}
}
