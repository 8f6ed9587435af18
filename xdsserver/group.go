package xdsserver

import (
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chancery-xds/chancery/translator/output"
)

// group is one node group as streams see it: the served snapshot and the
// streams to tell when it changes.
type group struct {
	name string
	snap atomic.Pointer[groupSnapshot] // nil until the group's first publish

	mu      sync.Mutex
	streams map[*stream]struct{}
}

// groups holds every group that has a snapshot or a stream.
type groups struct {
	mu  sync.Mutex
	all map[string]*group

	wakeMu  sync.Mutex
	waking  bool                // wakeInWaves runs
	pending map[*group]struct{} // groups set since it listed their streams
	workers sync.WaitGroup      // wakeInWaves, for Server.Wait
}

func (gs *groups) get(name string) *group {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return gs.getLocked(name)
}

// getLocked returns the named group, which it makes if need be; gs.mu is held.
func (gs *groups) getLocked(name string) *group {
	g, ok := gs.all[name]
	if !ok {
		g = &group{name: name, streams: map[*stream]struct{}{}}
		gs.all[name] = g
	}
	return g
}

// withStreams lists the groups that have streams, sorted.
func (gs *groups) withStreams() []string {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	var out []string
	for name, g := range gs.all {
		g.mu.Lock()
		if len(g.streams) > 0 {
			out = append(out, name)
		}
		g.mu.Unlock()
	}
	sort.Strings(out)
	return out
}

// set makes snap the group's served state; groups.wake tells its streams.
func (g *group) set(snap *groupSnapshot) {
	g.mu.Lock()
	g.snap.Store(snap)
	g.mu.Unlock()
}

// wake wakes the streams of groups that were just set. It never waits for
// a stream. Up to a wave of them are woken at once; more are woken a wave
// at a time by a goroutine of the server's (wakeInWaves), and groups set
// while it runs are woken once more after its current pass.
func (gs *groups) wake(changed []*group) {
	streams := gs.streamsOf(changed, nil)
	if len(streams) <= waveSize(0) {
		for _, s := range streams {
			s.wake(nil)
		}
		return
	}
	gs.wakeMu.Lock()
	defer gs.wakeMu.Unlock()
	if gs.waking {
		for _, g := range changed {
			gs.pending[g] = struct{}{}
		}
		return
	}
	gs.waking = true
	gs.workers.Add(1)
	go gs.wakeInWaves(streams)
}

// streamsOf appends the streams of groups to out.
func (gs *groups) streamsOf(groups []*group, out []*stream) []*stream {
	for _, g := range groups {
		g.mu.Lock()
		for s := range g.streams {
			out = append(out, s)
		}
		g.mu.Unlock()
	}
	return out
}

// waveSize is how many of n streams are woken at once: a few per core, and
// no more than maxWaves waves in all.
func waveSize(n int) int { return max(16*runtime.GOMAXPROCS(0), (n+maxWaves-1)/maxWaves) }

const (
	// maxWaves bounds the waves of one pass, and with them how long the
	// last stream waits for its turn.
	maxWaves = 32
	// waveWait bounds the wait for a wave: a handler held up by a client
	// that stopped reading holds up the next wave no longer than this.
	waveWait = 2 * time.Millisecond
)

// wakeInWaves wakes streams a wave at a time: the next wave once every
// handler of the last has sent what it was woken for, or after waveWait.
//
// Woken all at once, thousands of handlers would all be runnable together,
// and each connection's writer, which flushes what its handler sent, would
// run behind all of them: every push would sit written but unsent, in a
// write buffer of its own, until nearly every handler had run. In waves,
// a wave's writes go out while the next wave is woken.
func (gs *groups) wakeInWaves(streams []*stream) {
	defer gs.workers.Done()
	timer := time.NewTimer(waveWait)
	defer timer.Stop()
	for {
		n := waveSize(len(streams))
		for len(streams) > 0 {
			k := min(n, len(streams))
			w := &wave{finished: make(chan struct{})}
			w.left.Store(int32(k))
			for _, s := range streams[:k] {
				s.wake(w)
			}
			streams = streams[k:]
			if len(streams) == 0 {
				break
			}
			timer.Reset(waveWait)
			select {
			case <-w.finished:
			case <-timer.C:
			}
		}
		gs.wakeMu.Lock()
		if len(gs.pending) == 0 {
			gs.waking = false
			gs.wakeMu.Unlock()
			return
		}
		streams = streams[:0]
		for g := range gs.pending {
			streams = gs.streamsOf([]*group{g}, streams)
		}
		clear(gs.pending)
		gs.wakeMu.Unlock()
	}
}

// wave counts the handlers of a wave that have yet to send what they were
// woken for.
type wave struct {
	left     atomic.Int32
	finished chan struct{} // closed when left reaches zero
}

// done tells the wave one of its handlers is done; a nil wave ignores it.
func (w *wave) done() {
	if w != nil && w.left.Add(-1) == 0 {
		close(w.finished)
	}
}

// join adds a stream; a snapshot set and woken (groups.wake) after it
// returns wakes the stream.
func (g *group) join(s *stream) {
	g.mu.Lock()
	g.streams[s] = struct{}{}
	g.mu.Unlock()
}

// leave removes a stream and reports whether the group has none left.
func (g *group) leave(s *stream) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.streams, s)
	return len(g.streams) == 0
}

// join adds a stream to the named group, which it makes if need be. Under
// gs.mu, as drop is: a group is never dropped while a stream joins it.
func (gs *groups) join(name string, s *stream) *group {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g := gs.getLocked(name)
	g.join(s)
	return g
}

// drop forgets the named group unless it has streams, and reports whether
// it is gone.
func (gs *groups) drop(name string) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	g, ok := gs.all[name]
	if !ok {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.streams) > 0 {
		return false
	}
	delete(gs.all, name)
	return true
}

// forgetGroups records which groups res names, for leaveGroup, and drops
// the snapshot and metric series of every group that res does not name
// and that is not in names (the groups with streams). It returns names
// and the groups that a stream joined meanwhile: they keep a snapshot, an
// empty one. s.mu is held.
func (s *Server) forgetGroups(res *output.Resources, names []string) []string {
	s.named = make(map[string]bool, len(res.Groups))
	for g := range res.Groups {
		s.named[g] = true
	}
	for g := range s.groups {
		if !s.named[g] && !slices.Contains(names, g) && !s.dropGroup(g) {
			names = append(names, g)
		}
	}
	return names
}

// leaveGroup takes a closing stream out of its group. The last stream of
// a group that no listener names takes the group's snapshot and metric
// series with it: an Envoy claiming a made-up group costs nothing once
// it has gone.
func (s *Server) leaveGroup(st *stream) {
	g := st.group
	if g == nil || !g.leave(st) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.named[g.name] {
		s.dropGroup(g.name)
	}
}

// dropGroup forgets a group, its snapshot and its metric series, unless it
// has streams; it reports whether it did. s.mu is held.
func (s *Server) dropGroup(name string) bool {
	if !s.live.drop(name) {
		return false
	}
	delete(s.groups, name)
	s.metrics.publishes.DeleteLabelValues(name)
	s.metrics.publishErrors.DeleteLabelValues(name)
	return true
}
