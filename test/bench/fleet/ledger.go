package main

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

// ledger knows every write the driver reported and turns what the clients
// see into latencies. A client that sees seq s on a key it last saw at
// seq p has received every write to that key in (p, s] at once: writes
// the server coalesced are delivered, late, by the newer one.
type ledger struct {
	mu     sync.RWMutex
	keys   map[string]int32 // "<cluster>/<endpoint id>" -> key index
	names  []string         // key index -> key
	bySeq  map[uint64]*writeRecord
	perKey [][]*writeRecord // key index -> writes, by ascending seq
	posted []uint64         // key index -> highest seq reported

	pendingMu sync.Mutex
	pending   []delivery // seen before the driver reported the write

	hist atomic.Pointer[benchapi.Histogram] // every delivery since the last reset
}

type writeRecord struct {
	seq       uint64
	putNs     int64
	raw       bool
	delivered atomic.Int32
	mu        sync.Mutex
	latencies []int64 // raw writes only
}

// delivery is one client seeing a key move from seq prev to seq seen.
type delivery struct {
	key        int32
	prev, seen uint64
	atNs       int64 // when the client ACKed the response
	syncedNs   int64 // writes before the client's first sync are not its latency
}

func newLedger() *ledger {
	l := &ledger{keys: map[string]int32{}, bySeq: map[uint64]*writeRecord{}}
	l.hist.Store(benchapi.NewHistogram())
	return l
}

// key interns a key name.
func (l *ledger) key(name string) int32 {
	l.mu.RLock()
	k, ok := l.keys[name]
	l.mu.RUnlock()
	if ok {
		return k
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if k, ok := l.keys[name]; ok {
		return k
	}
	k = int32(len(l.names))
	l.keys[name] = k
	l.names = append(l.names, name)
	l.perKey = append(l.perKey, nil)
	l.posted = append(l.posted, 0)
	return k
}

// post records writes the driver made; each key's writes must arrive in
// seq order, which the driver guarantees by writing each key from one
// goroutine.
func (l *ledger) post(ws []benchapi.Write) {
	for _, w := range ws {
		k := l.key(w.Key)
		l.mu.Lock()
		r := &writeRecord{seq: w.Seq, putNs: w.PutNs, raw: w.Raw}
		l.bySeq[w.Seq] = r
		l.perKey[k] = append(l.perKey[k], r)
		l.posted[k] = max(l.posted[k], w.Seq)
		l.mu.Unlock()
	}
	l.retryPending()
}

// deliver accounts for one delivery, or keeps it until the driver has
// reported every write it covers.
func (l *ledger) deliver(d delivery) {
	if l.tryDeliver(d) {
		return
	}
	// Try again under the lock that retryPending holds, so a report that
	// lands in between is not missed.
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	if !l.tryDeliver(d) {
		l.pending = append(l.pending, d)
	}
}

func (l *ledger) tryDeliver(d delivery) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if int(d.key) >= len(l.posted) || l.posted[d.key] < d.seen {
		return false
	}
	writes := l.perKey[d.key]
	hist := l.hist.Load()
	for i := sort.Search(len(writes), func(i int) bool { return writes[i].seq > d.prev }); i < len(writes) && writes[i].seq <= d.seen; i++ {
		w := writes[i]
		if w.putNs < d.syncedNs {
			continue // written before this client first synced: part of its initial state
		}
		lat := d.atNs - w.putNs
		hist.Record(lat)
		w.delivered.Add(1)
		if w.raw {
			w.mu.Lock()
			w.latencies = append(w.latencies, lat)
			w.mu.Unlock()
		}
	}
	return true
}

func (l *ledger) retryPending() {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	still := l.pending[:0]
	for _, d := range l.pending {
		if !l.tryDeliver(d) {
			still = append(still, d)
		}
	}
	l.pending = still
}

func (l *ledger) pendingCount() int {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	return len(l.pending)
}

// result reports how far one write has reached.
func (l *ledger) result(seq uint64, latencies bool) benchapi.WriteResult {
	l.mu.RLock()
	w := l.bySeq[seq]
	l.mu.RUnlock()
	r := benchapi.WriteResult{Seq: seq}
	if w == nil {
		return r
	}
	r.Delivered = int(w.delivered.Load())
	if !latencies {
		return r
	}
	w.mu.Lock()
	r.LatenciesNs = append([]int64(nil), w.latencies...)
	w.mu.Unlock()
	return r
}

// resetHistogram starts a new measurement window.
func (l *ledger) resetHistogram() { l.hist.Store(benchapi.NewHistogram()) }

// nowNs is the clock every latency is read on: wall time, which the driver
// in another process reads too.
func nowNs() int64 { return time.Now().UnixNano() }
