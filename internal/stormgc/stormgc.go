// Package stormgc lets the garbage collector run less often while streams
// arrive in a burst, as when a replica dies and its Envoys reconnect to the
// others.
//
// Each new connection grows the live heap by its transport's state, and
// with the usual GC percent the collector runs every time the heap
// doubles: from a small heap, seven collections to take 5,000 Envoys, each
// marking every stack and connection so far. They were about 40% of the
// replica's CPU in such a storm. During a burst the percent is raised, so a
// few collections do; when the burst is over the usual percent comes back,
// and the next collection, whenever the heap reaches its usual goal, takes
// the burst's garbage.
package stormgc

import (
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Relaxer raises the GC percent while streams open in a burst.
type Relaxer struct {
	percent int           // GC percent during a burst
	burst   int           // opens within one window that start a burst
	window  time.Duration // how long a window is
	quiet   time.Duration // a burst ends after this long with fewer opens than one window's
	log     *zap.Logger

	mu      sync.Mutex
	start   time.Time // of the current window
	opens   int       // in the current window; in a burst, since the last check
	on      bool      // in a burst: the percent is raised
	usual   int       // the GC percent outside bursts, while on
	stopped bool      // the usual percent is at or above ours: nothing to do
}

// New returns a Relaxer that sets the GC percent to percent once burst
// streams open within a window, and back once ten windows pass with fewer
// than burst opens in all: a storm's lulls do not end it, and every end
// may soon cost a collection. percent <= 0 returns nil, which does
// nothing. Each burst is logged at its start and end.
func New(percent, burst int, window time.Duration, log *zap.Logger) *Relaxer {
	if percent <= 0 {
		return nil
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &Relaxer{percent: percent, burst: max(burst, 1), window: window, quiet: 10 * window, log: log}
}

// Opened counts one new stream. It is safe for concurrent use, and a nil
// Relaxer does nothing.
func (r *Relaxer) Opened() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	if now := time.Now(); !r.on && now.Sub(r.start) > r.window {
		r.start, r.opens = now, 0
	}
	r.opens++
	if r.on || r.opens < r.burst {
		return
	}
	usual := debug.SetGCPercent(r.percent)
	if usual < 0 || usual >= r.percent {
		debug.SetGCPercent(usual) // collection is off, or already as rare: leave it
		r.stopped = true
		return
	}
	r.on, r.usual, r.opens = true, usual, 0
	r.log.Info("streams arrive in a burst: collecting garbage less often until it ends",
		zap.Int("gc-percent", r.percent), zap.Int("usual-gc-percent", usual))
	time.AfterFunc(r.quiet, r.check)
}

// check ends the burst once a quiet spell had fewer opens than a burst.
func (r *Relaxer) check() {
	r.mu.Lock()
	if r.opens >= r.burst {
		r.opens = 0
		r.mu.Unlock()
		time.AfterFunc(r.quiet, r.check)
		return
	}
	r.on, r.opens, r.start = false, 0, time.Now()
	debug.SetGCPercent(r.usual)
	r.mu.Unlock()
	r.log.Info("the burst of streams is over", zap.Int("gc-percent", r.usual))
}
