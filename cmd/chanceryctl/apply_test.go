package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

const examples = "../../examples"

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// startEtcd runs an embedded etcd and returns the environment that points
// chanceryctl at it, and a client.
func startEtcd(t *testing.T) (map[string]string, *clientv3.Client) {
	t.Helper()
	e, cli := etcdtest.Start(t)
	return map[string]string{"CHANCERY_ETCD_ENDPOINTS": e.Endpoint()}, cli
}

func revision(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	resp, err := cli.Get(context.Background(), "anything")
	if err != nil {
		t.Fatal(err)
	}
	return resp.Header.Revision
}

func mustRun(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	r := ctl(t, env, stdin, args...)
	if r.code != 0 {
		t.Fatalf("chanceryctl %s: status %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// specs maps each document's object to its canonical spec.
func specs(t *testing.T, set *manifest.Set) map[string]string {
	t.Helper()
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range set.Documents {
		out[d.Ref.String()] = string(d.Value)
	}
	return out
}

// apply of examples/ creates every object; get prints them back as
// documents equal to the files; a second apply (of the files, or of get's
// output) finds everything unchanged and writes nothing.
func TestApplyExamplesRoundTrip(t *testing.T) {
	env, cli := startEtcd(t)
	r := mustRun(t, env, "", "apply", "-f", examples)
	files := specs(t, manifest.Read([]string{examples}, false, nil))
	if n := strings.Count(r.stdout, " created\n"); n != len(files) {
		t.Fatalf("%d created, want %d:\n%s", n, len(files), r.stdout)
	}
	if r.stderr != "" {
		t.Errorf("apply of the examples printed to stderr: %s", r.stderr)
	}
	rev := revision(t, cli)

	for _, format := range []string{"yaml", "json"} {
		got := mustRun(t, env, "", "get", "all", "-o", format)
		back := specs(t, manifest.Read([]string{manifest.Stdin}, false, strings.NewReader(got.stdout)))
		if fmt.Sprint(back) != fmt.Sprint(withKeysRedacted(t, files)) { // get never shows a key
			t.Errorf("get -o %s differs from the files:\n got %v\nwant %v", format, back, files)
		}
		if n := strings.Count(got.stdout, "accepted: true") + strings.Count(got.stdout, `"accepted": true`); n != len(files) {
			t.Errorf("get -o %s: %d objects accepted, want %d", format, n, len(files))
		}
		again := mustRun(t, env, got.stdout, "apply", "-f", "-")
		if n := strings.Count(again.stdout, " unchanged\n"); n != len(files) {
			t.Errorf("apply of get -o %s: %d unchanged, want %d:\n%s", format, n, len(files), again.stdout)
		}
	}
	again := mustRun(t, env, "", "apply", "-f", examples)
	if !strings.Contains(again.stdout, fmt.Sprintf("%d unchanged; nothing written", len(files))) {
		t.Errorf("second apply:\n%s", again.stdout)
	}
	if now := revision(t, cli); now != rev {
		t.Errorf("a re-apply moved etcd from revision %d to %d", rev, now)
	}
	table := mustRun(t, env, "", "get", "listeners")
	if !strings.Contains(table.stdout, "edge-http") || strings.Contains(table.stdout, "Rejected") {
		t.Errorf("get listeners:\n%s", table.stdout)
	}
}

// tenDocuments has ten valid documents; bad replaces the seventh.
func tenDocuments(bad string) string {
	docs := []string{"kind: Service\nname: web\nspec: {protocol: http}\n"}
	for i := 1; i <= 5; i++ {
		docs = append(docs, fmt.Sprintf("kind: Endpoint\nname: web/e%d\nspec: {address: 10.0.0.%d, port: 8080}\n", i, i))
	}
	docs = append(docs,
		"kind: RouteTable\nname: main\nspec:\n  virtual_hosts:\n  - name: all\n    domains: ['*']\n    routes:\n    - match: {prefix: /}\n      service: web\n",
		"kind: Listener\nname: edge\nspec: {port: 8080, protocol: http, route_table: main, groups: [edge]}\n",
		"kind: Service\nname: api\nspec: {protocol: grpc}\n",
		"kind: Listener\nname: api\nspec: {port: 9090, protocol: tcp, service: api, groups: [edge]}\n")
	if bad != "" {
		docs[6] = bad
	}
	return strings.Join(docs, "---\n")
}

// One bad document of ten: nothing is written, the error names the file,
// the document and the field, and the status is 1.
func TestApplyRefusesOneBadDocumentOfTen(t *testing.T) {
	env, cli := startEtcd(t)
	file := filepath.Join(t.TempDir(), "ten.yaml")
	for name, tc := range map[string]struct{ doc, want string }{
		"invalid field": {
			"kind: RouteTable\nname: main\nspec:\n  virtual_hosts:\n  - name: all\n    domains: ['*']\n    routes:\n    - match: {prefix: /, regex: /x}\n      service: web\n",
			"ten.yaml: document 7 (routes/main, line 25): field virtual_hosts[0].routes[0].match (line 32): exactly one of prefix, path, regex is required",
		},
		"dangling reference": {
			"kind: RouteTable\nname: main\nspec:\n  virtual_hosts:\n  - name: all\n    domains: ['*']\n    routes:\n    - match: {prefix: /}\n      service: nowhere\n",
			`ten.yaml: document 7 (routes/main, line 25): field virtual_hosts[0].routes[0].service (line 33): service "nowhere" not found`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			writeFile(t, file, tenDocuments(tc.doc))
			before := revision(t, cli)
			r := ctl(t, env, "", "apply", "-f", file)
			if r.code != exitFailure {
				t.Errorf("status %d, want 1", r.code)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr does not name the document and field:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "chanceryctl: apply refused: 1 of 10 documents rejected; nothing written") {
				t.Errorf("no refusal summary:\n%s", r.stderr)
			}
			if after := revision(t, cli); after != before {
				t.Errorf("etcd moved from revision %d to %d", before, after)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
	writeFile(t, file, tenDocuments(""))
	if r := mustRun(t, env, "", "apply", "-f", file); strings.Count(r.stdout, " created\n") != 10 {
		t.Errorf("the ten good documents:\n%s", r.stdout)
	}
}

// Past --max-txn-ops the write is split, apply says so, and every object
// is written; --dry-run writes nothing.
func TestApplyChunksAndDryRun(t *testing.T) {
	env, cli := startEtcd(t)
	file := filepath.Join(t.TempDir(), "ten.yaml")
	writeFile(t, file, tenDocuments(""))
	before := revision(t, cli)
	dry := mustRun(t, env, "", "apply", "-f", file, "--dry-run")
	if !strings.Contains(dry.stdout, "services/web created (dry run)") || !strings.Contains(dry.stdout, "dry run: 10 created; nothing written") {
		t.Errorf("dry run:\n%s", dry.stdout)
	}
	if revision(t, cli) != before {
		t.Fatal("--dry-run wrote to etcd")
	}
	r := mustRun(t, env, "", "apply", "-f", file, "--max-txn-ops", "7")
	if !strings.Contains(r.stderr, "10 objects to write exceed what one etcd transaction holds (7 operations, --max-txn-ops, and 1024 KiB); writing them in 3 transactions") {
		t.Errorf("no chunking note:\n%s", r.stderr)
	}
	if got := revision(t, cli); got != before+3 {
		t.Errorf("revision %d, want %d (three transactions)", got, before+3)
	}
	if n := strings.Count(r.stdout, " created\n"); n != 10 {
		t.Errorf("%d created:\n%s", n, r.stdout)
	}
}

// Global flags fall back to CHANCERY_* variables; a flag on the command
// line wins.
func TestEnvironmentAndFlags(t *testing.T) {
	env, cli := startEtcd(t)
	endpoint := env["CHANCERY_ETCD_ENDPOINTS"]
	wrong := map[string]string{"CHANCERY_ETCD_ENDPOINTS": "http://127.0.0.1:1", "CHANCERY_ETCD_TIMEOUT": "200ms", "CHANCERY_PREFIX": "/other/v1"}
	mustRun(t, wrong, "kind: Service\nname: web\nspec: {protocol: http}\n", "--etcd-endpoints", endpoint, "apply", "-f", "-")
	resp, err := cli.Get(context.Background(), "/other/v1/services/web")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != `{"protocol":"http"}` {
		t.Fatalf("CHANCERY_PREFIX was not used: %v %v", resp, err)
	}
	if r := ctl(t, wrong, "", "get", "services"); r.code != exitFailure || !strings.Contains(r.stderr, "connection refused at http://127.0.0.1:1;") {
		t.Errorf("CHANCERY_ETCD_ENDPOINTS was not used: %d %q", r.code, r.stderr)
	}
}

// Under etcd's NOSPACE alarm apply fails with one line that names the
// alarm, says nothing was written and what to do; once the alarm is
// disarmed the same apply goes through.
func TestApplyUnderNoSpaceAlarm(t *testing.T) {
	env, cli := startEtcd(t)
	file := filepath.Join(t.TempDir(), "ten.yaml")
	writeFile(t, file, tenDocuments(""))
	ctx := context.Background()
	status, err := cli.Status(ctx, env["CHANCERY_ETCD_ENDPOINTS"])
	if err != nil {
		t.Fatal(err)
	}
	alarm := &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: status.Header.MemberId, Alarm: pb.AlarmType_NOSPACE}
	if _, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Alarm(ctx, alarm); err != nil {
		t.Fatalf("raise NOSPACE: %v", err)
	}
	before := revision(t, cli)
	const want = "etcd is out of space (alarm NOSPACE): nothing was written; free space: compact, defragment every member, then `etcdctl alarm disarm`"
	oneLineError(t, ctl(t, env, "", "apply", "-f", file), exitFailure, want)
	// Split in three, the first transaction fails: still nothing written.
	if r := ctl(t, env, "", "apply", "-f", file, "--max-txn-ops", "7"); r.code != exitFailure || !strings.HasSuffix(r.stderr, "chanceryctl: "+want+"\n") {
		t.Errorf("split apply: status %d, stderr %q, want it to end with %q", r.code, r.stderr, want)
	}
	if got := revision(t, cli); got != before {
		t.Errorf("revision %d after the refused applies, want %d", got, before)
	}
	if _, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{MemberID: status.Header.MemberId, Alarm: pb.AlarmType_NOSPACE}); err != nil {
		t.Fatalf("disarm NOSPACE: %v", err)
	}
	if r := mustRun(t, env, "", "apply", "-f", file); strings.Count(r.stdout, " created\n") != 10 {
		t.Errorf("after disarm:\n%s", r.stdout)
	}
}
