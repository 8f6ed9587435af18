package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// leaders returns the nodes that lead now.
func leaders(nodes ...*node) []*node {
	var out []*node
	for _, n := range nodes {
		if n.replica.IsLeader() {
			out = append(out, n)
		}
	}
	return out
}

// waitOneLeader waits until exactly one of nodes leads, failing the test if
// two ever lead at once, and returns it.
func waitOneLeader(t *testing.T, timeout time.Duration, nodes ...*node) *node {
	t.Helper()
	var leader *node
	eventually(t, timeout, func() error {
		l := leaders(nodes...)
		if len(l) > 1 {
			t.Fatalf("%d replicas lead at once", len(l))
		}
		if len(l) == 0 {
			return errors.New("no leader")
		}
		leader = l[0]
		return nil
	})
	return leader
}

// Three replicas: exactly one leads. When it dies without a word, another
// leads within the session TTL, and no verdict changes across the failover.
func TestFailoverWithinTTLFlapsNothing(t *testing.T) {
	const ttl = 2 * time.Second
	e, cli := etcdtest.Start(t)
	for i := range 4 {
		h := startHTTPTarget(t)
		if i == 3 {
			h.status.Store(http.StatusServiceUnavailable)
		}
		put(t, cli, fmt.Sprintf("endpoints/web/e%d", i), endpointJSON(t, h.addr()))
	}
	put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": fastCheck("http")})
	nodes := []*node{
		startNode(t, e, "a", nodeOptions{ttl: ttl}),
		startNode(t, e, "b", nodeOptions{ttl: ttl}),
		startNode(t, e, "c", nodeOptions{ttl: ttl}),
	}
	leader := waitOneLeader(t, 10*time.Second, nodes...)
	// The first to campaign may lead before the others have opened their
	// sessions (a busy machine starts them late): all three must stand
	// before the leader dies, and still only one leads.
	eventually(t, 10*time.Second, func() error {
		if n := len(getPrefix(t, cli, "leader/")); n != 3 {
			return fmt.Errorf("%d candidates in the election, want 3", n)
		}
		return nil
	})
	if l := leaders(nodes...); len(l) != 1 || l[0] != leader {
		t.Fatalf("with three candidates, %d lead, want only %s", len(l), leader.replica.ID())
	}
	waitVerdicts(t, cli, map[string]string{"web/e0": model.Healthy, "web/e1": model.Healthy, "web/e2": model.Healthy, "web/e3": model.Unhealthy})
	before := getPrefix(t, cli, "health/")

	var rest []*node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	killed := time.Now()
	leader.crash()
	next := waitOneLeader(t, ttl+5*time.Second, rest...)
	took := time.Since(killed)
	t.Logf("replica %s led %v after replica %s was killed (session TTL %v)", next.replica.ID(), took.Round(time.Millisecond), leader.replica.ID(), ttl)
	// etcd expires leases on a 500ms sweep: allow that beyond the TTL.
	if took > ttl+time.Second {
		t.Errorf("failover took %v, want within the TTL %v (+ etcd's 500ms expiry sweep)", took, ttl)
	}

	// The new leader has checked every endpoint several times over.
	eventually(t, 10*time.Second, func() error {
		if got := metric(t, next.reg, "chancery_health_checks_total", nil); got < 4*6 {
			return fmt.Errorf("new leader ran %v checks, want 24", got)
		}
		return nil
	})
	after := getPrefix(t, cli, "health/")
	for name, b := range before {
		if a := after[name]; a == nil || a.mod != b.mod || a.value != b.value {
			t.Errorf("health/%s changed across the failover: %+v -> %+v", name, b, a)
		}
	}
	if len(after) != len(before) {
		t.Errorf("verdicts across the failover: %d before, %d after", len(before), len(after))
	}
	if got := metric(t, next.reg, "chancery_health_transitions_total", nil); got != 0 {
		t.Errorf("new leader made %v transitions, want 0", got)
	}
}

// A leader whose session is revoked under it cannot write: etcd refuses the
// fenced transaction and nothing changes, even before the replica notices,
// and even once it leads again under a new session.
func TestDeposedLeaderWriteIsRefused(t *testing.T) {
	e, cli := etcdtest.Start(t)
	a := startNode(t, e, "a", nodeOptions{ttl: 5 * time.Second})
	waitOneLeader(t, 10*time.Second, a)
	key, rev, lease := electionKey(t, cli)
	fence := cluster.NewFence(cli, key, rev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	healthKey := prefix + "/health/web/x"
	if _, err := fence.Commit(ctx, []clientv3.Op{clientv3.OpPut(healthKey, `{"status":"healthy","since":"2026-01-01T00:00:00Z"}`)}); err != nil {
		t.Fatalf("fenced write while leading: %v", err)
	}
	before := getPrefix(t, cli, "health/")["web/x"]

	if _, err := cli.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	_, err := fence.Commit(ctx, []clientv3.Op{
		clientv3.OpPut(healthKey, `{"status":"unhealthy","since":"2026-01-01T00:00:01Z"}`),
		clientv3.OpPut(prefix+"/health/web/y", `{"status":"unhealthy","since":"2026-01-01T00:00:01Z"}`),
	})
	if !errors.Is(err, cluster.ErrDeposed) {
		t.Fatalf("fenced write after the session was revoked: %v, want ErrDeposed", err)
	}
	after := getPrefix(t, cli, "health/")
	if got := after["web/x"]; got == nil || got.mod != before.mod || len(after) != 1 {
		t.Errorf("the refused write changed health/: before %+v, after %v", before, after)
	}

	// The replica notices, opens a new session and leads again; the old
	// fence stays refused, the new one works.
	eventually(t, 10*time.Second, func() error {
		k, _, _ := electionKey(t, cli)
		if k == key || !a.replica.IsLeader() {
			return errors.New("not leading under a new session yet")
		}
		return nil
	})
	if _, err := fence.Commit(ctx, []clientv3.Op{clientv3.OpDelete(healthKey)}); !errors.Is(err, cluster.ErrDeposed) {
		t.Errorf("old fence after re-election: %v, want ErrDeposed", err)
	}
	newKey, newRev, _ := electionKey(t, cli)
	if _, err := cluster.NewFence(cli, newKey, newRev).Commit(ctx, []clientv3.Op{clientv3.OpDelete(healthKey)}); err != nil {
		t.Errorf("new fence: %v", err)
	}
}

// electionKey returns the leader's election key, its create revision and lease.
func electionKey(t *testing.T, cli *clientv3.Client) (string, int64, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, ks.ElectionPrefix()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, 0
	}
	kv := resp.Kvs[0]
	return string(kv.Key), kv.CreateRevision, kv.Lease
}
