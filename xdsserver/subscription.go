package xdsserver

import (
	"cmp"
	"slices"
)

// subscription is what one stream asked for of one type and what the
// client holds of it.
type subscription struct {
	wildcard bool
	// legacy: the first request named nothing, which means the wildcard
	// until the client names something.
	legacy bool
	names  *nameSet // shared with every subscription that wants the same

	// sent is the build the client holds: for every name it wants, sent's
	// resource (or nothing, where sent has none). nil before the first
	// response, or after a reconnect that claims versions this replica no
	// longer knows.
	sent *builtType
	// initial is what a delta client said it held when it opened the
	// stream (initial_resource_versions), until the first response. Its
	// strings point into the request (request.go).
	initial map[string]string
	// claim is the version a state-of-the-world client said it held when
	// it opened the stream, until it is compared with the group's builds.
	claim string
	// nonce is the nonce of the last response, and waiting says the client
	// has not answered it yet. Until it does, publishes are not sent: a
	// client that is slow to apply config gets the newest state when it is
	// ready instead of a queue of states it would apply one by one.
	nonce   string
	waiting bool
	// warms says the unanswered response may bring the client clusters
	// new to it, or the endpoints of such clusters (stream.settling).
	warms bool
}

func newSubscription(first []string) *subscription {
	return &subscription{names: noNames, legacy: len(first) == 0, wildcard: len(first) == 0}
}

func (s *subscription) wants(name string) bool {
	if s.wildcard {
		return true
	}
	return s.names.has(name)
}

// subscribe applies a delta request's subscribe and unsubscribe lists and
// returns the names the client did not want before. The names it keeps are
// interned, since the request's own point into its bytes (request.go), and
// the set of them is shared (shareNames).
func (s *subscription) subscribe(add, remove []string) []string {
	var added []string
	var next map[string]struct{} // the new set, once something changes
	has := func(name string) bool {
		if next != nil {
			_, ok := next[name]
			return ok
		}
		return s.names.has(name)
	}
	edit := func() {
		if next == nil {
			next = make(map[string]struct{}, s.names.len()+len(add))
			for name := range s.names.m {
				next[name] = struct{}{}
			}
		}
	}
	if s.legacy && len(add) > 0 {
		// Naming something ends the legacy wildcard, unless "*" is named.
		s.legacy, s.wildcard = false, false
	}
	if s.names.len() == 0 && !s.wildcard && len(remove) == 0 {
		if set := findNames(add); set != nil {
			s.names = set // all new to it: a first request, as other streams of its group made
			return add
		}
	}
	for _, name := range add {
		if name == "*" {
			s.wildcard = true
			continue
		}
		if has(name) {
			continue
		}
		if !s.wildcard {
			added = append(added, name)
		}
		edit()
		next[intern(name)] = struct{}{}
	}
	for _, name := range remove {
		if name == "*" {
			s.wildcard, s.legacy = false, false
			continue
		}
		if has(name) {
			edit()
			delete(next, name)
		}
	}
	if next != nil {
		s.names = shareNames(next)
	}
	return added
}

// replace applies a state-of-the-world request, which lists every name the
// client wants, and returns the names it did not want before.
func (s *subscription) replace(names []string) []string {
	if s.legacy && len(names) == 0 {
		return nil
	}
	if s.same(names) {
		return nil // an ACK repeats the names: nothing to rebuild
	}
	var added []string
	if set := findNames(names); set != nil {
		for _, name := range names {
			if !s.wants(name) {
				added = append(added, name)
			}
		}
		s.legacy, s.wildcard, s.names = false, false, set
		return added
	}
	next := make(map[string]struct{}, len(names))
	wildcard := false
	for _, name := range names {
		if name == "*" {
			wildcard = true
			continue
		}
		if !s.wants(name) {
			added = append(added, name)
		}
		next[intern(name)] = struct{}{}
	}
	s.legacy, s.wildcard, s.names = false, wildcard, shareNames(next)
	return added
}

// same reports whether a state-of-the-world request names exactly what the
// subscription holds.
func (s *subscription) same(names []string) bool {
	if s.legacy || s.wildcard != slices.Contains(names, "*") {
		return false
	}
	return s.names.holdsExactly(names, true)
}

// resolveClaim compares a state-of-the-world client's claimed version with
// the group's current build of the type and the one before: versions are
// content hashes, so a client that holds either, from any replica, is sent
// only what it lacks.
func (s *subscription) resolveClaim(cur *builtType) {
	if s.claim == "" {
		return
	}
	if cur.version == s.claim {
		s.sent = cur
	} else if base := cur.base.Load(); base != nil && base.version == s.claim {
		s.sent = base
	}
	s.claim = ""
}

// changes returns what a client lacks of cur among the names it wants:
// resources to send and names to remove. They may be cur's own lists,
// shared by every stream and not to be modified. added are names the
// client has just subscribed to; it holds none of them.
func (s *subscription) changes(cur *builtType, added []string) (res []*resource, removed []string) {
	base := s.sent
	if base == cur && s.initial == nil {
		return cur.pick(added), nil
	}
	if base == nil || s.initial != nil || cur.base.Load() != base {
		if base != nil && s.initial == nil && len(added) == 0 {
			return cur.diffFrom(s) // behind by more than one build
		}
		return s.diff(cur, added)
	}
	// The common case: the client holds the build cur replaced, and what
	// changed since was worked out once for every stream.
	if s.wildcard && len(added) == 0 {
		return cur.changed, cur.removed
	}
	isAdded := setOf(added)
	for _, r := range cur.changed {
		if _, ok := isAdded[r.name]; !ok && s.wants(r.name) {
			res = append(res, r)
		}
	}
	res = append(res, cur.pick(added)...)
	for _, name := range cur.removed {
		if s.wants(name) {
			removed = append(removed, name)
		}
	}
	return res, removed
}

// diff compares cur with what the client holds, name by name: what it
// holds comes from initial (a reconnect) or sent, less the names it has
// just subscribed to.
func (s *subscription) diff(cur *builtType, added []string) (res []*resource, removed []string) {
	isAdded := setOf(added)
	found := 0 // initial versions whose names cur has
	held := func(name string) (string, bool) {
		if _, ok := isAdded[name]; ok {
			return "", false
		}
		if s.initial != nil {
			h, ok := s.initial[name]
			if ok {
				found++
			}
			return h, ok
		}
		if s.sent != nil {
			if r := s.sent.lookup(name); r != nil {
				return r.hash, true
			}
		}
		return "", false
	}
	lacks := func(r *resource) bool {
		h, ok := held(r.name)
		return !ok || h != r.hash
	}
	if !s.wildcard && s.names.len() < len(cur.sorted)/4 {
		// A few names of a large type: look each up.
		for name := range s.names.m {
			if r := cur.lookup(name); r != nil && lacks(r) {
				res = append(res, r)
			}
		}
		slices.SortFunc(res, func(a, b *resource) int { return cmp.Compare(a.name, b.name) })
	} else {
		for _, r := range cur.sorted {
			if s.wants(r.name) && lacks(r) {
				res = append(res, r)
			}
		}
	}
	// What it holds, still wants, and cur no longer has.
	gone := func(name string) {
		if _, ok := isAdded[name]; !ok && s.wants(name) && cur.lookup(name) == nil {
			removed = append(removed, name)
		}
	}
	switch {
	case s.initial != nil:
		if found == len(s.initial) {
			break // every name the client holds is among cur's: the usual reconnect
		}
		for name := range s.initial {
			gone(name)
		}
		slices.Sort(removed)
	case s.sent != nil:
		for _, r := range s.sent.sorted {
			gone(r.name)
		}
	}
	return res, removed
}

// all returns every resource of cur the client wants, in name order.
func (s *subscription) all(cur *builtType) []*resource {
	if s.wildcard {
		return cur.sorted
	}
	var out []*resource
	for _, r := range cur.sorted {
		if s.names.has(r.name) {
			out = append(out, r)
		}
	}
	return out
}

// pick returns the named resources that exist in b.
func (b *builtType) pick(names []string) []*resource {
	var out []*resource
	for _, name := range names {
		if r := b.lookup(name); r != nil {
			out = append(out, r)
		}
	}
	return out
}

func setOf(names []string) map[string]struct{} {
	if len(names) == 0 {
		return nil
	}
	m := make(map[string]struct{}, len(names))
	for _, n := range names {
		m[n] = struct{}{}
	}
	return m
}
