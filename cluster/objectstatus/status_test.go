package objectstatus_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// statuses returns status/ as key below status/ -> state (with the reason).
func statuses(t *testing.T, cli *clientv3.Client) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, x := range clustertest.GetPrefix(t, cli, "status/") {
		var st storage.ObjectStatus
		if err := json.Unmarshal([]byte(x.Value), &st); err != nil {
			t.Fatalf("status/%s: %v", name, err)
		}
		out[name] = st.State
		if st.Reason != "" {
			out[name] += ": " + st.Reason
		}
	}
	return out
}

func waitStatuses(t *testing.T, cli *clientv3.Client, ok func(map[string]string) error) {
	t.Helper()
	clustertest.Eventually(t, 10*time.Second, func() error { return ok(statuses(t, cli)) })
}

// The leader records every object as accepted or rejected with the reason,
// rewrites a status only when it changes, drops the status of deleted
// objects, and a new leader rewrites nothing that still holds.
func TestObjectStatus(t *testing.T) {
	e, cli := etcdtest.Start(t)
	clustertest.Put(t, cli, "services/web", `{"protocol":"http"}`)
	clustertest.Put(t, cli, "services/bad", `{"protocol":"http","retries":3}`)
	clustertest.Put(t, cli, "endpoints/web/a", `{"address":"127.0.0.1","port":8080}`)
	a := clustertest.StartNode(t, e, "a", clustertest.NodeOptions{})

	waitStatuses(t, cli, func(st map[string]string) error {
		want := map[string]string{"services/web": "accepted", "endpoints/web/a": "accepted"}
		for k, v := range want {
			if st[k] != v {
				return fmt.Errorf("status %v, want %s=%s", st, k, v)
			}
		}
		if !strings.HasPrefix(st["services/bad"], "rejected: field retries: unknown field") {
			return fmt.Errorf("status of services/bad %q, want rejected naming the field", st["services/bad"])
		}
		return nil
	})
	web := clustertest.GetPrefix(t, cli, "status/")["services/web"]

	clustertest.Put(t, cli, "services/other", `{"protocol":"tcp"}`)
	clustertest.Del(t, cli, "services/bad")
	waitStatuses(t, cli, func(st map[string]string) error {
		if st["services/other"] != "accepted" || st["services/bad"] != "" {
			return fmt.Errorf("status %v, want services/other accepted and no services/bad", st)
		}
		return nil
	})
	if got := clustertest.GetPrefix(t, cli, "status/")["services/web"]; got.Mod != web.Mod {
		t.Errorf("status/services/web rewritten though it did not change: %+v -> %+v", web, got)
	}

	// Leadership moves: the new leader writes only what changed meanwhile.
	before := clustertest.GetPrefix(t, cli, "status/")
	b := clustertest.StartNode(t, e, "b", clustertest.NodeOptions{})
	a.Stop()
	clustertest.WaitOneLeader(t, 10*time.Second, b)
	clustertest.Put(t, cli, "routes/rt", `{"virtual_hosts":[]}`)
	waitStatuses(t, cli, func(st map[string]string) error {
		if !strings.HasPrefix(st["routes/rt"], "rejected") {
			return fmt.Errorf("status of routes/rt %q, want rejected", st["routes/rt"])
		}
		return nil
	})
	for name, x := range before {
		if got := clustertest.GetPrefix(t, cli, "status/")[name]; got == nil || got.Mod != x.Mod {
			t.Errorf("status/%s rewritten by the new leader: %+v -> %+v", name, x, got)
		}
	}
}

// A live object that turns invalid is recorded rejected with the version
// every replica serves in its place, so that version outlives etcd's
// compaction of the key's history; a fix clears it.
func TestStatusRecordsTheServedVersion(t *testing.T) {
	e, cli := etcdtest.Start(t)
	accepted := clustertest.Put(t, cli, "services/web", `{"protocol":"http","lb_policy":"random"}`)
	clustertest.StartNode(t, e, "a", clustertest.NodeOptions{})
	waitStatuses(t, cli, func(st map[string]string) error {
		if st["services/web"] != "accepted" {
			return fmt.Errorf("status %v, want services/web accepted", st)
		}
		return nil
	})
	bad := clustertest.Put(t, cli, "services/web", `{"protocol":"http","lb_policy":"rand`)
	record := func() (storage.ObjectStatus, error) {
		var st storage.ObjectStatus
		x := clustertest.GetPrefix(t, cli, "status/")["services/web"]
		if x == nil {
			return st, fmt.Errorf("no status/services/web")
		}
		return st, json.Unmarshal([]byte(x.Value), &st)
	}
	clustertest.Eventually(t, 10*time.Second, func() error {
		st, err := record()
		switch {
		case err != nil:
			return err
		case st.State != storage.StatusRejected || st.Serving == nil:
			return fmt.Errorf("status %+v, want rejected with the version served", st)
		case st.Serving.Revision != accepted || st.Serving.For != bad || string(st.Serving.Value) != `{"protocol":"http","lb_policy":"random"}`:
			return fmt.Errorf("serving %+v (%s), want revision %d for %d", st.Serving, st.Serving.Value, accepted, bad)
		}
		return nil
	})
	clustertest.Put(t, cli, "services/web", `{"protocol":"http"}`)
	clustertest.Eventually(t, 10*time.Second, func() error {
		st, err := record()
		if err != nil || st.State != storage.StatusAccepted || st.Serving != nil {
			return fmt.Errorf("status %+v (%v), want accepted with nothing else served", st, err)
		}
		return nil
	})
}
