package main

import (
	"sync"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// recentChangesKept bounds the fleet page's list of recent changes.
const recentChangesKept = 50

// change is one object written or deleted, as the fleet page lists it.
type change struct {
	// Revision is that of the snapshot that first held the change: writes
	// that arrive within the watcher's coalescing window share one.
	Revision int64     `json:"revision"`
	Key      string    `json:"key"` // relative to the prefix, e.g. services/web
	At       time.Time `json:"at"`  // when this replica applied it
}

// changeLog keeps the newest changes the watcher's snapshots name, in a
// ring of fixed size, so a burst of ten thousand writes costs no more
// memory than one.
type changeLog struct {
	mu   sync.Mutex
	ring [recentChangesKept]change
	next int // where the next change goes
	n    int // how many the ring holds
}

// chain returns an observer that records a snapshot's changes and then
// calls next (if not nil); it runs on the watcher's goroutine and never
// blocks for long.
func (l *changeLog) chain(next func(*model.Snapshot, []model.Rejection)) func(*model.Snapshot, []model.Rejection) {
	return func(snap *model.Snapshot, rejected []model.Rejection) {
		l.observe(snap, time.Now())
		if next != nil {
			next(snap, rejected)
		}
	}
}

// observe records the objects snap changed. A snapshot whose changes are
// unknown (a full load) is recorded as one "(full load)" entry.
func (l *changeLog) observe(snap *model.Snapshot, now time.Time) {
	if snap.Changed == nil {
		l.add(change{Revision: snap.Revision, Key: "(full load)", At: now})
		return
	}
	refs := snap.Changed
	if len(refs) > recentChangesKept {
		refs = refs[len(refs)-recentChangesKept:] // the rest would be overwritten at once
	}
	seen := make(map[model.Ref]bool, len(refs))
	for _, ref := range refs {
		if seen[ref] {
			continue
		}
		seen[ref] = true
		l.add(change{Revision: snap.Revision, Key: model.SafeText(ref.String(), model.KeyTextMax), At: now})
	}
}

func (l *changeLog) add(c change) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ring[l.next] = c
	l.next = (l.next + 1) % len(l.ring)
	l.n = min(l.n+1, len(l.ring))
}

// recent returns the changes kept, newest first.
func (l *changeLog) recent() []change {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]change, 0, l.n)
	for i := 1; i <= l.n; i++ {
		out = append(out, l.ring[(l.next-i+len(l.ring))%len(l.ring)])
	}
	return out
}
