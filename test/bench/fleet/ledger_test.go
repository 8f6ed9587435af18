package main

import (
	"testing"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
)

func TestLedgerDeliversOvertakenWritesWithTheNewerOne(t *testing.T) {
	l := newLedger()
	l.post([]benchapi.Write{
		{Seq: 1, Key: "svc/ep-0", PutNs: 1000, Raw: true},
		{Seq: 2, Key: "svc/ep-1", PutNs: 1500, Raw: true},
		{Seq: 3, Key: "svc/ep-0", PutNs: 2000, Raw: true},
	})
	// The client saw ep-0 jump from nothing to seq 3: seq 1 arrived with it.
	l.deliver(0, []delivery{delivery{key: l.key("svc/ep-0"), prev: 0, seen: 3, atNs: 5000}})
	for _, c := range []struct {
		seq       uint64
		delivered int
		latency   int64
	}{{1, 1, 4000}, {2, 0, 0}, {3, 1, 3000}} {
		r := l.result(c.seq, true)
		if r.Delivered != c.delivered || (c.delivered > 0 && r.LatenciesNs[0] != c.latency) {
			t.Errorf("seq %d: got %+v, want %d delivered at %d ns", c.seq, r, c.delivered, c.latency)
		}
	}
}

func TestLedgerKeepsDeliveriesUntilTheWriteIsReported(t *testing.T) {
	l := newLedger()
	l.deliver(0, []delivery{delivery{key: l.key("svc/ep-0"), prev: 0, seen: 4, atNs: 9000}})
	if n := l.pendingCount(); n != 1 {
		t.Fatalf("pending: got %d, want 1", n)
	}
	l.post([]benchapi.Write{{Seq: 4, Key: "svc/ep-0", PutNs: 8000, Raw: true}})
	if n := l.pendingCount(); n != 0 {
		t.Fatalf("pending after the report: got %d, want 0", n)
	}
	if r := l.result(4, true); r.Delivered != 1 || r.LatenciesNs[0] != 1000 {
		t.Fatalf("got %+v, want one delivery 1000 ns after the Put", r)
	}
}

func TestLedgerIgnoresWritesBeforeTheClientSynced(t *testing.T) {
	l := newLedger()
	l.post([]benchapi.Write{{Seq: 1, Key: "k", PutNs: 100, Raw: true}})
	l.deliver(0, []delivery{delivery{key: l.key("k"), prev: 0, seen: 1, atNs: 500, syncedNs: 200}})
	if r := l.result(1, false); r.Delivered != 0 {
		t.Fatalf("a write older than the client's first sync is its initial state, not a delivery: %+v", r)
	}
}

// Clients record into different histogram shards; the lag reads them all,
// including a delivery kept until its write was reported.
func TestLedgerLagReadsEveryShard(t *testing.T) {
	l := newLedger()
	l.post([]benchapi.Write{{Seq: 1, Key: "a", PutNs: 1000}, {Seq: 2, Key: "b", PutNs: 1000}})
	l.deliver(0, []delivery{{key: l.key("a"), seen: 1, atNs: 2000}, {key: l.key("b"), seen: 2, atNs: 3000}})
	l.deliver(5, []delivery{{key: l.key("a"), seen: 1, atNs: 5000}})
	l.deliver(histShards+7, []delivery{{key: l.key("c"), seen: 3, atNs: 9000}})
	l.post([]benchapi.Write{{Seq: 3, Key: "c", PutNs: 1000}})
	if q := l.lag(); q.Count != 4 || q.Min != 1000 || q.Max != 8000 {
		t.Fatalf("lag %+v; want 4 deliveries from 1000 to 8000 ns", q)
	}
	l.resetHistogram()
	if q := l.lag(); q.Count != 0 {
		t.Fatalf("after a reset: %+v", q)
	}
}

// A report retries only the kept deliveries of its own keys, and each key's
// stay kept until their own write is reported.
func TestLedgerReportResolvesOnlyItsKeys(t *testing.T) {
	l := newLedger()
	a, b := l.key("svc/ep-a"), l.key("svc/ep-b")
	l.deliver(0, []delivery{{key: a, seen: 1, atNs: 3000}, {key: b, seen: 2, atNs: 4000}})
	l.deliver(1, []delivery{{key: b, seen: 2, atNs: 6000}})
	if n := l.pendingCount(); n != 3 {
		t.Fatalf("pending: got %d, want 3", n)
	}
	l.post([]benchapi.Write{{Seq: 1, Key: "svc/ep-a", PutNs: 1000, Raw: true}})
	if n := l.pendingCount(); n != 2 {
		t.Fatalf("pending after ep-a's report: got %d, want ep-b's 2", n)
	}
	if r := l.result(1, true); r.Delivered != 1 || r.LatenciesNs[0] != 2000 {
		t.Fatalf("seq 1: got %+v, want one delivery 2000 ns after the Put", r)
	}
	l.post([]benchapi.Write{{Seq: 2, Key: "svc/ep-b", PutNs: 1000, Raw: true}})
	if n := l.pendingCount(); n != 0 {
		t.Fatalf("pending after ep-b's report: got %d, want 0", n)
	}
	if r := l.result(2, false); r.Delivered != 2 {
		t.Fatalf("seq 2: got %+v, want two deliveries", r)
	}
}
