package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// An etcdctl write reaches a real Envoy through the replicas, delta and
// state of the world: first route, a weight shift, an endpoint removal.
// The canary route comes with two new services: it must not reach Envoy
// before they are in service.
func TestEtcdWriteReachesEnvoy(t *testing.T) {
	for _, sotw := range []bool{false, true} {
		t.Run(map[bool]string{false: "delta", true: "sotw"}[sotw], func(t *testing.T) {
			etcdWriteReachesEnvoy(t, sotw)
		})
	}
}

func etcdWriteReachesEnvoy(t *testing.T, sotw bool) {
	f := newFleet(t, "up1", "up2", "up3")
	f.sotw = sotw
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	// Weighted canary: 100/0, then 80/20.
	f.put("services/web-v1", `{"protocol":"http"}`)
	f.put("services/web-v2", `{"protocol":"http"}`)
	f.endpoint("web-v1", "a", "up1")
	f.endpoint("web-v2", "a", "up2")
	f.put("routes/web", routeTable(weightedRoute("/canary", map[string]int{"web-v1": 100, "web-v2": 0}), route("/", "web")))
	f.waitConfig(`"name": "web-v2"`)
	if got := f.split("/canary", 200); got["up2"] != 0 || got["up1"] != 200 {
		t.Fatalf("100/0 split sent %v", got)
	}
	f.put("routes/web", routeTable(weightedRoute("/canary", map[string]int{"web-v1": 80, "web-v2": 20}), route("/", "web")))
	f.waitConfig(`"weight": 80`, `"weight": 20`)
	const n = 1000 // ±5% is four standard deviations of the share
	got := f.split("/canary", n)
	share := 100 * float64(got["up2"]) / n
	t.Logf("80/20 split over %d requests: up1=%d up2=%d (%.1f%% to up2)", n, got["up1"], got["up2"], share)
	if got["up1"]+got["up2"] != n || math.Abs(share-20) > 5 {
		t.Errorf("80/20 split: %v (%.1f%% to up2), want 20±5%%", got, share)
	}

	// Two endpoints, then delete one: nothing reaches it afterwards.
	f.endpoint("web", "b", "up3")
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		if _, b, err := f.get("/"); err != nil || b != "up3" {
			return fmt.Errorf("up3 not reached yet (%q, %v)", b, err)
		}
		return nil
	})
	f.del("endpoints/web/b")
	_, up3Port := f.up["up3"].Addr()
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		if strings.Contains(f.envoy.Clusters(t), "web::127.0.0.1:"+strconv.Itoa(up3Port)) {
			return fmt.Errorf("Envoy still lists up3 in cluster web")
		}
		return nil
	})
	before := f.up["up3"].Count()
	for i := range 100 {
		if st, b, err := f.get("/"); err != nil || st != 200 || b != "up1" {
			t.Fatalf("request %d after the delete: %d %q %v", i, st, b, err)
		}
	}
	if after := f.up["up3"].Count(); after != before {
		t.Errorf("%d requests reached the deleted endpoint", after-before)
	}
}

// split sends n requests to path and counts the upstreams that answered.
func (f *fleet) split(path string, n int) map[string]int {
	f.t.Helper()
	got := map[string]int{}
	for range n {
		st, body, err := f.get(path)
		if err != nil || st != 200 {
			f.t.Fatalf("GET %s: %d %q %v", path, st, body, err)
		}
		got[body]++
	}
	return got
}

// waitConfig waits until Envoy's dynamic route config contains every string.
func (f *fleet) waitConfig(want ...string) {
	f.t.Helper()
	harness.Eventually(f.t, 20*time.Second, 10*time.Millisecond, func() error {
		dump := string(f.envoy.Get(f.t, "/config_dump?resource=dynamic_route_configs"))
		for _, w := range want {
			if !strings.Contains(dump, w) {
				return fmt.Errorf("route config has no %s yet", w)
			}
		}
		return nil
	})
}

// Both replicas serve the same versions; a client moving between them
// receives nothing; an endpoint change moves only the endpoints version.
func TestReplicasServeIdenticalSnapshots(t *testing.T) {
	f := newFleet(t, "up1", "up2")
	f.basics()
	f.put("listeners/internal", map[string]any{"address": "127.0.0.1", "port": harness.FreePort(t), "protocol": "tcp", "service": "web", "groups": []string{"internal"}})
	f.endpoint("web", "b", "up2")

	// Both replicas have published a snapshot at or past the last write.
	rev := f.modelRevision()
	for _, r := range []*harness.Chancery{f.a, f.b} {
		harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			if got := publishedRevision(t, r); got < rev {
				return fmt.Errorf("replica %s at revision %v, want %d", r.ReplicaID(), got, rev)
			}
			return nil
		})
	}
	var va, vb map[string]map[string]string
	harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		va, vb = versions(t, f.a), versions(t, f.b)
		if len(va) != 2 || fmt.Sprint(va) != fmt.Sprint(vb) {
			return fmt.Errorf("replica a %v, replica b %v", va, vb)
		}
		return nil
	})
	for _, g := range []string{"edge", "internal"} {
		for _, typ := range []string{"listeners", "routes", "clusters", "endpoints"} {
			if va[g][typ] == "" {
				t.Errorf("group %s has no %s version", g, typ)
			}
		}
	}

	first, err := xdsclient.Dial(f.a.XDSAddress(), xdsclient.Options{NodeID: "probe", Group: "edge"})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.WaitFor(10*time.Second, func(h map[string]map[string]string) bool {
		return len(h[resourcev3.ListenerType]) == 1 && len(h[resourcev3.RouteType]) == 1 &&
			len(h[resourcev3.ClusterType]) == 1 && len(h[resourcev3.EndpointType]) == 1
	}); err != nil {
		t.Fatal(err)
	}
	held := first.Held()
	first.Close()
	second, err := xdsclient.Dial(f.b.XDSAddress(), xdsclient.Options{NodeID: "probe", Group: "edge", Initial: held})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	// Replica b sends nothing: once it has compared what the client holds
	// with what it serves, it lists the client as holding every type.
	harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		var proxies []xdsserver.ProxyStatus
		if err := json.Unmarshal(f.b.Get(t, "/debug/proxies"), &proxies); err != nil {
			t.Fatal(err)
		}
		for _, p := range proxies {
			if p.NodeID != "probe" {
				continue
			}
			for typ, v := range vb["edge"] {
				if typ == "secrets" {
					continue // the group has none, so the probe never asks for them
				}
				if p.Types[typ].Acked != v || p.Types[typ].Sent != "" {
					return fmt.Errorf("probe on replica b, %s: %+v, serving %s", typ, p.Types[typ], v)
				}
			}
			return nil
		}
		return errors.New("probe is not connected to replica b")
	})
	t.Log("delta client reconnected from replica a to b: b holds it in sync and sent nothing")

	// Responses arrive in order: the first after the reconnect is this
	// change, so nothing was resent before it.
	f.put("endpoints/web/b", map[string]any{"address": "127.0.0.1", "port": 1, "weight": 2})
	select {
	case r := <-second.Responses():
		if r.TypeURL != resourcev3.EndpointType || len(r.Resources) != 1 {
			t.Errorf("endpoint change arrived as %s with %d resources, want one ClusterLoadAssignment", r.TypeURL, len(r.Resources))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("endpoint change did not reach the client")
	}
	harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		na, nb := versions(t, f.a), versions(t, f.b)
		if na["edge"]["endpoints"] == va["edge"]["endpoints"] || fmt.Sprint(na) != fmt.Sprint(nb) {
			return fmt.Errorf("after the endpoint change: a %v, b %v", na, nb)
		}
		for _, typ := range []string{"listeners", "routes", "clusters"} {
			if na["edge"][typ] != va["edge"][typ] {
				t.Errorf("%s version changed on an endpoint change: %s -> %s", typ, va["edge"][typ], na["edge"][typ])
			}
		}
		return nil
	})
}

// Bad objects written with etcdctl are rejected by name; everything else
// keeps working and Envoy never NACKs.
func TestBadInputChangesNothingElse(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	bad := map[string]string{
		"services/bad-json":      `{"protocol":"http",`,
		"services/unknown-field": `{"protocol":"http","retries":3}`,
		"routes/bad-regex":       `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"regex":"/(unclosed"},"service":"web"}]}]}`,
	}
	for key, value := range bad {
		f.put(key, value)
	}
	f.put("routes/web", routeTable(route("/ghost", "ghost"), route("/", "web")))
	f.waitBody("/ghost", 503, `service "ghost"`)
	f.waitBody("/", 200, "up1")

	keys := []string{"services/bad-json", "services/unknown-field", "routes/bad-regex", "routes/web"}
	for _, r := range []*harness.Chancery{f.a, f.b} {
		harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			for _, key := range keys {
				if v := metric(t, r, "chancery_object_rejected", map[string]string{"key": key}); v != 1 {
					return fmt.Errorf("replica %s: chancery_object_rejected{key=%q} = %v", r.ReplicaID(), key, v)
				}
			}
			return nil
		})
		log := readFile(t, r.LogPath())
		for _, key := range keys {
			if !strings.Contains(log, `"key": "`+key+`"`) {
				t.Errorf("replica %s logged no rejection naming %s", r.ReplicaID(), key)
			}
		}
		if n := metric(t, r, "chancery_xds_nacks_total", nil); n != 0 {
			t.Errorf("replica %s counted %v NACKs", r.ReplicaID(), n)
		}
	}
	for _, stat := range []string{"cluster_manager.cds.update_rejected", "listener_manager.lds.update_rejected", "http.main.rds.web.update_rejected"} {
		if v, ok := f.envoy.Stat(t, stat); !ok || v != 0 {
			t.Errorf("Envoy %s = %d (present %v), want 0", stat, v, ok)
		}
	}
}

// With etcd down, Envoy keeps the last config and the replicas stay up; a
// write after etcd returns arrives. A compaction past a replica's revision
// makes it reload, and a reload of unchanged data pushes nothing.
func TestEtcdRestartAndCompaction(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	f.etcd.Stop()
	for i := range 200 {
		if st, b, err := f.get("/"); err != nil || st != 200 || b != "up1" {
			t.Fatalf("request %d with etcd down: %d %q %v", i, st, b, err)
		}
	}
	for _, r := range []*harness.Chancery{f.a, f.b} {
		r.Get(t, "/readyz") // fails the test unless 200: last good snapshots are served
	}
	f.etcd.Start()
	f.put("routes/web", routeTable(directRoute("/after-restart", 200, "etcd is back"), route("/", "web")))
	f.waitBody("/after-restart", 200, "etcd is back")

	// Both replicas hold the change (a may still be reconnecting to etcd).
	var before map[string]map[string]string
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		before = versions(t, f.a)
		if b := versions(t, f.b); fmt.Sprint(before) != fmt.Sprint(b) {
			return fmt.Errorf("replicas differ: a %v, b %v", before, b)
		}
		return nil
	})

	// Cut replica a off etcd, change and revert a key, compact, reconnect.
	reloads := metric(t, f.a, "chancery_watch_reloads_total", nil)
	publishes := metric(t, f.a, "chancery_snapshot_publishes_total", nil)
	f.proxy.Cut()
	f.put("services/transient", `{"protocol":"http"}`)
	f.del("services/transient")
	rev := f.revision()
	harness.MustEtcdctl(t, f.etcd.Endpoint(), "compact", strconv.FormatInt(rev, 10))
	f.proxy.Restore()
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if got := metric(t, f.a, "chancery_watch_reloads_total", nil); got <= reloads {
			return fmt.Errorf("replica a has not reloaded (reloads %v)", got)
		}
		return nil
	})
	if after := versions(t, f.a); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("versions changed across a reload of unchanged data:\n%v\n%v", before, after)
	}
	if got := metric(t, f.a, "chancery_snapshot_publishes_total", nil); got != publishes {
		t.Errorf("reload of unchanged data published %v snapshots", got-publishes)
	}
	f.waitBody("/after-restart", 200, "etcd is back")
}

// The time from `etcdctl put` returning to Envoy serving the new route,
// over 20 changes. Measured here in under a millisecond (README); the
// bounds are far above that so they hold with both cores busy, and still
// catch a change that waits out a timer (a stuck coalescing window, a
// missed wake-up that waits for the next change or a resync).
func TestPropagationLatency(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	var took []time.Duration
	for i := range 20 {
		body := fmt.Sprintf("change-%d", i)
		f.put("routes/web", routeTable(directRoute("/probe", 200, body), route("/", "web")))
		start := time.Now()
		harness.Eventually(t, 10*time.Second, time.Millisecond, func() error {
			if _, b, err := f.get("/probe"); err != nil || b != body {
				return fmt.Errorf("not yet: %q %v", b, err)
			}
			return nil
		})
		took = append(took, time.Since(start))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	median := (took[9] + took[10]) / 2
	t.Logf("propagation etcdctl put -> Envoy serving, 20 changes: median %v, min %v, p90 %v, max %v",
		median.Round(100*time.Microsecond), took[0].Round(100*time.Microsecond), took[17].Round(100*time.Microsecond), took[19].Round(100*time.Microsecond))
	if median > 250*time.Millisecond || took[19] > 2*time.Second {
		t.Errorf("propagation median %v, max %v: want a median within 250ms and every change within 2s", median, took[19])
	}
}

// A real Envoy on state-of-the-world ADS follows endpoint changes, and an
// endpoints response carries only the load assignment that changed: the
// other cluster's assignment is neither resent nor dropped.
func TestSotwEnvoyGetsOnlyChangedEndpoints(t *testing.T) {
	f := newFleet(t, "up1", "up2", "up3")
	f.sotw = true
	f.basics()
	f.put("services/api", `{"protocol":"http"}`)
	f.endpoint("api", "a", "up2")
	f.put("routes/web", routeTable(route("/api", "api"), route("/", "web")))
	f.startEnvoy(f.a)
	f.waitBody("/", 200, "up1")
	f.waitBody("/api", 200, "up2")

	sent := func() float64 {
		return metric(t, f.a, "chancery_xds_resources_sent_total", map[string]string{"type": "endpoints"})
	}
	before := sent()
	f.endpoint("web", "a", "up3")
	f.waitBody("/", 200, "up3")
	for i := range 50 {
		if st, body, err := f.get("/api"); err != nil || st != 200 || body != "up2" {
			t.Fatalf("request %d to /api after the web change: %d %q %v", i, st, body, err)
		}
	}
	if n := sent() - before; n != 1 {
		t.Errorf("the web endpoint change sent %v load assignments, want 1 (web's alone)", n)
	}
	for _, stat := range []string{"cluster_manager.cds.update_rejected", "listener_manager.lds.update_rejected", "cluster.web.update_rejected", "cluster.api.update_rejected"} {
		if v, _ := f.envoy.Stat(t, stat); v != 0 {
			t.Errorf("%s = %d", stat, v)
		}
	}
	if n := metric(t, f.a, "chancery_xds_nacks_total", nil); n != 0 {
		t.Errorf("replica a counted %v NACKs", n)
	}
}
