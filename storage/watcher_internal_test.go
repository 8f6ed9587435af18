package storage

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap/zaptest"

	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// A watcher that resumes after the keyspace was compacted past its revision
// must give up the watch (so that Run reloads) instead of missing events.
func TestWatchEndsWhenCompactedPastItsRevision(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ks := NewKeyspace("/test/v1")
	w := NewWatcher(WatcherConfig{Client: cli, Keyspace: ks, Coalesce: time.Millisecond, Logger: zaptest.NewLogger(t)})
	if err := w.load(ctx); err != nil {
		t.Fatal(err)
	}
	var rev int64
	for _, name := range []string{"a", "b"} {
		resp, err := cli.Put(ctx, ks.Key(model.Ref{Kind: model.KindService, Name: name}), `{"protocol":"http"}`)
		if err != nil {
			t.Fatal(err)
		}
		rev = resp.Header.Revision
	}
	if _, err := cli.Compact(ctx, rev); err != nil {
		t.Fatal(err)
	}
	err := w.watch(ctx, func(*model.Snapshot) { t.Error("no snapshot may be built from a compacted watch") })
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("watch returned %v, want a compaction error", err)
	}
	if err := w.load(ctx); err != nil {
		t.Fatal(err)
	}
	if snap := w.snapshot(); len(snap.Services) != 2 || snap.Revision != rev {
		t.Errorf("reloaded snapshot: %d services at revision %d, want 2 at %d", len(snap.Services), snap.Revision, rev)
	}
}
