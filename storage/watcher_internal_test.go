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

// A live watch answers progress requests, so it is heard from every
// progress interval even while nothing in the keyspace changes.
func TestQuietWatchIsHeard(t *testing.T) {
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
	for w.Heard().IsZero() || w.progress.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no first load within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	loaded := w.Heard()
	// Progress notifications move Heard on although nothing changes; the
	// bound is wide (a busy machine) but far below a second-long silence.
	for i := 0; i < 10; i++ {
		if quiet := time.Since(w.Heard()); quiet > 2*time.Second {
			t.Fatalf("a live watch was quiet for %v", quiet)
		}
		time.Sleep(20 * time.Millisecond) // sample across several progress rounds
	}
	deadline = time.Now().Add(5 * time.Second)
	for !w.Heard().After(loaded) {
		if time.Now().After(deadline) {
			t.Fatal("no progress notification within 5s of the load")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	if idle := NewWatcher(WatcherConfig{Client: cli, Keyspace: NewKeyspace("/test/v1")}); !idle.Heard().IsZero() {
		t.Errorf("a watcher that never loaded was heard at %v", idle.Heard())
	}
}
