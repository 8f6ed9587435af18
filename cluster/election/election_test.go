package election_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// Three replicas: exactly one leads. When it dies without a word, another
// leads within the session TTL, and no verdict changes across the failover.
func TestFailoverWithinTTLFlapsNothing(t *testing.T) {
	const ttl = 2 * time.Second
	e, cli := etcdtest.Start(t)
	for i := range 4 {
		h := clustertest.StartHTTPTarget(t)
		if i == 3 {
			h.Status.Store(http.StatusServiceUnavailable)
		}
		clustertest.Put(t, cli, fmt.Sprintf("endpoints/web/e%d", i), clustertest.EndpointJSON(t, h.Addr()))
	}
	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": clustertest.FastCheck("http")})
	nodes := []*clustertest.Node{
		clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: ttl}),
		clustertest.StartNode(t, e, "b", clustertest.NodeOptions{TTL: ttl}),
		clustertest.StartNode(t, e, "c", clustertest.NodeOptions{TTL: ttl}),
	}
	leader := clustertest.WaitOneLeader(t, 10*time.Second, nodes...)
	// The first to campaign may lead before the others have opened their
	// sessions (a busy machine starts them late): all three must stand
	// before the leader dies, and still only one leads.
	clustertest.Eventually(t, 10*time.Second, func() error {
		if n := len(clustertest.GetPrefix(t, cli, "leader/")); n != 3 {
			return fmt.Errorf("%d candidates in the election, want 3", n)
		}
		return nil
	})
	if l := clustertest.Leaders(nodes...); len(l) != 1 || l[0] != leader {
		t.Fatalf("with three candidates, %d lead, want only %s", len(l), leader.Replica.ID())
	}
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/e0": model.Healthy, "web/e1": model.Healthy, "web/e2": model.Healthy, "web/e3": model.Unhealthy})
	before := clustertest.GetPrefix(t, cli, "health/")

	var rest []*clustertest.Node
	for _, n := range nodes {
		if n != leader {
			rest = append(rest, n)
		}
	}
	killed := time.Now()
	leader.Crash()
	next := clustertest.WaitOneLeader(t, ttl+5*time.Second, rest...)
	took := time.Since(killed)
	t.Logf("replica %s led %v after replica %s was killed (session TTL %v)", next.Replica.ID(), took.Round(time.Millisecond), leader.Replica.ID(), ttl)
	// etcd expires leases on a 500ms sweep: allow that beyond the TTL.
	if took > ttl+time.Second {
		t.Errorf("failover took %v, want within the TTL %v (+ etcd's 500ms expiry sweep)", took, ttl)
	}

	// The new leader has checked every endpoint several times over.
	clustertest.Eventually(t, 10*time.Second, func() error {
		if got := clustertest.Metric(t, next.Reg, "chancery_health_checks_total", nil); got < 4*6 {
			return fmt.Errorf("new leader ran %v checks, want 24", got)
		}
		return nil
	})
	after := clustertest.GetPrefix(t, cli, "health/")
	for name, b := range before {
		if a := after[name]; a == nil || a.Mod != b.Mod || a.Value != b.Value {
			t.Errorf("health/%s changed across the failover: %+v -> %+v", name, b, a)
		}
	}
	if len(after) != len(before) {
		t.Errorf("verdicts across the failover: %d before, %d after", len(before), len(after))
	}
	if got := clustertest.Metric(t, next.Reg, "chancery_health_transitions_total", nil); got != 0 {
		t.Errorf("new leader made %v transitions, want 0", got)
	}
}

// A leader whose session is revoked under it cannot write: etcd refuses the
// fenced transaction and nothing changes, even before the replica notices,
// and even once it leads again under a new session.
func TestDeposedLeaderWriteIsRefused(t *testing.T) {
	e, cli := etcdtest.Start(t)
	a := clustertest.StartNode(t, e, "a", clustertest.NodeOptions{TTL: 5 * time.Second})
	clustertest.WaitOneLeader(t, 10*time.Second, a)
	key, rev, lease := electionKey(t, cli)
	fence := election.NewFence(cli, key, rev)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	healthKey := clustertest.Prefix + "/health/web/x"
	if _, err := fence.Commit(ctx, []clientv3.Op{clientv3.OpPut(healthKey, `{"status":"healthy","since":"2026-01-01T00:00:00Z"}`)}); err != nil {
		t.Fatalf("fenced write while leading: %v", err)
	}
	before := clustertest.GetPrefix(t, cli, "health/")["web/x"]

	if _, err := cli.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		t.Fatal(err)
	}
	_, err := fence.Commit(ctx, []clientv3.Op{
		clientv3.OpPut(healthKey, `{"status":"unhealthy","since":"2026-01-01T00:00:01Z"}`),
		clientv3.OpPut(clustertest.Prefix+"/health/web/y", `{"status":"unhealthy","since":"2026-01-01T00:00:01Z"}`),
	})
	if !errors.Is(err, election.ErrDeposed) {
		t.Fatalf("fenced write after the session was revoked: %v, want ErrDeposed", err)
	}
	after := clustertest.GetPrefix(t, cli, "health/")
	if got := after["web/x"]; got == nil || got.Mod != before.Mod || len(after) != 1 {
		t.Errorf("the refused write changed health/: before %+v, after %v", before, after)
	}

	// The replica notices, opens a new session and leads again; the old
	// fence stays refused, the new one works.
	clustertest.Eventually(t, 10*time.Second, func() error {
		k, _, _ := electionKey(t, cli)
		if k == key || !a.Replica.IsLeader() {
			return errors.New("not leading under a new session yet")
		}
		return nil
	})
	if _, err := fence.Commit(ctx, []clientv3.Op{clientv3.OpDelete(healthKey)}); !errors.Is(err, election.ErrDeposed) {
		t.Errorf("old fence after re-election: %v, want ErrDeposed", err)
	}
	newKey, newRev, _ := electionKey(t, cli)
	if _, err := election.NewFence(cli, newKey, newRev).Commit(ctx, []clientv3.Op{clientv3.OpDelete(healthKey)}); err != nil {
		t.Errorf("new fence: %v", err)
	}
}

// electionKey returns the leader's election key, its create revision and lease.
func electionKey(t *testing.T, cli *clientv3.Client) (string, int64, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, clustertest.KS.ElectionPrefix()+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, 0
	}
	kv := resp.Kvs[0]
	return string(kv.Key), kv.CreateRevision, kv.Lease
}
