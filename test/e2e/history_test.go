package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// historyVersions is what `history -o json` prints, the parts read here.
type historyVersions struct {
	From    int64 `json:"from_revision"`
	Objects []struct {
		Object   string `json:"object"`
		Versions []struct {
			Revision int64  `json:"revision"`
			Action   string `json:"action"`
			Cause    *struct {
				Tool  string `json:"tool"`
				Cause string `json:"cause"`
			} `json:"cause"`
		} `json:"versions"`
	} `json:"objects"`
}

func (c *cli) history(args ...string) historyVersions {
	c.t.Helper()
	out := c.must(append(append([]string{"history"}, args...), "-o", "json")...)
	var h historyVersions
	if err := json.Unmarshal([]byte(out), &h); err != nil {
		c.t.Fatalf("history -o json: %v\n%s", err, out)
	}
	return h
}

// A key written five times with etcdctl (created, modified, deleted,
// created again, modified): the real chanceryctl lists the five writes
// with etcd's revisions, "not recorded" as their author, and diffs; once
// etcdctl compacts, an older revision is an error naming the oldest held.
func TestHistoryOfEtcdctlWrites(t *testing.T) {
	c := newCLI(t, 0)
	ep := c.etcd.Endpoint()
	var revs []int64
	for _, op := range [][]string{
		{"put", prefix + "/services/web", `{"protocol":"http"}`},
		{"put", prefix + "/services/web", `{"protocol":"http2"}`},
		{"del", prefix + "/services/web"},
		{"put", prefix + "/services/web", `{"protocol":"grpc"}`},
		{"put", prefix + "/services/web", `{"protocol":"http","connect_timeout":"2s"}`},
	} {
		harness.MustEtcdctl(t, ep, op...)
		revs = append(revs, c.revision())
	}
	out := c.must("history", "service", "web")
	t.Logf("chanceryctl history service web:\n%s", out)
	for i, action := range []string{"create", "modify", "delete", "create", "modify"} {
		if want := fmt.Sprintf("revision %d  %s  by: not recorded (etcdctl or another tool)\n", revs[i], action); !strings.Contains(out, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	if !strings.Contains(out, "-protocol: http\n+protocol: http2\n") || !strings.Contains(out, "+++ /dev/null\n@@ -1,1 +0,0 @@\n-protocol: http2\n") ||
		!strings.Contains(out, "-protocol: grpc\n+connect_timeout: 2s\n+protocol: http\n") {
		t.Error("history lacks a diff")
	}
	h := c.history("service", "web")
	if len(h.Objects) != 1 || len(h.Objects[0].Versions) != 5 {
		t.Fatalf("history -o json: %+v", h)
	}
	for i, v := range h.Objects[0].Versions {
		if v.Revision != revs[i] || v.Cause != nil {
			t.Errorf("version %d: %+v, want revision %d and no cause", i, v, revs[i])
		}
	}

	harness.MustEtcdctl(t, ep, "compact", fmt.Sprint(revs[3]))
	stdout, stderr, code := c.run("history", "--since", fmt.Sprint(revs[1]))
	t.Logf("after etcdctl compact %d: chanceryctl history --since %d: status %d, %s", revs[3], revs[1], code, stderr)
	want := fmt.Sprintf("chanceryctl: revision %d is compacted; the oldest revision etcd still holds is %d\n", revs[1], revs[3])
	if code != 1 || stdout != "" || stderr != want {
		t.Errorf("history --since a compacted revision: status %d, %q %q; want %q", code, stdout, stderr, want)
	}
	if h := c.history("service", "web"); h.From != revs[3] || len(h.Objects[0].Versions) != 2 {
		t.Errorf("history after compaction: %+v", h)
	}
}

// A bad route table written with etcdctl is rolled back with one command,
// and the real Envoy serves the route from before again; then a burst of
// writes to services, endpoints and route tables is undone with
// rollback --all, and Envoy serves the same route throughout the end state.
func TestRollbackRestoresEnvoyRoute(t *testing.T) {
	c := newCLI(t, 1)
	ep := c.etcd.Endpoint()
	v1, v2 := harness.StartUpstream(t, "v1"), harness.StartUpstream(t, "v2")
	port := harness.FreePort(t)
	endpoint := func(u *harness.Upstream) string {
		host, p := u.Addr()
		return fmt.Sprintf("{address: %s, port: %d}", host, p)
	}
	c.applyStdin(fmt.Sprintf(`kind: Service
name: v1
spec: {protocol: http}
---
kind: Service
name: v2
spec: {protocol: http}
---
kind: Endpoint
name: v1/a
spec: %s
---
kind: Endpoint
name: v2/a
spec: %s
---
kind: RouteTable
name: web
spec:
  virtual_hosts:
    - name: all
      domains: ["*"]
      routes:
        - match: {prefix: /}
          service: v1
---
kind: Listener
name: web
spec: {address: 127.0.0.1, port: %d, protocol: http, route_table: web, groups: [edge]}
`, endpoint(v1), endpoint(v2), port))
	good := c.revision()
	c.envoy("envoy-1", "edge")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	serves := func(body string) time.Duration {
		t.Helper()
		start := time.Now()
		harness.Eventually(t, 20*time.Second, 5*time.Millisecond, func() error {
			st, b, err := harness.HTTPGet(url, "")
			if err != nil || st != 200 || b != body {
				return fmt.Errorf("GET %s: %d %q %v, want 200 %q", url, st, b, err, body)
			}
			return nil
		})
		return time.Since(start)
	}
	serves("v1")

	// 3 a.m.: someone sends everything to v2 with etcdctl.
	harness.MustEtcdctl(t, ep, "put", prefix+"/routes/web",
		`{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"v2"}]}]}`)
	serves("v2")
	t.Logf("chanceryctl history routetable web:\n%s", c.must("history", "routetable", "web"))
	dry := c.must("rollback", "routetable", "web", "--to-revision", fmt.Sprint(good), "--dry-run")
	t.Logf("chanceryctl rollback routetable web --to-revision %d --dry-run:\n%s", good, dry)
	if !strings.Contains(dry, "-    service: v2\n+    service: v1\n") || !strings.Contains(dry, "dry run: back to revision") {
		t.Errorf("dry run:\n%s", dry)
	}
	if st, b, _ := harness.HTTPGet(url, ""); st != 200 || b != "v2" {
		t.Errorf("after --dry-run Envoy answers %d %q, want v2 still", st, b)
	}
	out := c.must("--cause", "INC-3: route to v2 at 3 a.m.", "rollback", "routetable", "web", "--to-revision", fmt.Sprint(good))
	t.Logf("chanceryctl rollback routetable web --to-revision %d:\n%s", good, out)
	took := serves("v1")
	t.Logf("Envoy served v1 again %s after the rollback returned", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("Envoy took %s to serve the rolled-back route, want under 10s", took)
	}
	h := c.history("routetable", "web")
	vs := h.Objects[0].Versions
	if last := vs[len(vs)-1]; len(vs) != 3 || vs[0].Cause == nil || vs[1].Cause != nil || last.Cause == nil ||
		last.Cause.Tool != "chanceryctl rollback" || last.Cause.Cause != "INC-3: route to v2 at 3 a.m." {
		t.Errorf("history after the rollback: %+v", h)
	}
	if _, _, code := c.run("diff", "--revision", fmt.Sprint(good)); code != 0 {
		t.Errorf("diff --revision %d after the rollback exits %d, want 0 (nothing differs)", good, code)
	}

	// A burst to three kinds: a new service and endpoint, v1's endpoint
	// moved to v2's upstream, the route table to the new service.
	before := c.revision()
	for _, kv := range [][2]string{
		{"services/v3", `{"protocol":"http"}`},
		{"endpoints/v3/a", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, portOf(v2))},
		{"endpoints/v1/a", fmt.Sprintf(`{"address":"127.0.0.1","port":%d}`, portOf(v2))},
		{"routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"v3"}]}]}`},
		{"services/v1", `{"protocol":"http","connect_timeout":"3s"}`},
	} {
		harness.MustEtcdctl(t, ep, "put", prefix+"/"+kv[0], kv[1])
	}
	serves("v2")
	since := c.must("history", "--since", fmt.Sprint(before))
	t.Logf("chanceryctl history --since %d:\n%s", before, since)
	for _, obj := range []string{"endpoints/v1/a: 1 write", "endpoints/v3/a: 1 write", "routes/web: 1 write", "services/v1: 1 write", "services/v3: 1 write"} {
		if !strings.Contains(since, obj) {
			t.Errorf("history --since lacks %q", obj)
		}
	}
	all := c.must("rollback", "--all", "--to-revision", fmt.Sprint(before))
	t.Logf("chanceryctl rollback --all --to-revision %d:\n%s", before, all)
	if !strings.Contains(all, "services/v3 deleted\n") || !strings.Contains(all, "endpoints/v3/a deleted\n") ||
		!strings.Contains(all, "3 configured, 3 unchanged, 2 deleted; etcd at revision") {
		t.Errorf("rollback --all:\n%s", all)
	}
	serves("v1")
	if _, _, code := c.run("diff", "--revision", fmt.Sprint(before)); code != 0 {
		t.Errorf("diff --revision %d after rollback --all exits %d, want 0", before, code)
	}
	if v1.Count() == 0 {
		t.Error("upstream v1 counted no request")
	}
}

func portOf(u *harness.Upstream) int {
	_, p := u.Addr()
	return p
}
