package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	clientv3 "go.etcd.io/etcd/client/v3"

	clusterfleet "github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
)

// sessionTTL is the replicas' --session-ttl: short, so that failover is
// quick enough to test, long enough not to expire under a loaded CI box.
const sessionTTL = 3 * time.Second

// replicaSet is one real etcd, n chancery replicas on it and upstreams.
type replicaSet struct {
	t        *testing.T
	etcd     *harness.Etcd
	cli      *clientv3.Client
	replicas []*harness.Chancery
	up       map[string]*harness.Upstream
	port     int // Envoy's HTTP listener
}

func newReplicaSet(t *testing.T, n int, upstreams ...string) *replicaSet {
	t.Helper()
	s := &replicaSet{t: t, up: map[string]*harness.Upstream{}, port: harness.FreePort(t)}
	s.etcd = harness.StartEtcd(t)
	s.cli = s.etcd.Client(t)
	for i := range n {
		s.replicas = append(s.replicas, harness.StartChancery(t, harness.ChanceryOptions{
			ReplicaID:     fmt.Sprintf("r%d", i+1),
			EtcdEndpoints: []string{s.etcd.Endpoint()},
			ExtraArgs:     []string{"--session-ttl", sessionTTL.String()},
		}))
	}
	for _, name := range upstreams {
		s.up[name] = harness.StartUpstream(t, name)
	}
	return s
}

func (s *replicaSet) put(key string, spec any) {
	s.t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		s.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.cli.Put(ctx, prefix+"/"+key, string(b)); err != nil {
		s.t.Fatal(err)
	}
}

// web writes service web, health-checked over HTTP, with one endpoint per
// upstream, a route to it that retries connection failures, and the HTTP
// listener of group edge.
func (s *replicaSet) web(interval string, unhealthyThreshold int) {
	s.t.Helper()
	s.put("services/web", map[string]any{"protocol": "http", "health_check": map[string]any{
		"type": "http", "path": "/healthz", "interval": interval, "timeout": "250ms",
		"healthy_threshold": 2, "unhealthy_threshold": unhealthyThreshold,
	}})
	for name, u := range s.up {
		host, port := u.Addr()
		s.put("endpoints/web/"+name, map[string]any{"address": host, "port": port})
	}
	r := route("/", "web")
	r["retries"] = map[string]any{"retry_on": "connect-failure,reset", "num_retries": 3}
	s.put("routes/web", routeTable(r))
	s.put("listeners/main", map[string]any{"address": "127.0.0.1", "port": s.port, "protocol": "http", "route_table": "web", "groups": []string{"edge"}})
}

func (s *replicaSet) startEnvoy(nodeID string, replicas ...*harness.Chancery) *harness.Envoy {
	s.t.Helper()
	var addrs []string
	for _, r := range replicas {
		addrs = append(addrs, r.XDSAddress())
	}
	return harness.StartEnvoy(s.t, harness.EnvoyOptions{NodeID: nodeID, Group: "edge", XDSAddresses: addrs, Delta: true})
}

// leader returns the one running replica whose chancery_leader is 1; two
// leaders at once fail the test.
func (s *replicaSet) leader() (*harness.Chancery, error) {
	var leaders []*harness.Chancery
	for _, r := range s.replicas {
		if r.Running() && metric(s.t, r, "chancery_leader", nil) == 1 {
			leaders = append(leaders, r)
		}
	}
	switch len(leaders) {
	case 0:
		return nil, errors.New("no replica leads")
	case 1:
		return leaders[0], nil
	}
	s.t.Fatalf("%d replicas lead at once", len(leaders))
	return nil, nil
}

func (s *replicaSet) waitLeader(timeout, poll time.Duration) *harness.Chancery {
	s.t.Helper()
	var l *harness.Chancery
	harness.Eventually(s.t, timeout, poll, func() (err error) {
		l, err = s.leader()
		return err
	})
	return l
}

// verdicts returns health/ by verdict name ("web/up1").
func (s *replicaSet) verdicts() map[string]verdict {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, prefix+"/health/", clientv3.WithPrefix())
	if err != nil {
		s.t.Fatal(err)
	}
	out := map[string]verdict{}
	for _, kv := range resp.Kvs {
		var v verdict
		if err := json.Unmarshal(kv.Value, &v); err != nil {
			s.t.Fatalf("%s: %v", kv.Key, err)
		}
		v.mod = kv.ModRevision
		out[strings.TrimPrefix(string(kv.Key), prefix+"/health/")] = v
	}
	return out
}

type verdict struct {
	Status string `json:"status"`
	Reason string `json:"reason"`
	mod    int64
}

func (s *replicaSet) waitVerdicts(timeout time.Duration, want map[string]string) {
	s.t.Helper()
	harness.Eventually(s.t, timeout, 20*time.Millisecond, func() error {
		got := map[string]string{}
		for name, v := range s.verdicts() {
			got[name] = v.Status
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("verdicts %v, want %v", got, want)
		}
		return nil
	})
}

// fleet reads the fleet view as chanceryctl status does.
func (s *replicaSet) fleet() *clusterfleet.View {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := clusterfleet.Read(ctx, s.cli, storage.NewKeyspace(prefix))
	if err != nil {
		s.t.Fatal(err)
	}
	return f
}

func fleetTable(t *testing.T, f *clusterfleet.View) string {
	t.Helper()
	var b bytes.Buffer
	if err := clusterfleet.WriteTable(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// Three replicas on a real etcd: exactly one leads. SIGKILL it: another
// leads within the session TTL, and not one verdict changes on the way.
func TestLeaderFailoverKeepsVerdicts(t *testing.T) {
	s := newReplicaSet(t, 3, "up1", "up2", "up3")
	s.web("500ms", 2)
	host, _ := s.up["up1"].Addr()
	s.put("endpoints/web/dead", map[string]any{"address": host, "port": harness.FreePort(t)})
	old := s.waitLeader(20*time.Second, 50*time.Millisecond)
	s.waitVerdicts(20*time.Second, map[string]string{"web/up1": "healthy", "web/up2": "healthy", "web/up3": "healthy", "web/dead": "unhealthy"})
	for range 10 { // exactly one, not just at one instant
		if l, err := s.leader(); err != nil || l != old {
			t.Fatalf("leader moved without a failure: %v, %v", l, err)
		}
	}
	before := s.verdicts()

	old.Kill()
	killed := time.Now()
	next := s.waitLeader(sessionTTL+10*time.Second, 10*time.Millisecond)
	took := time.Since(killed)
	t.Logf("SIGKILL of leader %s -> %s leads after %v (--session-ttl %v)", old.ReplicaID(), next.ReplicaID(), took.Round(time.Millisecond), sessionTTL)
	// etcd expires leases in a sweep every 500ms; the metric is polled.
	if took > sessionTTL+time.Second {
		t.Errorf("failover took %v, want within the session TTL %v (+ etcd's expiry sweep)", took, sessionTTL)
	}

	// Let the new leader check every endpoint several times, then compare.
	checks := metric(t, next, "chancery_health_checks_total", nil)
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		if got := metric(t, next, "chancery_health_checks_total", nil); got < checks+4*4 {
			return fmt.Errorf("new leader has run %v checks", got-checks)
		}
		return nil
	})
	after := s.verdicts()
	for name, b := range before {
		if a, ok := after[name]; !ok || a.mod != b.mod {
			t.Errorf("health/%s changed across the failover: %+v -> %+v", name, b, a)
		}
	}
	if len(after) != len(before) {
		t.Errorf("%d verdicts before the failover, %d after", len(before), len(after))
	}
	if n := metric(t, next, "chancery_health_transitions_total", nil); n != 0 {
		t.Errorf("the new leader made %v transitions, want 0", n)
	}
}

// hostStats returns Envoy's per-host counters of one upstream in cluster web.
func hostStats(t *testing.T, e *harness.Envoy, u *harness.Upstream) (stats map[string]int64, flags string) {
	t.Helper()
	_, port := u.Addr()
	pfx := "web::127.0.0.1:" + strconv.Itoa(port) + "::"
	stats = map[string]int64{}
	for _, line := range strings.Split(e.Clusters(t), "\n") {
		rest, ok := strings.CutPrefix(line, pfx)
		if !ok {
			continue
		}
		k, v, _ := strings.Cut(rest, "::")
		if k == "health_flags" {
			flags = v
		} else if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			stats[k] = n
		}
	}
	return stats, flags
}

// claJSON is the part of a ClusterLoadAssignment, as protojson writes it,
// that says which endpoint has which health status.
type claJSON struct {
	ClusterName string `json:"clusterName"`
	Endpoints   []struct {
		LbEndpoints []struct {
			Endpoint struct {
				Address struct{ SocketAddress struct{ PortValue int } }
			}
			HealthStatus string
		}
	}
}

// edsHealth returns, per endpoint port of cluster web, the health_status a
// replica serves to group edge.
func edsHealth(t *testing.T, r *harness.Chancery) map[int]string {
	t.Helper()
	var snap struct {
		Resources map[string][]json.RawMessage `json:"resources"`
	}
	if err := json.Unmarshal(r.Get(t, "/debug/snapshot?group=edge"), &snap); err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, raw := range snap.Resources["endpoints"] {
		var cla claJSON
		if err := json.Unmarshal(raw, &cla); err != nil {
			t.Fatal(err)
		}
		for _, loc := range cla.Endpoints {
			for _, ep := range loc.LbEndpoints {
				if cla.ClusterName == "web" {
					out[ep.Endpoint.Address.SocketAddress.PortValue] = ep.HealthStatus
				}
			}
		}
	}
	return out
}

// A real Envoy with real upstreams: stop one, and within interval ×
// unhealthy threshold plus propagation Envoy sends it nothing; start it
// again and traffic returns. Requests that meet the dead upstream before
// the verdict are retried by Envoy (connect-failure), so none fails.
func TestStoppedUpstreamLeavesEnvoy(t *testing.T) {
	const interval, threshold = time.Second, 2
	s := newReplicaSet(t, 2, "up1", "up2", "up3")
	s.web(interval.String(), threshold)
	envoy := s.startEnvoy("envoy-1", s.replicas...)
	s.waitVerdicts(20*time.Second, map[string]string{"web/up1": "healthy", "web/up2": "healthy", "web/up3": "healthy"})
	url := fmt.Sprintf("http://127.0.0.1:%d/", s.port)
	var sent, failed int
	request := func() string {
		sent++
		st, body, err := harness.HTTPGet(url, "")
		if err != nil || st != 200 {
			failed++
			t.Logf("request %d failed: %d %q %v", sent, st, body, err)
		}
		return body
	}
	reached := func(name string) func() error {
		return func() error {
			if request() != name {
				return fmt.Errorf("no answer from %s yet", name)
			}
			return nil
		}
	}
	harness.Eventually(t, 20*time.Second, time.Millisecond, reached("up2"))

	dead := s.up["up2"]
	_, deadPort := dead.Addr()
	dead.Close()
	stopped := time.Now()
	var inEtcd, inEnvoy time.Duration
	harness.Eventually(t, 30*time.Second, time.Millisecond, func() error {
		request()
		if inEtcd == 0 && s.verdicts()["web/up2"].Status == "unhealthy" {
			inEtcd = time.Since(stopped)
		}
		if _, flags := hostStats(t, envoy, dead); inEnvoy == 0 && strings.Contains(flags, "failed_eds_health") {
			inEnvoy = time.Since(stopped)
		}
		if inEtcd == 0 || inEnvoy == 0 {
			return errors.New("up2 is still in rotation")
		}
		return nil
	})
	detecting, retried := sent, envoyStat(t, envoy, "cluster.web.upstream_rq_retry")
	for _, r := range s.replicas {
		if got := edsHealth(t, r)[deadPort]; got != "UNHEALTHY" {
			t.Errorf("replica %s serves up2 as %q, want UNHEALTHY", r.ReplicaID(), got)
		}
	}
	before, _ := hostStats(t, envoy, dead)
	for range 300 {
		request()
	}
	after, _ := hostStats(t, envoy, dead)
	for _, k := range []string{"cx_total", "cx_connect_fail", "rq_total"} {
		if after[k] != before[k] {
			t.Errorf("Envoy still sends to the stopped upstream: %s %d -> %d over 300 requests", k, before[k], after[k])
		}
	}

	dead.Restart()
	restarted := time.Now()
	harness.Eventually(t, 30*time.Second, time.Millisecond, reached("up2"))
	back := time.Since(restarted)
	t.Logf("interval %v, unhealthy threshold %d: verdict in etcd %v and in Envoy %v after the stop; back in rotation %v after the restart",
		interval, threshold, inEtcd.Round(time.Millisecond), inEnvoy.Round(time.Millisecond), back.Round(time.Millisecond))
	t.Logf("requests: %d while the stop was being detected, %d in all; failed %d; retried by Envoy %d",
		detecting, sent, failed, retried)
	if failed != 0 {
		t.Errorf("%d of %d requests failed while healthy endpoints remained", failed, sent)
	}
	// Each check may come up to a tenth of an interval late (jitter).
	if limit := time.Duration(float64(interval*threshold)*1.1) + time.Second; inEnvoy > limit {
		t.Errorf("Envoy stopped using the upstream %v after it stopped, want within %v", inEnvoy, limit)
	}
}

func envoyStat(t *testing.T, e *harness.Envoy, name string) int64 {
	t.Helper()
	v, _ := e.Stat(t, name)
	return v
}

// The fleet view (chanceryctl status): every Envoy SYNCED after a change; a
// client that NACKs on purpose NACKED with its error; an Envoy whose replica
// is killed shows under its new replica once it has reconnected.
func TestFleetStatus(t *testing.T) {
	s := newReplicaSet(t, 3, "up1")
	s.web("1s", 3)
	r1, r2, r3 := s.replicas[0], s.replicas[1], s.replicas[2]
	s.startEnvoy("envoy-1", r1)
	s.startEnvoy("envoy-2", r2)
	s.startEnvoy("envoy-3", r3, r2)
	const nackMsg = "listener refused on purpose by the test"
	nacker, err := xdsclient.Dial(r1.XDSAddress(), xdsclient.Options{NodeID: "nacker", Group: "edge",
		Nack: map[string]bool{resourcev3.ListenerType: true}, NackMessage: nackMsg})
	if err != nil {
		t.Fatal(err)
	}
	defer nacker.Close()

	s.put("routes/web", routeTable(directRoute("/v2", 200, "v2"), route("/", "web")))
	var f *clusterfleet.View
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		f = s.fleet()
		want := versions(t, r1)["edge"]["routes"]
		states := map[string]string{}
		for _, e := range f.Envoys {
			for _, ts := range e.Sync {
				states[e.NodeID+" "+ts.Type] = string(ts.State)
				if ts.Type == "routes" && ts.Current != want {
					return fmt.Errorf("current routes version %s, replica r1 serves %s", ts.Current, want)
				}
			}
			if e.NodeID == "nacker" && !strings.Contains(e.Sync[2].NackError, nackMsg) {
				return fmt.Errorf("nacker's listeners error %q", e.Sync[2].NackError)
			}
		}
		for _, node := range []string{"envoy-1", "envoy-2", "envoy-3", "nacker"} {
			for _, typ := range clusterfleet.Types {
				want := "SYNCED"
				if node == "nacker" && typ == "listeners" {
					want = "NACKED"
				}
				if got := states[node+" "+typ]; got != want {
					return fmt.Errorf("%s %s is %q, want %s", node, typ, got, want)
				}
			}
		}
		return nil
	})
	t.Logf("after a route change:\n%s", fleetTable(t, f))

	gone := rows(f, "envoy-3")[0].Replica
	for _, r := range s.replicas {
		if r.ReplicaID() == gone {
			r.Kill()
		}
	}
	harness.Eventually(t, sessionTTL+20*time.Second, 50*time.Millisecond, func() error {
		f = s.fleet()
		rs := rows(f, "envoy-3")
		if len(rs) != 1 {
			return fmt.Errorf("envoy-3 listed %d times", len(rs))
		}
		if rs[0].Replica == gone {
			return fmt.Errorf("envoy-3 still under the killed replica %s", gone)
		}
		for _, ts := range rs[0].Sync {
			if ts.State != clusterfleet.Synced {
				return fmt.Errorf("envoy-3 %s is %s", ts.Type, ts.State)
			}
		}
		return nil
	})
	t.Logf("after replica %s was killed:\n%s", gone, fleetTable(t, f))
	for _, r := range f.Replicas {
		if r.ID == gone {
			t.Errorf("the killed replica %s is still registered", gone)
		}
	}
}

// rows returns the fleet's lines for one node.
func rows(f *clusterfleet.View, node string) []clusterfleet.EnvoyStatus {
	var out []clusterfleet.EnvoyStatus
	for _, e := range f.Envoys {
		if e.NodeID == node {
			out = append(out, e)
		}
	}
	return out
}
