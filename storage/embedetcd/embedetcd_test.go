package embedetcd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/embedetcd"
)

func freeURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// With a periodic retention, etcd compacts by itself: a revision older
// than the retention becomes unreadable within a few retention periods.
func TestHistoryRetentionCompacts(t *testing.T) {
	const retention = 2 * time.Second
	e, err := embedetcd.Start(embedetcd.Config{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t), Logger: zap.NewNop(),
		Retention: embedetcd.Retention{Period: retention}})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	first, err := cli.Put(ctx, "k", "v0")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	deadline := start.Add(30 * time.Second) // 15 retention periods: generous on two busy cores
	for i := 0; ; i++ {
		// etcd compacts only revisions it has seen the head pass.
		if _, err := cli.Put(ctx, "k", "v"); err != nil {
			t.Fatal(err)
		}
		_, err := cli.Get(ctx, "k", clientv3.WithRev(first.Header.Revision))
		if errors.Is(err, rpctypes.ErrCompacted) {
			t.Logf("revision %d compacted %s after it was written (retention %s, %d writes)", first.Header.Revision, time.Since(start).Round(time.Millisecond), retention, i+1)
			if d := time.Since(start); d < retention {
				t.Errorf("compacted after %s, before the retention of %s", d, retention)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision %d still held after %s with a retention of %s", first.Header.Revision, time.Since(start), retention)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The cost of history: every revision kept holds the whole value, so the
// database grows by about the value's size per write until compaction
// frees the space (for reuse: the file shrinks only on defragmentation).
func TestHistoryRetentionCost(t *testing.T) {
	e, err := embedetcd.Start(embedetcd.Config{DataDir: t.TempDir(), ClientURL: freeURL(t), PeerURL: freeURL(t), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	inUse := func() int64 {
		st, err := cli.Status(ctx, e.Endpoint())
		if err != nil {
			t.Fatal(err)
		}
		return st.DbSizeInUse
	}
	const writes, size = 2000, 1024
	value := strings.Repeat("x", size)
	before := inUse()
	var last int64
	for i := range writes {
		resp, err := cli.Put(ctx, "/chancery/v1/routes/web", fmt.Sprintf("%04d%s", i, value[4:]))
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	kept := inUse() - before
	if _, err := cli.Compact(ctx, last, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	after := inUse() - before
	perWrite := float64(kept) / writes
	t.Logf("%d writes of a %d-byte value kept in history: database in use +%d bytes (%.0f bytes per write); after compaction +%d bytes",
		writes, size, kept, perWrite, after)
	if perWrite < size || perWrite > 3*size {
		t.Errorf("%.0f bytes per kept write of %d bytes: want between 1 and 3 times the value", perWrite, size)
	}
	if after > kept/4 {
		t.Errorf("compaction left %d of %d bytes in use", after, kept)
	}
}
