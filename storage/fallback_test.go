package storage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// serving checks that a snapshot serves web's accepted version as it was
// at revision accepted, in place of the rejected live value at live.
func serving(snap *model.Snapshot, accepted, live int64) error {
	svc := snap.Services["web"]
	rj, ok := snap.RejectionOf(webRef)
	switch {
	case svc == nil || svc.LBPolicy != model.LBLeastRequest:
		return fmt.Errorf("revision %d serves %+v, want the accepted least_request version", snap.Revision, svc)
	case !ok:
		return fmt.Errorf("revision %d: services/web is not reported rejected", snap.Revision)
	case rj.Serving == nil || rj.Serving.Revision != accepted || rj.Serving.For != live:
		return fmt.Errorf("revision %d: serving %+v, want revision %d for %d", snap.Revision, rj.Serving, accepted, live)
	}
	return nil
}

// A live object that turns invalid keeps serving its last accepted
// version, on a watcher that saw the change and on one started afterwards
// alike; several bad writes in a row change nothing; a fix serves the fix;
// a brand-new object that was never valid is simply rejected.
func TestRejectedObjectServesLastAcceptedVersion(t *testing.T) {
	_, cli := etcdtest.Start(t)
	key := webRef.String()
	good := put(t, cli, key, `{"protocol":"http","lb_policy":"least_request"}`)
	_, snaps := startWatcher(t, cli, time.Millisecond)
	snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Services["web"] != nil })

	put(t, cli, key, `{"protocol":"http","lb_policy":"least_req`) // truncated
	bad := put(t, cli, key, `{"protocol":"http","lb_policy":"bogus"}`)
	put(t, cli, "services/new", `{"protocol":"nope"}`)
	snap, _ := snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Revision >= bad+1 })
	if err := serving(snap, good, bad); err != nil {
		t.Fatal(err)
	}
	if rj, ok := snap.RejectionOf(model.Ref{Kind: model.KindService, Name: "new"}); !ok || rj.Serving != nil || snap.Services["new"] != nil {
		t.Errorf("a never-valid object: rejection %+v (found %v), served %v; want rejected, nothing served", rj, ok, snap.Services["new"])
	}

	_, fresh := startWatcher(t, cli, time.Millisecond)
	first, _ := fresh.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if err := serving(first, good, bad); err != nil {
		t.Fatalf("a watcher started afterwards: %v", err)
	}

	fixed := put(t, cli, key, `{"protocol":"http"}`)
	snap, _ = snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Revision >= fixed })
	if _, ok := snap.RejectionOf(webRef); ok || snap.Services["web"] == nil || snap.Services["web"].LBPolicy != "" {
		t.Fatalf("after the fix: %+v, want the fixed version accepted", snap.Services["web"])
	}
}

// Once etcd has compacted the history, the version the leader recorded in
// status/ for this very live value stands in; a record made for an older
// live value does not.
func TestCompactedHistoryFallsBackToStatusRecord(t *testing.T) {
	_, cli := etcdtest.Start(t)
	key := webRef.String()
	accepted := `{"protocol":"http","lb_policy":"least_request"}`
	good := put(t, cli, key, accepted)
	bad := put(t, cli, key, `{"protocol":`)
	if _, err := cli.Compact(context.Background(), bad); err != nil {
		t.Fatal(err)
	}

	_, snaps := startWatcher(t, cli, time.Millisecond)
	first, _ := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if rj, ok := first.RejectionOf(webRef); !ok || rj.Serving != nil || first.Services["web"] != nil {
		t.Fatalf("compacted, no record: %+v served %v, want rejected with nothing served", rj, first.Services["web"])
	}

	record := func(forRev int64) string {
		b, err := json.Marshal(storage.ObjectStatus{State: storage.StatusRejected, Reason: "r",
			Serving: &storage.ServingRecord{Revision: good, For: forRev, Value: json.RawMessage(accepted)}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	stale := put(t, cli, "status/"+webRef.String(), record(bad-1))
	marker := put(t, cli, "services/marker", `{"protocol":"http"}`)
	snap, _ := snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Revision >= marker })
	if snap.Services["web"] != nil {
		t.Fatalf("a record made for revision %d (put at %d) stood in for the live value at %d", bad-1, stale, bad)
	}

	put(t, cli, "status/"+webRef.String(), record(bad))
	snap, _ = snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Services["web"] != nil })
	if err := serving(snap, good, bad); err != nil {
		t.Fatalf("a running watcher, when the record arrives: %v", err)
	}
	_, fresh := startWatcher(t, cli, time.Millisecond)
	first, _ = fresh.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if err := serving(first, good, bad); err != nil {
		t.Fatalf("a watcher started afterwards: %v", err)
	}
}

// Keys of no kind are reported, and their deletion too; they change no
// object. Listeners carry their create revision.
func TestIgnoredKeysAndCreateRevisions(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put(t, cli, "service/web2", `{"protocol":"http"}`)
	created := put(t, cli, "listeners/l", `{"port":80,"protocol":"tcp","service":"db","groups":["g"]}`)
	put(t, cli, "listeners/l", `{"port":81,"protocol":"tcp","service":"db","groups":["g"]}`)
	_, snaps := startWatcher(t, cli, time.Millisecond)
	first, _ := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if len(first.Ignored) != 1 || first.Ignored[0].Key != "service/web2" || first.Ignored[0].Reason != `"service" is not a kind of object (did you mean "services"?)` {
		t.Errorf("ignored %+v, want service/web2 with a hint", first.Ignored)
	}
	if got := first.Created["l"]; got != created {
		t.Errorf("listener create revision %d, want %d", got, created)
	}
	put(t, cli, "routes", `{}`)
	snap, _ := snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return len(s.Ignored) == 2 })
	if snap.Ignored[0].Key != "routes" {
		t.Errorf("ignored %+v, want routes first", snap.Ignored)
	}
	if _, err := cli.Delete(context.Background(), prefix+"/service/web2"); err != nil {
		t.Fatal(err)
	}
	snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return len(s.Ignored) == 1 && s.Ignored[0].Key == "routes" })
}
