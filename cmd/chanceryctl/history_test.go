package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
)

const testPrefix = "/chancery/v1/"

func putKey(t *testing.T, cli *clientv3.Client, key, value string) int64 {
	t.Helper()
	resp, err := cli.Put(context.Background(), testPrefix+key, value)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func deleteKey(t *testing.T, cli *clientv3.Client, key string) int64 {
	t.Helper()
	resp, err := cli.Delete(context.Background(), testPrefix+key)
	if err != nil || resp.Deleted != 1 {
		t.Fatalf("delete %s: %v (%d deleted)", key, err, resp.Deleted)
	}
	return resp.Header.Revision
}

// historyJSON runs history with -o json and decodes it.
func historyJSON(t *testing.T, env map[string]string, args ...string) historyReport {
	t.Helper()
	r := mustRun(t, env, "", append(append([]string{"history"}, args...), "-o", "json")...)
	var rep historyReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("history -o json: %v\n%s", err, r.stdout)
	}
	return rep
}

// A key written five times as etcdctl does (created, modified, deleted,
// created again, modified), then once by apply with a cause: history
// lists the six writes with their revisions and actions, a diff from the
// version before each, "not recorded" for the plain writes and the
// user, command and cause for apply's.
func TestHistoryOfOneKey(t *testing.T) {
	env, cli := startEtcd(t)
	revs := []int64{
		putKey(t, cli, "services/web", `{"protocol":"http"}`),
		putKey(t, cli, "services/web", `{"protocol":"http2"}`),
		deleteKey(t, cli, "services/web"),
		putKey(t, cli, "services/web", `{"protocol":"grpc"}`),
		putKey(t, cli, "services/web", `{"protocol":"tcp"}`),
	}
	putKey(t, cli, "services/other", `{"protocol":"http"}`) // not in web's history
	env["CHANCERY_CAUSE"] = "INC-7: back to http"
	mustRun(t, env, "kind: Service\nname: web\nspec: {protocol: http}\n", "apply", "-f", "-")
	revs = append(revs, revision(t, cli))

	r := mustRun(t, env, "", "history", "service", "web")
	t.Logf("history service web:\n%s", r.stdout)
	for _, want := range []string{
		fmt.Sprintf("services/web: 6 writes from revision 1 to %d\n", revs[5]),
		fmt.Sprintf("revision %d  create  by: not recorded (etcdctl or another tool)\n--- /dev/null\n+++ services/web (revision %d)\n@@ -0,0 +1,1 @@\n+protocol: http\n", revs[0], revs[0]),
		fmt.Sprintf("revision %d  modify  by: not recorded (etcdctl or another tool)\n--- services/web (revision %d)\n+++ services/web (revision %d)\n@@ -1,1 +1,1 @@\n-protocol: http\n+protocol: http2\n", revs[1], revs[0], revs[1]),
		fmt.Sprintf("revision %d  delete  by: not recorded (etcdctl or another tool)\n--- services/web (revision %d)\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-protocol: http2\n", revs[2], revs[1]),
		fmt.Sprintf("revision %d  create  by: not recorded (etcdctl or another tool)\n--- /dev/null\n+++ services/web (revision %d)\n", revs[3], revs[3]),
		"-protocol: tcp\n+protocol: http\n",
		" with chanceryctl apply dev at ",
		`: "INC-7: back to http"` + "\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("history lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "services/other") {
		t.Error("history of services/web shows services/other")
	}

	rep := historyJSON(t, env, "service", "web")
	if len(rep.Objects) != 1 || len(rep.Objects[0].Versions) != 6 {
		t.Fatalf("json: %+v", rep)
	}
	wantActions := []storage.EventType{storage.EventCreate, storage.EventModify, storage.EventDelete, storage.EventCreate, storage.EventModify, storage.EventModify}
	for i, v := range rep.Objects[0].Versions {
		if v.Revision != revs[i] || v.Action != wantActions[i] {
			t.Errorf("version %d: revision %d %s, want %d %s", i, v.Revision, v.Action, revs[i], wantActions[i])
		}
		if (v.Cause != nil) != (i == 5) {
			t.Errorf("version %d: cause %+v", i, v.Cause)
		}
	}
	if c := rep.Objects[0].Versions[5].Cause; c == nil || c.Tool != "chanceryctl apply" || c.Cause != "INC-7: back to http" || c.By == "" || c.Host == "" {
		t.Errorf("apply's cause: %+v", c)
	}
	y := mustRun(t, env, "", "history", "service", "web", "-o", "yaml")
	if !strings.Contains(y.stdout, "action: delete") || !strings.Contains(y.stdout, "cause: 'INC-7: back to http'") {
		t.Errorf("yaml:\n%s", y.stdout)
	}
	// The record lives beside the objects and is no object: get all
	// reports no ignored key.
	if g := mustRun(t, env, "", "get", "all"); strings.Contains(g.stdout, "IGNORED") {
		t.Errorf("get all reports the change record as ignored:\n%s", g.stdout)
	}
}

// history --since lists every object written after the revision, object
// by object, and nothing written before it.
func TestHistorySince(t *testing.T) {
	env, cli := startEtcd(t)
	putKey(t, cli, "services/old", `{"protocol":"http"}`)
	since := putKey(t, cli, "services/web", `{"protocol":"http"}`)
	putKey(t, cli, "services/web", `{"protocol":"http2"}`)
	putKey(t, cli, "endpoints/web/a", `{"address":"10.0.0.1","port":80}`)
	putKey(t, cli, "status/services/web", `{"state":"accepted","revision":1}`) // the leader's: not listed
	head := deleteKey(t, cli, "services/old")
	rep := historyJSON(t, env, "--since", fmt.Sprint(since))
	var got []string
	for _, o := range rep.Objects {
		got = append(got, fmt.Sprintf("%s:%d", o.Object, len(o.Versions)))
	}
	if strings.Join(got, " ") != "endpoints/web/a:1 services/old:1 services/web:1" || rep.Head != head || rep.From != since+1 {
		t.Errorf("history --since %d: %v, from %d to %d, want head %d", since, got, rep.From, rep.Head, head)
	}
	r := mustRun(t, env, "", "history", "--since", fmt.Sprint(since))
	t.Logf("history --since %d:\n%s", since, r.stdout)
	if !strings.Contains(r.stdout, "-protocol: http\n+protocol: http2\n") || !strings.Contains(r.stdout, "+++ /dev/null\n@@ -1,1 +0,0 @@\n-protocol: http\n") {
		t.Errorf("history --since: diffs missing")
	}
	if r := mustRun(t, env, "", "history", "--since", fmt.Sprint(head)); r.stdout != fmt.Sprintf("no object was written after revision %d (etcd at revision %d)\n", head, head) {
		t.Errorf("history --since head: %q", r.stdout)
	}
}

// A secret's history never shows its private key: <redacted>, and
// <redacted, changed> where a write replaced it.
func TestHistoryRedactsSecrets(t *testing.T) {
	env, cli := startEtcd(t)
	secret := func(name string) string {
		cert, err := os.ReadFile(examples + "/tls/" + name + ".pem")
		if err != nil {
			t.Fatal(err)
		}
		key, err := os.ReadFile(examples + "/tls/" + name + "-key.pem")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"tls_certificate": map[string]string{"certificate_chain": string(cert), "private_key": string(key)}})
		return string(b)
	}
	first := putKey(t, cli, "secrets/web", secret("www.example.com"))
	putKey(t, cli, "secrets/web", secret("api.example.com"))
	for _, out := range []string{"table", "json", "yaml"} {
		r := mustRun(t, env, "", "history", "secret", "web", "-o", out)
		if strings.Contains(r.stdout, "PRIVATE KEY") || !strings.Contains(r.stdout, "<redacted, changed>") {
			t.Errorf("-o %s: a key shown, or no <redacted, changed>:\n%s", out, r.stdout)
		}
	}
	r := ctl(t, env, "", "diff", "--revision", fmt.Sprint(first))
	if r.code != exitFailure || strings.Contains(r.stdout, "PRIVATE KEY") || !strings.Contains(r.stdout, "+  private_key: <redacted, changed>\n") {
		t.Errorf("diff --revision of a secret: status %d\n%s", r.code, r.stdout)
	}
}

// A revision etcd has compacted is one clear error, naming the oldest
// revision it still holds, from every command that reads history;
// history of an object shows what is still held.
func TestHistoryCompactedRevision(t *testing.T) {
	env, cli := startEtcd(t)
	old := putKey(t, cli, "services/web", `{"protocol":"http"}`)
	putKey(t, cli, "services/web", `{"protocol":"http2"}`)
	compactAt := putKey(t, cli, "services/web", `{"protocol":"grpc"}`)
	if _, err := cli.Compact(context.Background(), compactAt); err != nil {
		t.Fatal(err)
	}
	last := putKey(t, cli, "services/web", `{"protocol":"tcp"}`)
	want := fmt.Sprintf("revision %d is compacted; the oldest revision etcd still holds is %d", old, compactAt)
	for _, args := range [][]string{
		{"get", "services", "--revision", fmt.Sprint(old)},
		{"rollback", "service", "web", "--to-revision", fmt.Sprint(old)},
		{"rollback", "--all", "--to-revision", fmt.Sprint(old)},
		{"history", "--since", fmt.Sprint(old)},
	} {
		r := ctl(t, env, "", args...)
		t.Logf("chanceryctl %s: status %d: %s", strings.Join(args, " "), r.code, r.stderr)
		oneLineError(t, r, exitFailure, want)
	}
	r := ctl(t, env, "", "diff", "--revision", fmt.Sprint(old))
	oneLineError(t, r, exitUsage, want)
	r = ctl(t, env, "", "get", "services", "--revision", fmt.Sprint(last+10))
	oneLineError(t, r, exitFailure, fmt.Sprintf("revision %d is in the future; etcd is at revision %d", last+10, last))

	rep := historyJSON(t, env, "service", "web")
	if rep.From != compactAt || len(rep.Objects) != 1 || len(rep.Objects[0].Versions) != 2 {
		t.Fatalf("history after compaction: %+v", rep)
	}
	// The version at the compaction revision has no "before" left.
	h := mustRun(t, env, "", "history", "service", "web")
	if !strings.Contains(h.stdout, fmt.Sprintf("--- services/web (before revision %d: compacted)\n", compactAt)) {
		t.Errorf("history after compaction:\n%s", h.stdout)
	}
	if g := mustRun(t, env, "", "get", "services", "--revision", fmt.Sprint(compactAt)); !strings.Contains(g.stdout, "grpc") {
		t.Errorf("get --revision %d:\n%s", compactAt, g.stdout)
	}
}
