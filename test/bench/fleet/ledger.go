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

	// pending holds, by key index, the deliveries seen before the driver
	// reported their write; a report retries only its own keys' deliveries.
	pendingMu sync.Mutex
	pending   [][]pendingDelivery
	npending  int

	// hists count every delivery since the last reset, in shards: a
	// thousand clients recording into one histogram from two cores would
	// pass its counters' cache lines back and forth on every delivery.
	hists atomic.Pointer[[histShards]*benchapi.Histogram]
}

// histShards is how many histograms deliveries are spread over, by client.
const histShards = 16

// writeRecord is one write the driver reported. Only raw writes keep their
// latencies, one per client that holds the write, and so their count:
// counting every write would make each delivery a write to memory that
// every client shares.
type writeRecord struct {
	seq       uint64
	putNs     int64
	raw       bool
	mu        sync.Mutex
	latencies []int64
}

// delivery is one client seeing a key move from seq prev to seq seen.
type delivery struct {
	key        int32
	prev, seen uint64
	atNs       int64 // when the client ACKed the response
	syncedNs   int64 // writes before the client's first sync are not its latency
}

type pendingDelivery struct {
	delivery
	shard int
}

func newLedger() *ledger {
	l := &ledger{keys: map[string]int32{}, bySeq: map[uint64]*writeRecord{}}
	l.resetHistogram()
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
	keys := make([]int32, 0, len(ws))
	for _, w := range ws {
		k := l.key(w.Key)
		l.mu.Lock()
		r := &writeRecord{seq: w.Seq, putNs: w.PutNs, raw: w.Raw}
		l.bySeq[w.Seq] = r
		l.perKey[k] = append(l.perKey[k], r)
		l.posted[k] = max(l.posted[k], w.Seq)
		l.mu.Unlock()
		keys = append(keys, k)
	}
	l.retryPending(keys)
}

// deliver accounts for the deliveries of one response to one client
// (shard: the client's index), keeping those it cannot account for until
// the driver has reported every write they cover. It reorders ds, which
// the caller discards afterwards: the late ones go to its front, so that
// a response with some is not an allocation.
func (l *ledger) deliver(shard int, ds []delivery) {
	hist := l.hists.Load()[shard%histShards]
	n := 0
	l.mu.RLock()
	for _, d := range ds {
		if !l.deliverLocked(d, hist) {
			ds[n] = d
			n++
		}
	}
	l.mu.RUnlock()
	late := ds[:n]
	if len(late) == 0 {
		return
	}
	// Try again under the lock that retryPending holds, so a report that
	// lands in between is not missed.
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, d := range late {
		if l.deliverLocked(d, hist) {
			continue
		}
		if int(d.key) >= len(l.pending) {
			l.pending = append(l.pending, make([][]pendingDelivery, int(d.key)+1-len(l.pending))...)
		}
		l.pending[d.key] = append(l.pending[d.key], pendingDelivery{d, shard})
		l.npending++
	}
}

// deliverLocked accounts for d, under l.mu, if every write it covers has
// been reported.
func (l *ledger) deliverLocked(d delivery, hist *benchapi.Histogram) bool {
	if int(d.key) >= len(l.posted) || l.posted[d.key] < d.seen {
		return false
	}
	writes := l.perKey[d.key]
	for i := sort.Search(len(writes), func(i int) bool { return writes[i].seq > d.prev }); i < len(writes) && writes[i].seq <= d.seen; i++ {
		w := writes[i]
		if w.putNs < d.syncedNs {
			continue // written before this client first synced: part of its initial state
		}
		lat := d.atNs - w.putNs
		hist.Record(lat)
		if w.raw {
			w.mu.Lock()
			w.latencies = append(w.latencies, lat)
			w.mu.Unlock()
		}
	}
	return true
}

// retryPending accounts for the kept deliveries of keys that were just
// reported.
func (l *ledger) retryPending(keys []int32) {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	if l.npending == 0 {
		return
	}
	hists := l.hists.Load()
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, k := range keys {
		if int(k) >= len(l.pending) {
			continue
		}
		kept := l.pending[k]
		still := kept[:0]
		for _, d := range kept {
			if !l.deliverLocked(d.delivery, hists[d.shard%histShards]) {
				still = append(still, d)
			}
		}
		l.npending -= len(kept) - len(still)
		l.pending[k] = still
	}
}

func (l *ledger) pendingCount() int {
	l.pendingMu.Lock()
	defer l.pendingMu.Unlock()
	return l.npending
}

// result reports how far one raw write has reached: how many clients
// hold it, and with latencies, when each got it. A write that is not raw
// reports nothing.
func (l *ledger) result(seq uint64, latencies bool) benchapi.WriteResult {
	l.mu.RLock()
	w := l.bySeq[seq]
	l.mu.RUnlock()
	r := benchapi.WriteResult{Seq: seq}
	if w == nil {
		return r
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r.Delivered = len(w.latencies)
	if latencies {
		r.LatenciesNs = append([]int64(nil), w.latencies...)
	}
	return r
}

// resetHistogram starts a new measurement window.
func (l *ledger) resetHistogram() {
	var hs [histShards]*benchapi.Histogram
	for i := range hs {
		hs[i] = benchapi.NewHistogram()
	}
	l.hists.Store(&hs)
}

// lag is every delivery since the last reset.
func (l *ledger) lag() benchapi.Quantiles {
	all := benchapi.NewHistogram()
	for _, h := range l.hists.Load() {
		all.Merge(h)
	}
	return all.Quantiles()
}

// nowNs is the clock every latency is read on: wall time, which the driver
// in another process reads too.
func nowNs() int64 { return time.Now().UnixNano() }
