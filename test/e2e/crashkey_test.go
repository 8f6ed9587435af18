package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// The crash key of issue 17: its name holds a raw 0xff byte. It reaches
// etcdctl as that byte (exec passes arguments as bytes, no shell between).
const (
	crashKey = prefix + "/services/bad\xffx"
	// crashKeyShown is the key as every report shows it (model.SafeText).
	crashKeyShown = `"services/bad\xffx"`
)

// putCrashKey writes the crash key with etcdctl at endpoint and checks that
// etcd holds the very bytes.
func putCrashKey(t *testing.T, endpoint string, cli *clientv3.Client) {
	t.Helper()
	harness.MustEtcdctl(t, endpoint, "put", crashKey, `{"protocol":"http"}`)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, crashKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Key) != crashKey {
		t.Fatalf("etcd holds %v after etcdctl put, want the key %q", resp.Kvs, crashKey)
	}
}

// waitCrashKeyReported waits until a replica exports, lists and has logged
// the crash key's rejection under its safe name, and checks it is up.
func waitCrashKeyReported(t *testing.T, r *harness.Chancery) {
	t.Helper()
	harness.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		if !r.Running() {
			t.Fatalf("replica %s exited after the crash key was written:\n%s", r.ReplicaID(), tail(t, r.LogPath()))
		}
		if v := metric(t, r, "chancery_object_rejected", map[string]string{"kind": "Service", "key": crashKeyShown}); v != 1 {
			return fmt.Errorf("replica %s: chancery_object_rejected{key=%s} = %v", r.ReplicaID(), crashKeyShown, v)
		}
		return nil
	})
	r.Get(t, "/healthz") // fails the test unless 200
	var snap struct {
		Rejected map[string]string `json:"rejected"`
	}
	if err := json.Unmarshal(r.Get(t, "/debug/snapshot"), &snap); err != nil {
		t.Fatal(err)
	}
	if reason := snap.Rejected[crashKeyShown]; !strings.Contains(reason, `name "bad\xffx"`) {
		t.Errorf("replica %s /debug/snapshot: rejection of %s %q, want one naming the name; all %v", r.ReplicaID(), crashKeyShown, reason, snap.Rejected)
	}
	logged, _ := json.Marshal(crashKeyShown) // the log's fields are JSON, in console format too
	if log := readFile(t, r.LogPath()); !strings.Contains(log, `"key": `+string(logged)) {
		t.Errorf("replica %s logged no rejection with key %s", r.ReplicaID(), logged)
	}
}

func tail(t *testing.T, path string) string {
	log := readFile(t, path)
	return log[max(len(log)-4000, 0):]
}

// The crash key through the real path: real etcd, two replicas, a real
// Envoy. Both replicas stay up and report the key, traffic is served
// throughout, a later write still reaches Envoy, a replica restarted with
// the key present stays up, and the leader records the rejection under
// the very key.
func TestCrashKeyChangesNothingElse(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	putCrashKey(t, f.etcd.Endpoint(), f.etcd.Client(t))
	for _, r := range []*harness.Chancery{f.a, f.b} {
		waitCrashKeyReported(t, r)
	}
	for i := range 100 {
		if st, b, err := f.get("/"); err != nil || st != 200 || b != "up1" {
			t.Fatalf("request %d after the crash key: %d %q %v", i, st, b, err)
		}
	}
	out := harness.MustChanceryctl(t, "--etcd-endpoints", f.etcd.Endpoint(), "get", "services")
	if !strings.Contains(out, `"bad\xffx"`) || !strings.Contains(out, "Rejected") || strings.Contains(out, "\xff") {
		t.Errorf("chanceryctl get services shows no safe rejection of the crash key:\n%q", out)
	}
	waitStatus(t, f.etcd.Client(t), storage.NewKeyspace(prefix).Prefix()+"status/services/bad\xffx", `name \"bad\\xffx\"`)

	f.put("routes/web", routeTable(directRoute("/after", 200, "after the crash key"), route("/", "web")))
	f.waitBody("/after", 200, "after the crash key")

	f.b.Stop()
	f.b.Start() // ready again: its first load holds the key
	waitCrashKeyReported(t, f.b)

	for _, r := range []*harness.Chancery{f.a, f.b} {
		if n := metric(t, r, "chancery_xds_nacks_total", nil); n != 0 {
			t.Errorf("replica %s counted %v NACKs", r.ReplicaID(), n)
		}
		if log := readFile(t, r.LogPath()); strings.Contains(log, "panic") {
			t.Errorf("replica %s logged a panic:\n%s", r.ReplicaID(), tail(t, r.LogPath()))
		}
	}
	for _, stat := range []string{"cluster_manager.cds.update_rejected", "listener_manager.lds.update_rejected", "http.main.rds.web.update_rejected"} {
		if v, ok := f.envoy.Stat(t, stat); !ok || v != 0 {
			t.Errorf("Envoy %s = %d (present %v), want 0", stat, v, ok)
		}
	}
}

// waitStatus waits until etcd holds a rejected status at key whose value
// contains want (as JSON holds it).
func waitStatus(t *testing.T, cli *clientv3.Client, key, want string) {
	t.Helper()
	harness.Eventually(t, 15*time.Second, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, key)
		if err != nil {
			return err
		}
		if len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), `"state":"rejected"`) ||
			!strings.Contains(string(resp.Kvs[0].Value), want) {
			return fmt.Errorf("status %q: %v, want rejected with %s", key, resp.Kvs, want)
		}
		return nil
	})
}

// The crash key with the embedded etcd of `make run`: the replica stays
// up, so its etcd does too and the key can be deleted with etcdctl; and a
// restart with the key present stays up.
func TestCrashKeyEmbeddedEtcd(t *testing.T) {
	r := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "solo"})
	endpoint := r.EmbeddedEtcdEndpoint()
	cli := r.EmbeddedEtcdClient(t)
	harness.MustEtcdctl(t, endpoint, "put", prefix+"/services/web", `{"protocol":"http"}`)

	putCrashKey(t, endpoint, cli)
	waitCrashKeyReported(t, r)

	harness.MustEtcdctl(t, endpoint, "del", crashKey)
	harness.Eventually(t, 15*time.Second, 10*time.Millisecond, func() error {
		if _, found := r.Metric(t, "chancery_object_rejected", map[string]string{"key": crashKeyShown}); found {
			return fmt.Errorf("the crash key is still reported rejected after its deletion")
		}
		return nil
	})

	putCrashKey(t, endpoint, cli)
	waitCrashKeyReported(t, r)
	r.Stop()
	r.Start() // ready again: its first load holds the key
	waitCrashKeyReported(t, r)
	if got := harness.MustEtcdctl(t, endpoint, "get", "--print-value-only", prefix+"/services/web"); !strings.Contains(got, `"protocol":"http"`) {
		t.Errorf("services/web after the restart: %q", got)
	}
}
