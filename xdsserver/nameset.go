package xdsserver

import (
	"hash/maphash"
	"maps"
	"runtime"
	"sync"
	"weak"
)

// nameSet is a set of resource names that nobody changes once it is made.
// Subscriptions that want exactly the same names share one: the streams of
// a group mostly subscribe to the same hundreds of names, and a copy per
// stream was the largest part of Chancery's own memory per Envoy.
type nameSet struct {
	m   map[string]struct{}
	sum uint64 // of the names' keyed hashes (nameHash)
}

func (n *nameSet) has(name string) bool {
	_, ok := n.m[name]
	return ok
}

func (n *nameSet) len() int { return len(n.m) }

var noNames = &nameSet{}

// nameSets holds every set in use, weakly: a set is shared while some
// subscription holds it and forgotten when none does.
var nameSets = struct {
	sync.Mutex
	seed   maphash.Seed
	byHash map[uint64][]weak.Pointer[nameSet]
}{seed: maphash.MakeSeed(), byHash: map[uint64][]weak.Pointer[nameSet]{}}

// nameHash is a name's keyed hash; a set is filed under the sum of its
// names' (nameSet.sum), which matcher also compares.
func nameHash(name string) uint64 { return maphash.String(nameSets.seed, name) }

// shareNames returns the set in use equal to m, or a new one holding m.
// m's keys must not point into request bytes, and m must not be changed
// after.
func shareNames(m map[string]struct{}) *nameSet {
	if len(m) == 0 {
		return noNames
	}
	var h uint64
	for name := range m {
		h += nameHash(name) // a sum: the order of the names does not matter
	}
	nameSets.Lock()
	defer nameSets.Unlock()
	for _, wp := range nameSets.byHash[h] {
		if s := wp.Value(); s != nil && maps.Equal(s.m, m) {
			return s
		}
	}
	s := &nameSet{m: m, sum: h}
	nameSets.byHash[h] = append(nameSets.byHash[h], weak.Make(s))
	runtime.AddCleanup(s, forgetNames, h)
	return s
}

// findNames returns the set in use that holds exactly names, or nil. The
// first request of a stream usually names what other streams of its group
// already want: this finds their set without interning a name or building
// a map.
func findNames(names []string) *nameSet {
	if len(names) == 0 {
		return nil
	}
	var h uint64
	for _, name := range names {
		h += nameHash(name)
	}
	nameSets.Lock()
	var found []*nameSet
	for _, wp := range nameSets.byHash[h] {
		if s := wp.Value(); s != nil && s.len() == len(names) {
			found = append(found, s)
		}
	}
	nameSets.Unlock()
	for _, s := range found {
		if s.holdsExactly(names, false) {
			return s
		}
	}
	return nil
}

// holdsExactly reports whether names, less the wildcard "*" if
// skipWildcard, are exactly the set's (matcher).
func (n *nameSet) holdsExactly(names []string, skipWildcard bool) bool {
	m := matcher{set: n}
	for _, name := range names {
		if (name != "*" || !skipWildcard) && !m.add(name) {
			return false
		}
	}
	return m.exact()
}

// matcher compares a list of names with a set, one name at a time, without
// a copy of either: the list is exactly the set if every name is in it and
// there are as many with the same sum of keyed hashes, which tells apart a
// list that repeats one name and leaves another out (2h(a)+h(b) =
// h(a)+h(b)+h(c) only if h(a) = h(c)).
type matcher struct {
	set   *nameSet
	count int
	sum   uint64
}

// add reports whether name is in the set.
func (m *matcher) add(name string) bool {
	m.count++
	m.sum += nameHash(name)
	return m.set.has(name)
}

// exact reports, once every name was added and in the set, whether they
// are all of it.
func (m *matcher) exact() bool { return m.count == m.set.len() && m.sum == m.set.sum }

// forgetNames drops the sets of one hash that are no longer held.
func forgetNames(h uint64) {
	nameSets.Lock()
	defer nameSets.Unlock()
	live := nameSets.byHash[h][:0]
	for _, wp := range nameSets.byHash[h] {
		if wp.Value() != nil {
			live = append(live, wp)
		}
	}
	if len(live) == 0 {
		delete(nameSets.byHash, h)
	} else {
		nameSets.byHash[h] = live
	}
}
