package readiness_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// peerAdmin is another replica's admin server as Readiness asks it: it
// reports the watch state the test sets.
type peerAdmin struct {
	id      string
	silent  atomic.Int64 // milliseconds
	hearing atomic.Int64 // milliseconds
	asked   atomic.Int64 // times its watch state was asked for
	srv     *httptest.Server
}

func startPeerAdmin(t *testing.T, id string) *peerAdmin {
	t.Helper()
	p := &peerAdmin{id: id}
	p.srv = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != readiness.WatchStatePath {
			http.NotFound(rw, r)
			return
		}
		p.asked.Add(1)
		if err := json.NewEncoder(rw).Encode(readiness.WatchState{Replica: p.id, Revision: 7, SilentMillis: p.silent.Load(), HearingMillis: p.hearing.Load()}); err != nil {
			t.Errorf("peer %s: %v", p.id, err)
		}
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *peerAdmin) addr() string { return strings.TrimPrefix(p.srv.URL, "http://") }

// A replica whose watch is quiet for over the lag leaves the load balancer
// only while another replica shows it hears from etcd; a silence shared by
// every replica reached, or with no one reachable, keeps it serving.
func TestReadinessLeavesOnlyWhenAnotherHearsEtcd(t *testing.T) {
	_, cli := etcdtest.Start(t)
	var heard atomic.Int64 // Unix nanoseconds
	heard.Store(time.Now().UnixNano())
	const maxLag = 400 * time.Millisecond
	r, err := readiness.New(readiness.Config{
		Client: cli, Keyspace: clustertest.KS, ID: "me", MaxLag: maxLag,
		Heard:        func() time.Time { return time.Unix(0, heard.Load()) },
		Revision:     func() int64 { return 5 },
		PeerInterval: 50 * time.Millisecond, ProbeInterval: 20 * time.Millisecond, Settle: time.Second,
		Logger: zaptest.NewLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	peer := startPeerAdmin(t, "other")
	impostor := startPeerAdmin(t, "impostor") // registered as "third": its word counts for nothing
	clustertest.Put(t, cli, "replicas/me", registry.Record{ID: "me", Admin: "127.0.0.1:1"})
	clustertest.Put(t, cli, "replicas/other", registry.Record{ID: "other", Admin: peer.addr()})
	clustertest.Put(t, cli, "replicas/third", registry.Record{ID: "third", Admin: impostor.addr()})
	clustertest.Put(t, cli, "replicas/old", registry.Record{ID: "old"}) // names no admin address

	heard.Store(time.Now().UnixNano()) // the writes above may have taken longer than the lag
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	verdict := func(want string) func() error {
		return func() error {
			v := r.Verdict(time.Now())
			got := "current"
			switch {
			case v.Behind:
				got = "behind, witness " + v.Witness.Replica
			case v.Shared:
				got = "shared"
			}
			if got != want {
				return fmt.Errorf("verdict %s (silent %v), want %s", got, v.Silent, want)
			}
			return nil
		}
	}
	if err := verdict("current")(); err != nil {
		t.Fatal(err)
	}
	// Cut off alone: the peer hears etcd, this replica does not.
	peer.silent.Store(100)
	peer.hearing.Store(time.Minute.Milliseconds())
	clustertest.Eventually(t, 5*time.Second, func() error {
		heard.Store(time.Now().UnixNano()) // registrations are read while etcd is heard
		if n := r.KnownPeers(); n != 2 {
			return fmt.Errorf("%d peers known, want other and third", n)
		}
		return nil
	})
	heard.Store(time.Now().Add(-time.Second).UnixNano())
	clustertest.Eventually(t, 5*time.Second, verdict("behind, witness other"))
	// The peer goes quiet too: a shared silence, the replica serves on.
	peer.silent.Store(time.Second.Milliseconds())
	peer.hearing.Store(-1)
	clustertest.Eventually(t, 5*time.Second, verdict("shared"))
	// etcd returns and the peer reconnects first: until it has heard for
	// Settle, this replica may still be waiting out its reconnect backoff,
	// and stays.
	peer.silent.Store(100)
	peer.hearing.Store(200)
	asked := peer.asked.Load()
	for round := 0; peer.asked.Load() < asked+5; round++ { // five rounds of asking it
		if round > 500 {
			t.Fatal("the peer was not asked five times in 10s")
		}
		if err := verdict("shared")(); err != nil {
			t.Fatalf("a peer that has just begun to hear etcd again: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := verdict("shared")(); err != nil {
		t.Fatalf("a peer that has just begun to hear etcd again: %v", err)
	}
	peer.hearing.Store(time.Second.Milliseconds())
	clustertest.Eventually(t, 5*time.Second, verdict("behind, witness other"))
	peer.silent.Store(time.Second.Milliseconds())
	peer.hearing.Store(-1)
	clustertest.Eventually(t, 5*time.Second, verdict("shared"))
	// No peer answers at all: the same.
	peer.srv.Close()
	clustertest.Eventually(t, 5*time.Second, verdict("shared"))
	// The watch hears again: current, whatever the others say.
	heard.Store(time.Now().UnixNano())
	if err := verdict("current")(); err != nil {
		t.Fatal(err)
	}
	// It tells the others how long it has heard again, from its next round.
	clustertest.Eventually(t, 5*time.Second, func() error {
		heard.Store(time.Now().UnixNano())
		if st := r.State(); st.HearingMillis < 0 {
			return fmt.Errorf("State() = %+v: hearing not known", st)
		}
		return nil
	})
	if st := r.State(); st.Replica != "me" || st.Revision != 5 || st.SilentMillis < 0 || st.SilentMillis > time.Minute.Milliseconds() {
		t.Errorf("State() = %+v", st)
	}
}
