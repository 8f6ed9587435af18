// Package e2e drives real binaries: etcd and etcdctl, chancery replicas,
// Envoy, and HTTP upstreams, all on loopback.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

const prefix = "/chancery/v1"

// fleet is one etcd, two chancery replicas (a reaches etcd through a proxy
// the test can cut), one delta-ADS Envoy listening on port and upstreams.
type fleet struct {
	t     *testing.T
	sotw  bool // startEnvoy uses state-of-the-world ADS instead of delta
	etcd  *harness.Etcd
	proxy *harness.TCPProxy // between replica a and etcd
	a, b  *harness.Chancery
	envoy *harness.Envoy
	port  int // Envoy's HTTP listener
	group string
	up    map[string]*harness.Upstream
}

func newFleet(t *testing.T, upstreams ...string) *fleet {
	t.Helper()
	f := &fleet{t: t, group: "edge", up: map[string]*harness.Upstream{}}
	f.etcd = harness.StartEtcd(t)
	f.proxy = harness.StartTCPProxy(t, strings.TrimPrefix(f.etcd.Endpoint(), "http://"))
	f.a = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "a", EtcdEndpoints: []string{"http://" + f.proxy.Addr()}})
	f.b = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "b", EtcdEndpoints: []string{f.etcd.Endpoint()}})
	for _, name := range upstreams {
		f.up[name] = harness.StartUpstream(t, name)
	}
	f.port = harness.FreePort(t)
	return f
}

// startEnvoy starts the Envoy once the keyspace it needs is written.
func (f *fleet) startEnvoy(replicas ...*harness.Chancery) {
	f.t.Helper()
	var addrs []string
	for _, r := range replicas {
		addrs = append(addrs, r.XDSAddress())
	}
	f.envoy = harness.StartEnvoy(f.t, harness.EnvoyOptions{NodeID: "envoy-1", Group: f.group, XDSAddresses: addrs, Delta: !f.sotw})
}

// put writes one object with etcdctl, as an operator would.
func (f *fleet) put(key string, spec any) {
	f.t.Helper()
	value, ok := spec.(string)
	if !ok {
		b, err := json.Marshal(spec)
		if err != nil {
			f.t.Fatal(err)
		}
		value = string(b)
	}
	harness.MustEtcdctl(f.t, f.etcd.Endpoint(), "put", prefix+"/"+key, value)
}

func (f *fleet) del(key string) {
	f.t.Helper()
	harness.MustEtcdctl(f.t, f.etcd.Endpoint(), "del", prefix+"/"+key)
}

// endpoint writes endpoints/<svc>/<id> pointing at the named upstream.
func (f *fleet) endpoint(svc, id, upstream string) {
	f.t.Helper()
	host, port := f.up[upstream].Addr()
	f.put("endpoints/"+svc+"/"+id, map[string]any{"address": host, "port": port})
}

func (f *fleet) url(path string) string { return fmt.Sprintf("http://127.0.0.1:%d%s", f.port, path) }

// get sends one request through Envoy.
func (f *fleet) get(path string) (int, string, error) { return harness.HTTPGet(f.url(path), "") }

// waitBody waits until a request to path through Envoy answers status with body.
func (f *fleet) waitBody(path string, status int, body string) {
	f.t.Helper()
	harness.Eventually(f.t, 20*time.Second, 5*time.Millisecond, func() error {
		st, b, err := f.get(path)
		if err != nil {
			return err
		}
		if st != status || !strings.Contains(b, body) {
			return fmt.Errorf("GET %s: %d %q, want %d %q", path, st, b, status, body)
		}
		return nil
	})
}

// basics writes the service web on upstream up1, a route table sending
// everything to it and the HTTP listener of group edge.
func (f *fleet) basics() {
	f.t.Helper()
	f.put("services/web", `{"protocol":"http","lb_policy":"round_robin","connect_timeout":"1s"}`)
	f.endpoint("web", "a", "up1")
	f.put("routes/web", routeTable(route("/", "web")))
	f.put("listeners/main", map[string]any{"address": "127.0.0.1", "port": f.port, "protocol": "http", "route_table": "web", "groups": []string{f.group}})
}

func routeTable(routes ...map[string]any) map[string]any {
	return map[string]any{"virtual_hosts": []any{map[string]any{"name": "all", "domains": []string{"*"}, "routes": routes}}}
}

func route(prefix, service string) map[string]any {
	return map[string]any{"match": map[string]any{"prefix": prefix}, "service": service}
}

func directRoute(path string, status int, body string) map[string]any {
	return map[string]any{"match": map[string]any{"path": path}, "direct_response": map[string]any{"status": status, "body": body}}
}

func weightedRoute(prefix string, weights map[string]int) map[string]any {
	var ws []any
	for _, svc := range []string{"web-v1", "web-v2"} {
		ws = append(ws, map[string]any{"service": svc, "weight": weights[svc]})
	}
	return map[string]any{"match": map[string]any{"prefix": prefix}, "weighted_services": ws}
}

// versions returns a replica's versions of every group: group -> type -> version.
func versions(t *testing.T, r *harness.Chancery) map[string]map[string]string {
	t.Helper()
	var out struct {
		Groups []struct {
			Group    string            `json:"group"`
			Versions map[string]string `json:"versions"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(r.Get(t, "/debug/snapshot"), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]map[string]string{}
	for _, g := range out.Groups {
		m[g.Group] = g.Versions
	}
	return m
}

// publishedRevision is the etcd revision of a replica's last published snapshot.
func publishedRevision(t *testing.T, r *harness.Chancery) int64 {
	t.Helper()
	var out struct {
		Groups []struct {
			Revision int64 `json:"revision"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(r.Get(t, "/debug/snapshot"), &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Groups) == 0 {
		return 0
	}
	return out.Groups[0].Revision
}

// revision is etcd's current revision.
func (f *fleet) revision() int64 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := f.etcd.Client(f.t).Get(ctx, "revision-probe")
	if err != nil {
		f.t.Fatal(err)
	}
	return resp.Header.Revision
}

// modelRevision is the revision of the newest write to a model object:
// what a replica has published once it has seen every write. Replicas'
// own status writes move etcd's revision without a rebuild.
func (f *fleet) modelRevision() int64 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ks := storage.NewKeyspace(prefix)
	var newest int64
	for _, kind := range model.Kinds {
		resp, err := f.etcd.Client(f.t).Get(ctx, ks.KindPrefix(kind), clientv3.WithPrefix(), clientv3.WithKeysOnly(),
			clientv3.WithSort(clientv3.SortByModRevision, clientv3.SortDescend), clientv3.WithLimit(1))
		if err != nil {
			f.t.Fatal(err)
		}
		if len(resp.Kvs) > 0 {
			newest = max(newest, resp.Kvs[0].ModRevision)
		}
	}
	return newest
}

// metric reads a replica's metric, 0 when it has no sample.
func metric(t *testing.T, r *harness.Chancery, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := r.Metric(t, name, labels)
	return v
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
