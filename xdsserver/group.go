package xdsserver

import (
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

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
	waking  bool                // a goroutine is waking streams in waves
	pending map[*group]struct{} // groups set since it listed their streams
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

// appendStreams appends the group's streams to out.
func (g *group) appendStreams(out []*stream) []*stream {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.streams {
		out = append(out, s)
	}
	return out
}

// wake wakes the streams of groups that were just set. Up to a wave of
// them are woken at once, whatever else is being woken; more are left to
// a goroutine that wakes them a wave at a time (wakeInWaves), so a publish
// does not wait for its pushes. Groups set while that goroutine runs are
// woken once more after its current pass.
func (gs *groups) wake(changed []*group) {
	var streams []*stream
	for _, g := range changed {
		streams = g.appendStreams(streams)
	}
	if len(streams) <= waveSize(0) {
		for _, s := range streams {
			s.wake()
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
	go gs.wakeInWaves(streams)
}

// waveSize is how many of n streams are woken at once: a few per core, and
// no more than maxWaves waves in all.
func waveSize(n int) int { return max(16*runtime.GOMAXPROCS(0), (n+maxWaves-1)/maxWaves) }

// maxWaves bounds the waves of one pass: the waking goroutine waits behind
// whatever else is runnable after each wave, and at ten thousand streams
// three hundred such waits made the last pushes later than waking them
// all at once did.
const maxWaves = 32

// wakeInWaves wakes streams a wave at a time, and yields between waves so
// that each wave's pushes are written before the next wave's handlers run.
//
// Woken all at once, thousands of handlers fill the scheduler's global run
// queue. gRPC-Go's connection writer, handed a push of under 1000 bytes
// (an endpoint change), yields once before flushing in the hope of more to
// batch, and its yield puts it behind that whole queue: every push sat
// written but unsent until nearly every handler had run, and each writer
// held a 32 KiB write buffer meanwhile. At 1,000 delta clients, waves took
// the median delivery from 24 to 19 ms and the 99th percentile from 58 to
// 35 ms (docs/bench/notes.md).
func (gs *groups) wakeInWaves(streams []*stream) {
	for {
		n := waveSize(len(streams))
		for i, s := range streams {
			s.wake()
			if (i+1)%n == 0 && i+1 < len(streams) {
				runtime.Gosched()
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
			streams = g.appendStreams(streams)
		}
		clear(gs.pending)
		gs.wakeMu.Unlock()
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
