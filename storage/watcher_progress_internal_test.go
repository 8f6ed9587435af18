package storage

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// Another watch of the process on the same client, as the leader's on its
// election key from the next revision, must not silence the keyspace
// watch: etcd answers no progress request on a stream that holds a watch
// starting in the future, and a quiet keyspace would then look unheard.
func TestQuietWatchIsHeardBesideAFutureWatch(t *testing.T) {
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
	for w.Heard().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("no first load within 5s")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}

	resp, err := cli.Get(ctx, "/elsewhere/leader")
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer stop()
	future := cli.Watch(wctx, "/elsewhere/leader", clientv3.WithRev(resp.Header.Revision+1))
	opened := time.Now()
	deadline = opened.Add(5 * time.Second)
	for !w.Heard().After(opened.Add(100 * time.Millisecond)) {
		if time.Now().After(deadline) {
			t.Fatalf("the keyspace watch was not heard from for %v beside a watch from a future revision", time.Since(w.Heard()))
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, with a deadline
	}
	stop()
	for range future { // drained, so the watch's goroutines end with the test
	}
}
