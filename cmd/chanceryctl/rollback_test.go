package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

const (
	webService = "kind: Service\nname: web\nspec: {protocol: http}\n"
	apiService = "kind: Service\nname: api\nspec: {protocol: http}\n"
	routeToWeb = "kind: RouteTable\nname: web\nspec:\n  virtual_hosts:\n  - name: all\n    domains: ['*']\n    routes:\n    - match: {prefix: /}\n      service: web\n"
	routeToAPI = "kind: RouteTable\nname: web\nspec:\n  virtual_hosts:\n  - name: all\n    domains: ['*']\n    routes:\n    - match: {prefix: /}\n      service: api\n"
	listener   = "kind: Listener\nname: edge\nspec: {port: 8080, protocol: http, route_table: web, groups: [edge]}\n"
)

func value(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cli.Get(context.Background(), testPrefix+key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return "<absent>"
	}
	return string(resp.Kvs[0].Value)
}

// operatorValues is every operator object's value, by key.
func operatorValues(t *testing.T, cli *clientv3.Client, rev int64) map[string]string {
	t.Helper()
	c, err := storage.ReadContentsAt(context.Background(), cli, storage.NewKeyspace(""), rev, operatorKinds...)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for ref, st := range c.Objects {
		if st.Lease == 0 {
			out[ref.String()] = string(st.Value)
		}
	}
	return out
}

// A route table rolled back: --dry-run prints the diff from now to the
// revision and writes nothing; the rollback writes the old value in one
// transaction, records itself, and a second one finds nothing to do.
func TestRollbackRouteTable(t *testing.T) {
	env, cli := startEtcd(t)
	mustRun(t, env, webService+"---\n"+apiService+"---\n"+routeToWeb+"---\n"+listener, "apply", "-f", "-")
	good := revision(t, cli)
	goodValue := value(t, cli, "routes/web")
	mustRun(t, env, routeToAPI, "apply", "-f", "-")
	before := revision(t, cli)

	dry := mustRun(t, env, "", "rollback", "routetable", "web", "--to-revision", fmt.Sprint(good), "--dry-run")
	t.Logf("rollback --dry-run:\n%s", dry.stdout)
	wantDiff := fmt.Sprintf("--- routes/web (etcd, revision %d)\n+++ routes/web (as at revision %d)\n", before, good)
	if !strings.Contains(dry.stdout, wantDiff) || !strings.Contains(dry.stdout, "-    service: api\n+    service: web\n") ||
		!strings.HasSuffix(dry.stdout, fmt.Sprintf("routes/web configured (dry run)\ndry run: back to revision %d: 1 configured; nothing written (etcd at revision %d)\n", good, before)) {
		t.Errorf("dry run output")
	}
	if revision(t, cli) != before {
		t.Fatal("--dry-run wrote")
	}
	r := mustRun(t, append2(env, "CHANCERY_CAUSE", "INC-9"), "", "rollback", "routetable", "web", "--to-revision", fmt.Sprint(good))
	t.Logf("rollback:\n%s", r.stdout)
	if r.stdout != fmt.Sprintf("routes/web configured\nback to revision %d: 1 configured; etcd at revision %d\n", good, before+1) {
		t.Errorf("rollback printed %q", r.stdout)
	}
	if got := value(t, cli, "routes/web"); got != goodValue {
		t.Errorf("routes/web is %s, want %s", got, goodValue)
	}
	rep := historyJSON(t, env, "routetable", "web")
	vs := rep.Objects[0].Versions
	if last := vs[len(vs)-1]; len(vs) != 3 || last.Cause == nil || last.Cause.Tool != "chanceryctl rollback" || last.Cause.Cause != "INC-9" {
		t.Errorf("history after rollback: %+v", rep)
	}
	again := mustRun(t, env, "", "rollback", "routetable", "web", "--to-revision", fmt.Sprint(good))
	if !strings.HasSuffix(again.stdout, fmt.Sprintf("back to revision %d: 1 unchanged; nothing written (etcd at revision %d)\n", good, before+1)) {
		t.Errorf("second rollback: %q", again.stdout)
	}
}

func append2(env map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for ek, ev := range env {
		out[ek] = ev
	}
	return out
}

// rollback --all after a burst of writes to services, endpoints and route
// tables (objects created, changed and deleted) brings every operator
// object back to the revision, in one transaction; an endpoint under a
// lease is left alone, and the replicas' keys are not touched.
func TestRollbackAll(t *testing.T) {
	env, cli := startEtcd(t)
	mustRun(t, env, webService+"---\n"+routeToWeb+"---\n"+listener+
		"---\nkind: Endpoint\nname: web/a\nspec: {address: 10.0.0.1, port: 8080}\n"+
		"---\nkind: Endpoint\nname: web/gone\nspec: {address: 10.0.0.2, port: 8080}\n", "apply", "-f", "-")
	good := revision(t, cli)
	want := operatorValues(t, cli, good)

	// The burst: etcdctl-style writes and an apply, to three kinds.
	putKey(t, cli, "services/web", `{"protocol":"http2"}`)
	putKey(t, cli, "endpoints/web/a", `{"address":"10.0.0.1","port":9090}`)
	deleteKey(t, cli, "endpoints/web/gone")
	mustRun(t, env, apiService+"---\n"+routeToAPI+"---\nkind: Endpoint\nname: api/a\nspec: {address: 10.0.0.3, port: 80}\n", "apply", "-f", "-")
	putKey(t, cli, "status/services/web", `{"state":"accepted","revision":1}`)
	lease, err := cli.Grant(context.Background(), 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(context.Background(), testPrefix+"endpoints/web/leased", `{"address":"10.0.0.9","port":80}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	before := revision(t, cli)

	dry := mustRun(t, env, "", "rollback", "--all", "--to-revision", fmt.Sprint(good), "--dry-run")
	t.Logf("rollback --all --dry-run:\n%s%s", dry.stdout, dry.stderr)
	if revision(t, cli) != before {
		t.Fatal("--dry-run wrote")
	}
	r := mustRun(t, env, "", "rollback", "--all", "--to-revision", fmt.Sprint(good))
	t.Logf("rollback --all:\n%s%s", r.stdout, r.stderr)
	for _, line := range []string{
		"services/web configured\n", "endpoints/web/a configured\n", "endpoints/web/gone created\n",
		"routes/web configured\n", "services/api deleted\n", "endpoints/api/a deleted\n",
		fmt.Sprintf("back to revision %d: 1 created, 3 configured, 1 unchanged, 2 deleted; etcd at revision %d\n", good, before+1),
	} {
		if !strings.Contains(r.stdout, line) {
			t.Errorf("rollback --all lacks %q", line)
		}
	}
	if !strings.Contains(r.stderr, "note: endpoints/web/leased is registered under a lease; left to its 'endpoint register'") {
		t.Errorf("no note of the leased endpoint: %q", r.stderr)
	}
	got := operatorValues(t, cli, 0+revision(t, cli))
	if len(got) != len(want) {
		t.Errorf("%d objects after rollback, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	if value(t, cli, "endpoints/web/leased") == "<absent>" || value(t, cli, "status/services/web") == "<absent>" {
		t.Error("rollback --all touched a leased endpoint or a status key")
	}
}

// A rollback that etcd's write would change under it fails with nothing
// written: a write to the object it rolls back, and a write to a route
// table or listener it does not touch (the translation it was checked
// against changed).
func TestRollbackRacingWrite(t *testing.T) {
	env, cli := startEtcd(t)
	mustRun(t, env, webService+"---\n"+apiService+"---\n"+routeToWeb+"---\n"+listener, "apply", "-f", "-")
	good := revision(t, cli)
	mustRun(t, env, routeToAPI, "apply", "-f", "-")
	for name, race := range map[string]struct {
		key, value, want string
	}{
		"the same object": {"routes/web", `{"virtual_hosts":[{"name":"x","domains":["*"],"routes":[{"match":{"prefix":"/"},"direct_response":{"status":503}}]}]}`,
			"routes/web changed in etcd since it was read; nothing of this write was stored"},
		"another listener": {"listeners/other", `{"port":9090,"protocol":"http","route_table":"web","groups":["edge"]}`,
			"listeners/other changed in etcd since it was read; nothing of this write was stored"},
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			a := &app{stdout: &out, stderr: &out, env: func(string) (string, bool) { return "", false }, command: "chanceryctl rollback",
				etcdEndpoints: []string{env["CHANCERY_ETCD_ENDPOINTS"]}, etcdTimeout: 5 * time.Second, prefix: storage.DefaultPrefix}
			e, err := a.dial()
			if err != nil {
				t.Fatal(err)
			}
			defer e.close()
			w, err := e.newWriter(storage.DefaultMaxTxnOps)
			if err != nil {
				t.Fatal(err)
			}
			ref := model.Ref{Kind: model.KindRouteTable, Name: "web"}
			p, err := e.planRollback(context.Background(), &ref, good)
			if err != nil || !p.report.OK() {
				t.Fatalf("plan: %v %+v", err, p)
			}
			raced := putKey(t, cli, race.key, race.value)
			routeBefore := value(t, cli, "routes/web")
			err = a.commitRollback(context.Background(), e, w, p)
			t.Logf("racing %s: %v", race.key, err)
			var ce *storage.ConflictError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), race.want) {
				t.Errorf("commit after a racing write: %v, want a conflict saying %q", err, race.want)
			}
			if got := revision(t, cli); got != raced {
				t.Errorf("revision %d after the failed rollback, want %d (the racing write's)", got, raced)
			}
			if value(t, cli, "routes/web") != routeBefore || value(t, cli, race.key) != race.value {
				t.Error("the failed rollback changed something")
			}
		})
	}
}

// A rollback the replicas would reject (a route table back to a service
// deleted since) or too large for one transaction is refused, with
// nothing written.
func TestRollbackRefused(t *testing.T) {
	env, cli := startEtcd(t)
	mustRun(t, env, webService+"---\n"+apiService+"---\n"+routeToAPI+"---\n"+listener, "apply", "-f", "-")
	toAPI := revision(t, cli)
	mustRun(t, env, routeToWeb, "apply", "-f", "-")
	mustRun(t, env, "", "delete", "service", "api")
	before := revision(t, cli)
	r := ctl(t, env, "", "rollback", "routetable", "web", "--to-revision", fmt.Sprint(toAPI))
	t.Logf("refused rollback: %d\n%s", r.code, r.stderr)
	if r.code != exitFailure || !strings.Contains(r.stderr, `service "api" not found`) ||
		!strings.HasSuffix(r.stderr, "chanceryctl: rollback refused: 1 of 1 documents rejected; nothing written\n") {
		t.Errorf("rollback to a deleted service: %d\n%s", r.code, r.stderr)
	}
	for i := range 10 {
		putKey(t, cli, fmt.Sprintf("endpoints/web/e%d", i), fmt.Sprintf(`{"address":"10.0.1.%d","port":80}`, i))
	}
	r = ctl(t, env, "", "rollback", "--all", "--to-revision", fmt.Sprint(before), "--max-txn-ops", "8")
	oneLineError(t, r, exitFailure, "rollback refused: 10 objects to write need 3 transactions (--max-txn-ops 8) and a rollback is written in one or not at all; "+
		"raise etcd's --max-txn-ops and this one, or roll back object by object; nothing written")
	if got := revision(t, cli); got != before+10 {
		t.Errorf("revision %d, want %d: a refused rollback wrote", got, before+10)
	}
	r = ctl(t, env, "", "rollback", "health", "web/a", "--to-revision", "1")
	oneLineError(t, r, exitUsage, "Health objects are written by the replicas, not rolled back (see 'chanceryctl rollback --help')")
}
