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

// A live watch answers progress requests, so it never counts as stalled; a
// watch that etcd accepts requests for but that hears nothing does.
func TestStalledWatch(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	w := NewWatcher(WatcherConfig{Client: cli, Keyspace: NewKeyspace("/test/v1"), ProgressInterval: 20 * time.Millisecond, Logger: zaptest.NewLogger(t)})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, func(*model.Snapshot) {}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	deadline := time.Now().Add(5 * time.Second)
	for w.asked.Load() == 0 || w.progress.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no progress request was accepted within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	for i := 0; i < 10; i++ {
		if w.Stalled(200 * time.Millisecond) {
			t.Fatal("a live watch reported stalled")
		}
		time.Sleep(20 * time.Millisecond) // sample across several progress rounds
	}

	idle := NewWatcher(WatcherConfig{Client: cli, Keyspace: NewKeyspace("/test/v1")})
	now := time.Now()
	idle.heard.Store(now.Add(-time.Minute).UnixNano())
	idle.asked.Store(now.UnixNano())
	if !idle.Stalled(10 * time.Second) {
		t.Error("a watch silent for a minute while etcd answers is not reported stalled")
	}
	idle.asked.Store(now.Add(-time.Minute).UnixNano()) // etcd stopped answering at the same time
	if idle.Stalled(10 * time.Second) {
		t.Error("a watch is reported stalled while etcd is unreachable")
	}
}
