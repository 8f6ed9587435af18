package storage_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zaptest"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

const prefix = "/test/v1"

// snapshots collects what a watcher hands out and lets a test wait for one.
type snapshots struct {
	mu   sync.Mutex
	cond *sync.Cond
	all  []*model.Snapshot
}

func newSnapshots() *snapshots {
	s := &snapshots{}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *snapshots) apply(snap *model.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, snap)
	s.cond.Broadcast()
}

// waitFor returns the first snapshot (counting from index from) that
// satisfies ok, failing the test after a deadline.
func (s *snapshots) waitFor(t *testing.T, from int, ok func(*model.Snapshot) bool) (*model.Snapshot, int) {
	t.Helper()
	deadline := time.AfterFunc(10*time.Second, func() { s.cond.Broadcast() })
	defer deadline.Stop()
	start := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := from; ; {
		for ; i < len(s.all); i++ {
			if ok(s.all[i]) {
				return s.all[i], i
			}
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("no matching snapshot within 10s; %d snapshots seen", len(s.all))
		}
		s.cond.Wait()
	}
}

func startWatcher(t *testing.T, cli *clientv3.Client, coalesce time.Duration) (*storage.Watcher, *snapshots) {
	t.Helper()
	w := storage.NewWatcher(storage.WatcherConfig{
		Client: cli, Keyspace: storage.NewKeyspace(prefix), Coalesce: coalesce, PageSize: 2, Logger: zaptest.NewLogger(t),
	})
	snaps := newSnapshots()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, snaps.apply) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	return w, snaps
}

func put(t *testing.T, cli *clientv3.Client, key, value string) int64 {
	t.Helper()
	resp, err := cli.Put(context.Background(), prefix+"/"+key, value)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func TestWatcherLoadsPagesAndRejectsBadObjects(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put(t, cli, "services/web", `{"protocol":"http"}`)
	put(t, cli, "services/api", `{"protocol":"grpc","lb_policy":"least_request"}`)
	put(t, cli, "services/bad", `{"protocol":"http",`)
	put(t, cli, "services/typo", `{"protocol":"http","lb_polcy":"random"}`)
	put(t, cli, "endpoints/web/a", `{"address":"127.0.0.1","port":8080}`)
	put(t, cli, "replicas/r1", `not a model object`)
	rev := put(t, cli, "listeners/main", `{"port":8080,"protocol":"http","route_table":"web","groups":["edge"]}`)
	if _, err := cli.Put(context.Background(), "/other/services/x", `{}`); err != nil {
		t.Fatal(err)
	}

	w, snaps := startWatcher(t, cli, time.Millisecond)
	snap, _ := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })

	if snap.Revision < rev {
		t.Errorf("revision %d, want at least %d", snap.Revision, rev)
	}
	if len(snap.Services) != 2 || snap.Services["api"].LBPolicy != model.LBLeastRequest {
		t.Errorf("services = %v", snap.Services)
	}
	if ep := snap.Endpoints["web"]["a"]; ep == nil || ep.Port != 8080 {
		t.Errorf("endpoint web/a = %+v", ep)
	}
	if len(snap.Listeners) != 1 {
		t.Errorf("listeners = %v", snap.Listeners)
	}
	var got []string
	for _, r := range snap.Rejected {
		got = append(got, r.Error())
	}
	want := []string{
		"services/bad: invalid JSON: empty or truncated value",
		`services/typo: field lb_polcy: unknown field (did you mean "lb_policy"?)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rejections:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if w.Revision() != snap.Revision {
		t.Errorf("Revision() = %d, want %d", w.Revision(), snap.Revision)
	}
}

func TestWatcherCoalescesBursts(t *testing.T) {
	_, cli := etcdtest.Start(t)
	_, snaps := startWatcher(t, cli, 300*time.Millisecond)
	_, first := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })

	const n = 20
	var last int64
	for i := range n {
		last = put(t, cli, fmt.Sprintf("endpoints/web/e%d", i), fmt.Sprintf(`{"address":"10.0.0.%d","port":80}`, i+1))
	}
	snap, idx := snaps.waitFor(t, first+1, func(s *model.Snapshot) bool { return len(s.Endpoints["web"]) == n })
	if snap.Revision != last {
		t.Errorf("snapshot at revision %d, want the burst's last revision %d", snap.Revision, last)
	}
	if rebuilds := idx - first; rebuilds >= n/2 {
		t.Errorf("%d writes caused %d rebuilds; want them coalesced", n, rebuilds)
	}
}

// A change after a quiet spell is rebuilt at once; the changes that follow
// it within the window wait for the window and come as one snapshot.
func TestWatcherRebuildsLoneChangeAtOnce(t *testing.T) {
	_, cli := etcdtest.Start(t)
	const window = 3 * time.Second
	_, snaps := startWatcher(t, cli, window)
	_, first := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })

	start := time.Now()
	rev := put(t, cli, "endpoints/web/lone", `{"address":"10.0.0.1","port":80}`)
	_, lone := snaps.waitFor(t, first+1, func(s *model.Snapshot) bool { return s.Revision >= rev })
	if took := time.Since(start); took > window/2 {
		t.Errorf("a lone change took %s to rebuild; want it at once, not after the %s window", took, window)
	}

	const n = 10
	var last int64
	for i := range n {
		last = put(t, cli, fmt.Sprintf("endpoints/web/e%d", i), fmt.Sprintf(`{"address":"10.0.1.%d","port":80}`, i+1))
	}
	snap, idx := snaps.waitFor(t, lone+1, func(s *model.Snapshot) bool { return s.Revision >= last })
	if idx != lone+1 || len(snap.Endpoints["web"]) != n+1 {
		t.Errorf("the %d writes after it came in snapshot %d with %d endpoints; want the next one, with all %d",
			n, idx-lone, len(snap.Endpoints["web"]), n+1)
	}
	if took := time.Since(start); took < window/2 {
		t.Errorf("the writes inside the window were rebuilt after %s; want them held for the window (%s)", took, window)
	}
}

func TestWatcherFollowsDeletesAndIgnoresOtherKeys(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put(t, cli, "endpoints/web/a", `{"address":"127.0.0.1","port":8080}`)
	put(t, cli, "endpoints/web/b", `{"address":"127.0.0.1","port":8081}`)
	_, snaps := startWatcher(t, cli, time.Millisecond)
	_, first := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })

	put(t, cli, "proxies/r1/envoy-1", `{"group":"edge"}`)
	if _, err := cli.Delete(context.Background(), prefix+"/endpoints/web/a"); err != nil {
		t.Fatal(err)
	}
	snap, idx := snaps.waitFor(t, first+1, func(s *model.Snapshot) bool { return len(s.Endpoints["web"]) == 1 })
	if snap.Endpoints["web"]["b"] == nil {
		t.Errorf("endpoint b missing after deleting a: %v", snap.Endpoints["web"])
	}
	if idx != first+1 {
		t.Errorf("a write outside the model caused %d extra rebuilds", idx-first-1)
	}
}

// Each snapshot names the objects written or deleted since the one before;
// the first after a load does not know them.
func TestWatcherNamesChangedObjects(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put(t, cli, "services/web", `{"protocol":"http"}`)
	_, snaps := startWatcher(t, cli, 20*time.Millisecond)
	first, i := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if first.Changed != nil {
		t.Errorf("first snapshot names changes %v; after a load they are unknown", first.Changed)
	}
	put(t, cli, "endpoints/web/a", `{"address":"127.0.0.1","port":8080}`)
	put(t, cli, "proxies/r1/envoy-1", `{"group":"edge"}`) // not a model object
	if _, err := cli.Delete(context.Background(), prefix+"/services/web"); err != nil {
		t.Fatal(err)
	}
	var changed []model.Ref
	var last *model.Snapshot
	for base := first.Revision; ; {
		snap, j := snaps.waitFor(t, i+1, func(*model.Snapshot) bool { return true })
		if snap.Base != base {
			t.Fatalf("snapshot at %d has base %d, want %d (the one before)", snap.Revision, snap.Base, base)
		}
		changed, last, base, i = append(changed, snap.Changed...), snap, snap.Revision, j
		if len(last.Services) == 0 {
			break
		}
	}
	want := []model.Ref{{Kind: model.KindEndpoint, Name: "web/a"}, {Kind: model.KindService, Name: "web"}}
	if fmt.Sprint(changed) != fmt.Sprint(want) {
		t.Errorf("changes named %v, want %v", changed, want)
	}
}
