package xdsserver

import (
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

// wake wakes the streams of groups that were just set. It never waits
// for a stream: each handler sends its own (stream.wake).
func (gs *groups) wake(changed []*group) {
	for _, g := range changed {
		g.mu.Lock()
		for s := range g.streams {
			s.wake()
		}
		g.mu.Unlock()
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
