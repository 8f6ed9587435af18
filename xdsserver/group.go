package xdsserver

import (
	"sort"
	"sync"
	"sync/atomic"
)

// group is one node group as streams see it: the served snapshot and the
// streams to tell when it changes.
type group struct {
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
	g, ok := gs.all[name]
	if !ok {
		g = &group{streams: map[*stream]struct{}{}}
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

// set makes snap the group's served state and wakes its streams.
func (g *group) set(snap *groupSnapshot) {
	g.mu.Lock()
	g.snap.Store(snap)
	streams := make([]*stream, 0, len(g.streams))
	for s := range g.streams {
		streams = append(streams, s)
	}
	g.mu.Unlock()
	for _, s := range streams {
		s.wake()
	}
}

// join adds a stream; a snapshot set after it returns wakes the stream.
func (g *group) join(s *stream) {
	g.mu.Lock()
	g.streams[s] = struct{}{}
	g.mu.Unlock()
}

func (g *group) leave(s *stream) {
	g.mu.Lock()
	delete(g.streams, s)
	g.mu.Unlock()
}
