package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// requestLoop sends requests through Envoy until stopped, at most limit of
// them, and counts every answer that is not 200 from the expected upstream.
type requestLoop struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	sent int
	bad  []string // the first few failures
	nbad int
}

func startRequestLoop(f *fleet, want map[string]string, limit int) *requestLoop {
	l := &requestLoop{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for l.sent < limit {
			select {
			case <-l.stop:
				return
			default:
			}
			for path, body := range want {
				st, b, err := f.get(path)
				l.mu.Lock()
				l.sent++
				if err != nil || st != 200 || !strings.Contains(b, body) {
					l.nbad++
					if len(l.bad) < 5 {
						l.bad = append(l.bad, fmt.Sprintf("GET %s: %d %q %v", path, st, b, err))
					}
				}
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// end stops the loop and returns how many requests it sent and failed.
func (l *requestLoop) end() (sent, failed int, first []string) {
	close(l.stop)
	<-l.done
	return l.sent, l.nbad, l.bad
}

// Truncated JSON written over a route table in use loses no request: every
// replica, one started afterwards and one restarted included, serves the
// table's last accepted version, byte for byte the same; the rejection
// shows in the log, the metrics, status/, chanceryctl get and chanceryctl
// status; fixing the key serves the fix.
func TestBadWriteOverLiveObjectKeepsServing(t *testing.T) {
	f := newFleet(t, "up1", "up2")
	f.basics()
	f.put("services/api", `{"protocol":"http"}`)
	f.endpoint("api", "a", "up2")
	f.put("routes/web", routeTable(route("/api", "api"), route("/", "web")))
	f.startEnvoy(f.a, f.b)
	f.waitBody("/api", 200, "up2")
	f.waitBody("/", 200, "up1")
	accepted := f.modelRevision()
	before := waitSameVersions(t, f.a, f.b)

	loop := startRequestLoop(f, map[string]string{"/": "up1", "/api": "up2"}, 100000)
	f.put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/api"},"serv`)
	bad := f.modelRevision()

	ctl := func(args ...string) string {
		return harness.MustChanceryctl(t, append([]string{"--etcd-endpoints", f.etcd.Endpoint()}, args...)...)
	}
	for _, r := range []*harness.Chancery{f.a, f.b} {
		harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			if v := metric(t, r, "chancery_object_rejected", map[string]string{"key": "routes/web"}); v != 1 {
				return fmt.Errorf("replica %s: chancery_object_rejected{key=routes/web} = %v", r.ReplicaID(), v)
			}
			if log := readFile(t, r.LogPath()); !strings.Contains(log, fmt.Sprintf("serving its last accepted version, revision %d", accepted)) {
				return fmt.Errorf("replica %s logged no rejection of routes/web serving revision %d", r.ReplicaID(), accepted)
			}
			return nil
		})
	}
	harness.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := objectStatus(f, "routes/web")
		switch {
		case err != nil:
			return err
		case st.State != storage.StatusRejected || st.Serving == nil || st.Serving.Revision != accepted || st.Serving.For != bad:
			return fmt.Errorf("status/routes/web %+v, want rejected, serving revision %d for %d", st, accepted, bad)
		}
		return nil
	})
	if out := ctl("get", "routetable", "web"); !strings.Contains(out, "Rejected") || !strings.Contains(out, fmt.Sprintf("revision %d", accepted)) {
		t.Errorf("chanceryctl get routetable web:\n%s", out)
	}
	if out := ctl("status"); !strings.Contains(out, "routes/web") || !strings.Contains(out, fmt.Sprintf("revision %d", accepted)) {
		t.Errorf("chanceryctl status shows no rejected routes/web serving revision %d:\n%s", accepted, out)
	}

	// Every replica serves what it served before the bad write.
	for _, r := range []*harness.Chancery{f.a, f.b} {
		if got := versions(t, r); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("replica %s serves %v after the bad write, %v before", r.ReplicaID(), got, before)
		}
	}
	c := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "c", EtcdEndpoints: []string{f.etcd.Endpoint()}})
	if got := versions(t, c); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("replica c, started after the bad write, serves %v; the others %v", got, before)
	}
	f.b.Stop()
	f.b.Start()
	if got := versions(t, f.b); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("replica b, restarted, serves %v; before %v", got, before)
	}
	sent, failed, first := loop.end()
	t.Logf("requests through Envoy during the bad write and the replica starts: %d, failed %d", sent, failed)
	if sent == 0 || failed != 0 {
		t.Errorf("%d of %d requests failed: %v", failed, sent, first)
	}

	f.put("routes/web", routeTable(route("/", "api")))
	f.waitBody("/", 200, "up2")
	harness.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		st, err := objectStatus(f, "routes/web")
		if err != nil || st.State != storage.StatusAccepted || st.Serving != nil {
			return fmt.Errorf("status/routes/web %+v (%v), want accepted", st, err)
		}
		return nil
	})
	waitSameVersions(t, f.a, f.b, c)
}

// waitSameVersions waits until the replicas serve the same versions and
// returns them.
func waitSameVersions(t *testing.T, rs ...*harness.Chancery) map[string]map[string]string {
	t.Helper()
	var first map[string]map[string]string
	harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		first = versions(t, rs[0])
		for _, r := range rs[1:] {
			if got := versions(t, r); fmt.Sprint(got) != fmt.Sprint(first) {
				return fmt.Errorf("replica %s serves %v, replica %s %v", r.ReplicaID(), got, rs[0].ReplicaID(), first)
			}
		}
		return nil
	})
	return first
}

// objectStatus reads the leader's status record of one object.
func objectStatus(f *fleet, key string) (storage.ObjectStatus, error) {
	var st storage.ObjectStatus
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := f.etcd.Client(f.t).Get(ctx, prefix+"/status/"+key)
	if err != nil {
		return st, err
	}
	if len(resp.Kvs) == 0 {
		return st, fmt.Errorf("no status/%s", key)
	}
	return st, json.Unmarshal(resp.Kvs[0].Value, &st)
}

// A new listener whose name sorts first does not take the port of the one
// serving; keys of no kind and endpoints of a missing service are reported
// and change nothing.
func TestNewcomersTakeNothing(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")
	before := waitSameVersions(t, f.a, f.b)

	f.put("listeners/aaa", map[string]any{"address": "127.0.0.1", "port": f.port, "protocol": "http", "route_table": "web", "groups": []string{f.group}})
	f.put("service/web2", `{"protocol":"http"}`)
	f.put("endpoints/web2/a", `{"address":"127.0.0.1","port":1}`)
	for _, r := range []*harness.Chancery{f.a, f.b} {
		harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			for key, name := range map[string]string{"listeners/aaa": "chancery_object_rejected", "service/web2": "chancery_key_ignored", "endpoints/web2/a": "chancery_key_ignored"} {
				if v := metric(t, r, name, map[string]string{"key": key}); v != 1 {
					return fmt.Errorf("replica %s: %s{key=%q} = %v", r.ReplicaID(), name, key, v)
				}
			}
			return nil
		})
		if got := versions(t, r); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Errorf("replica %s serves %v, before the newcomers %v", r.ReplicaID(), got, before)
		}
		log := readFile(t, r.LogPath())
		for _, want := range []string{`key ignored`, `"key": "service/web2"`, `did you mean \"services\"?`, `service \"web2\" not found`} {
			if !strings.Contains(log, want) {
				t.Errorf("replica %s log lacks %s", r.ReplicaID(), want)
			}
		}
	}
	f.waitBody("/", 200, "up1")
	out := harness.MustChanceryctl(t, "--etcd-endpoints", f.etcd.Endpoint(), "get", "all")
	for _, want := range []string{"overlaps older listener \"main\"", "IGNORED KEY", "service/web2", "endpoints/web2/a"} {
		if !strings.Contains(out, want) {
			t.Errorf("chanceryctl get all lacks %q:\n%s", want, out)
		}
	}
}
