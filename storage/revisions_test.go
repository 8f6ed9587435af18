package storage_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// ReadEvents returns a key's writes oldest first, with their types, the
// value before each and the head; after a compaction it starts at the
// compaction revision, and a window before it is a CompactedError naming
// that revision.
func TestHistoryReadEvents(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx := context.Background()
	ks := storage.NewKeyspace(prefix)
	key := ks.Key(webRef)
	r1 := put(t, cli, "services/web", `{"protocol":"http"}`)
	r2 := put(t, cli, "services/web", `{"protocol":"http2"}`)
	del, err := cli.Delete(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	r4 := put(t, cli, "services/web", `{"protocol":"grpc"}`)
	head := put(t, cli, "services/other", `{"protocol":"http"}`)

	w, err := storage.ReadEvents(ctx, cli, key, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range w.Events {
		got = append(got, fmt.Sprintf("%d %s %s prev %d %s", ev.Revision, ev.Type, ev.Value, ev.PrevRevision, ev.Prev))
	}
	want := []string{
		fmt.Sprintf(`%d create {"protocol":"http"} prev 0 `, r1),
		fmt.Sprintf(`%d modify {"protocol":"http2"} prev %d {"protocol":"http"}`, r2, r1),
		fmt.Sprintf(`%d delete  prev %d {"protocol":"http2"}`, del.Header.Revision, r2),
		fmt.Sprintf(`%d create {"protocol":"grpc"} prev 0 `, r4),
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") || w.From != 1 || w.Head != head {
		t.Errorf("events from %d to %d:\n%s\nwant to %d:\n%s", w.From, w.Head, strings.Join(got, "\n"), head, strings.Join(want, "\n"))
	}
	if oldest, err := storage.OldestRevision(ctx, cli, ks); err != nil || oldest != 1 {
		t.Errorf("oldest revision before any compaction: %d, %v", oldest, err)
	}

	if _, err := cli.Compact(ctx, r4); err != nil {
		t.Fatal(err)
	}
	w, err = storage.ReadEvents(ctx, cli, key, "", 0)
	if err != nil || w.From != r4 || len(w.Events) != 1 || w.Events[0].Revision != r4 {
		t.Errorf("after compaction at %d: %+v, %v", r4, w, err)
	}
	_, err = storage.ReadEvents(ctx, cli, key, "", r2)
	var ce *storage.CompactedError
	if !errors.As(err, &ce) || ce.Oldest != r4 || err.Error() != fmt.Sprintf("revision %d is compacted; the oldest revision etcd still holds is %d", r2, r4) {
		t.Errorf("window from a compacted revision: %v", err)
	}
	if oldest, err := storage.OldestRevision(ctx, cli, ks); err != nil || oldest != r4 {
		t.Errorf("oldest revision: %d, %v; want %d", oldest, err, r4)
	}
	_, err = storage.ReadContentsAt(ctx, cli, ks, r2)
	if !errors.As(err, &ce) || ce.Revision != r2 || ce.Oldest != r4 {
		t.Errorf("contents at a compacted revision: %v", err)
	}
	_, err = storage.ReadContentsAt(ctx, cli, ks, head+5)
	var fe *storage.FutureError
	if !errors.As(err, &fe) || err.Error() != fmt.Sprintf("revision %d is in the future; etcd is at revision %d", head+5, head) {
		t.Errorf("contents at a future revision: %v", err)
	}
	c, err := storage.ReadContentsAt(ctx, cli, ks, r4)
	if err != nil || len(c.Objects) != 1 || string(c.Objects[webRef].Value) != `{"protocol":"grpc"}` {
		t.Errorf("contents at %d: %+v, %v", r4, c, err)
	}
}

// A recording writer puts its cause in the same transaction as the
// objects, at a key neither the watcher's snapshot nor ReadContents
// takes for an object or reports as ignored; it needs one operation of
// each transaction.
func TestHistoryWriterRecordsCause(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx := context.Background()
	ks := storage.NewKeyspace(prefix)
	w6 := newWriter(t, cli, 6)
	if err := w6.RecordCause(storage.ChangeCause{}); err == nil {
		t.Error("6 operations: room for the guards, the cause and nothing else, yet accepted")
	}
	w := newWriter(t, cli, 7)
	if err := w.RecordCause(storage.ChangeCause{By: "alice", Tool: "test", Cause: "why"}); err != nil {
		t.Fatal(err)
	}
	cur := read(t, cli)
	changes := []storage.Change{
		storage.PlanPut(cur, webRef, []byte(`{"protocol":"http"}`)),
		storage.PlanPut(cur, model.Ref{Kind: model.KindService, Name: "api"}, []byte(`{"protocol":"http"}`)),
	}
	if n := len(w.Batches(changes)); n != 2 {
		t.Errorf("two objects at 7 operations with a cause: %d transactions, want 2 (5 guards + 1 cause + 1 object)", n)
	}
	res, err := w.Commit(ctx, cur.Revision, changes)
	if err != nil {
		t.Fatal(err)
	}
	causes, err := storage.CausesAt(ctx, cli, ks, []int64{res.Revision, res.Revision - 1, cur.Revision})
	if err != nil {
		t.Fatal(err)
	}
	if c := causes[res.Revision]; len(causes) != 2 || c == nil || c.By != "alice" || c.Cause != "why" {
		t.Errorf("causes: %v", causes)
	}
	resp, err := cli.Get(ctx, ks.ChangesKey())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("%s: %v %v", ks.ChangesKey(), resp, err)
	}
	snap := storage.SnapshotOf(ks, resp.Header.Revision, []*mvccpb.KeyValue{resp.Kvs[0]})
	if len(snap.Ignored) != 0 {
		t.Errorf("the change record is reported as ignored: %v", snap.Ignored)
	}
	all := read(t, cli)
	if len(all.Ignored) != 0 || len(all.Objects) != 2 {
		t.Errorf("contents: %d objects, ignored %v", len(all.Objects), all.Ignored)
	}
}
