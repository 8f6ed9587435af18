package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// zoneBootstrap is what an Envoy's bootstrap needs for zone failover (see
// docs/locality.md): its zone, and a local cluster that places it there.
// The local cluster is never sent traffic; Envoy's zone-aware routing
// reads only its locality. Given to Envoy as --config-yaml, merged into
// the harness's bootstrap.
func zoneBootstrap(zone string) string {
	return fmt.Sprintf(`{"node":{"locality":{"zone":%q}},"cluster_manager":{"local_cluster_name":"chancery_local"},`+
		`"static_resources":{"clusters":[{"name":"chancery_local","type":"STATIC","load_assignment":{"cluster_name":"chancery_local",`+
		`"endpoints":[{"locality":{"zone":%q},"lb_endpoints":[{"endpoint":{"address":{"socket_address":{"address":"127.0.0.1","port_value":1}}}}]}]}}]}}`,
		zone, zone)
}

// sample is one request of the traffic loop.
type sample struct {
	at       time.Time
	upstream string // the body: the upstream's name; "" on failure
	failed   string // why it failed; "" if it answered 200
}

// trafficLog sends requests one after another until stopped (or after
// maxSamples), recording each.
type trafficLog struct {
	mu      sync.Mutex
	samples []sample
	stop    chan struct{}
	done    chan struct{}
}

const maxSamples = 200_000

func startTrafficLog(url string) *trafficLog {
	l := &trafficLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		for range maxSamples {
			select {
			case <-l.stop:
				return
			default:
			}
			st, body, err := harness.HTTPGet(url, "")
			s := sample{at: time.Now(), upstream: body}
			switch {
			case err != nil:
				s.upstream, s.failed = "", err.Error()
			case st != 200:
				s.upstream, s.failed = "", fmt.Sprintf("status %d: %q", st, body)
			}
			l.mu.Lock()
			l.samples = append(l.samples, s)
			l.mu.Unlock()
		}
	}()
	return l
}

func (l *trafficLog) finish() []sample {
	close(l.stop)
	<-l.done
	return l.samples
}

// count counts the samples in [from, to) by upstream ("" for failures).
func count(samples []sample, from, to time.Time) map[string]int {
	out := map[string]int{}
	for _, s := range samples {
		if !s.at.Before(from) && s.at.Before(to) {
			out[s.upstream]++
		}
	}
	return out
}

// envoyHealth returns the health_flags Envoy's /clusters lists for the
// endpoint at port of cluster web.
func envoyHealth(t *testing.T, e *harness.Envoy, port int) string {
	prefix := "web::127.0.0.1:" + strconv.Itoa(port) + "::health_flags::"
	for _, line := range strings.Split(e.Clusters(t), "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			return v
		}
	}
	return ""
}

// Zone failover with real Envoy and the leader's health checks: an Envoy
// in zone a sends everything to zone a's endpoints; with one of them
// unhealthy, everything to the other (the zone keeps its traffic while it
// has min_healthy, 1, healthy endpoints); with both unhealthy, everything
// to zone b; when a's come back, everything to a again. The upstreams keep
// answering 200 on / while their /healthz says 503 (they ask to leave
// rotation), so no request may fail, and none does: the route's retries
// (5xx,connect-failure, 2) are not even needed, which Envoy's retry
// counter shows.
func TestLocalityZoneFailover(t *testing.T) {
	etcd := harness.StartEtcd(t)
	r := harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "a", EtcdEndpoints: []string{etcd.Endpoint()}})
	put := func(key string, spec any) {
		t.Helper()
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatal(err)
		}
		harness.MustEtcdctl(t, etcd.Endpoint(), "put", prefix+"/"+key, string(b))
	}
	ups := map[string]*harness.HealthUpstream{}
	for _, name := range []string{"a1", "a2", "b1", "b2"} {
		u := harness.StartHealthUpstream(t, name, "/healthz")
		ups[name] = u
		host, port := u.Addr()
		put("endpoints/web/"+name, map[string]any{"address": host, "port": port, "zone": name[:1]})
	}
	put("services/web", map[string]any{"protocol": "http",
		"health_check": map[string]any{"type": "http", "path": "/healthz", "interval": "200ms", "timeout": "150ms",
			"healthy_threshold": 1, "unhealthy_threshold": 1},
		"locality": map[string]any{"failover": "zone"}})
	r1 := route("/", "web")
	r1["retries"] = map[string]any{"retry_on": "5xx,connect-failure", "num_retries": 2}
	put("routes/web", routeTable(r1))
	port := harness.FreePort(t)
	put("listeners/main", map[string]any{"address": "127.0.0.1", "port": port, "protocol": "http", "route_table": "web", "groups": []string{"edge"}})
	plainPort := harness.FreePort(t)
	put("listeners/plain", map[string]any{"address": "127.0.0.1", "port": plainPort, "protocol": "http", "route_table": "web", "groups": []string{"plain"}})

	envoy := harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-zone-a", Group: "edge", XDSAddresses: []string{r.XDSAddress()},
		Delta: true, ExtraArgs: []string{"--config-yaml", zoneBootstrap("a")}})
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	portOf := func(name string) int { _, p := ups[name].Addr(); return p }
	// waitFlags waits until Envoy lists each named endpoint with flags
	// containing want, and returns when it saw that.
	waitFlags := func(want string, names ...string) time.Time {
		t.Helper()
		harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
			for _, n := range names {
				if got := envoyHealth(t, envoy, portOf(n)); !strings.Contains(got, want) {
					return fmt.Errorf("endpoint %s: Envoy's health flags %q, want %q", n, got, want)
				}
			}
			return nil
		})
		return time.Now()
	}
	// Every endpoint healthy by the leader's checks, as Envoy sees it.
	waitFlags("healthy", "a1", "a2", "b1", "b2")

	// An Envoy without a zone in its bootstrap gets the same cluster and
	// balances over every zone.
	plain := harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-no-zone", Group: "plain", XDSAddresses: []string{r.XDSAddress()}, Delta: true})
	plainSpread := map[string]int{}
	harness.Eventually(t, 20*time.Second, time.Millisecond, func() error {
		if st, body, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d/", plainPort), ""); err == nil && st == 200 {
			plainSpread[body]++
		}
		if len(plainSpread) < 4 {
			return fmt.Errorf("the Envoy without a zone reached %v, want all four endpoints", plainSpread)
		}
		return nil
	})
	plain.Stop()

	// settle is how long after Envoy lists a change its workers may still
	// route by the old one (a request in flight, the update's hand-off).
	const settle = 500 * time.Millisecond
	const phase = 1500 * time.Millisecond // traffic per phase, hundreds of requests on loopback
	traffic := startTrafficLog(url)
	start := time.Now()
	time.Sleep(phase)

	ups["a1"].SetHealthy(false)
	a1Flip := time.Now()
	a1Down := waitFlags("/failed_eds_health", "a1")
	time.Sleep(phase)

	ups["a2"].SetHealthy(false)
	a2Flip := time.Now()
	aDown := waitFlags("/failed_eds_health", "a2")
	time.Sleep(phase)

	ups["a1"].SetHealthy(true)
	ups["a2"].SetHealthy(true)
	restoreFlip := time.Now()
	aUp := waitFlags("healthy", "a1", "a2")
	time.Sleep(phase)
	samples := traffic.finish()
	end := time.Now()

	all := count(samples, start, end)
	healthy := count(samples, start, a1Flip)
	oneDown := count(samples, a1Down.Add(settle), a2Flip)
	zoneDown := count(samples, aDown.Add(settle), restoreFlip)
	restored := count(samples, aUp.Add(settle), end)
	retries, _ := envoy.Stat(t, "cluster.web.upstream_rq_retry")
	firstB := time.Time{}
	for _, s := range samples {
		if strings.HasPrefix(s.upstream, "b") {
			firstB = s.at
			break
		}
	}
	t.Logf("Envoy without a zone: %v", plainSpread)
	t.Logf("%d requests: all healthy %v; a1 unhealthy %v; zone a unhealthy %v; a back %v; failed %d, Envoy retries %d; "+
		"a1 verdict in Envoy %v after its /healthz failed, a2's %v, first request to zone b %v after a2's /healthz failed, a back in Envoy %v after",
		len(samples), healthy, oneDown, zoneDown, restored, all[""], retries,
		a1Down.Sub(a1Flip).Round(time.Millisecond), aDown.Sub(a2Flip).Round(time.Millisecond),
		firstB.Sub(a2Flip).Round(time.Millisecond), aUp.Sub(restoreFlip).Round(time.Millisecond))

	for _, s := range samples {
		if s.failed != "" {
			t.Errorf("request at +%v failed: %s", s.at.Sub(start).Round(time.Millisecond), s.failed)
		}
	}
	if retries != 0 {
		t.Errorf("Envoy retried %d requests: the upstreams answered 200 throughout, want 0", retries)
	}
	// Nothing reaches zone b while zone a has a healthy endpoint.
	if b := count(samples, start, a2Flip); b["b1"]+b["b2"] != 0 {
		t.Errorf("zone b got requests while zone a had a healthy endpoint: %v", b)
	}
	const least = 50 // requests per phase; a phase sends hundreds
	checks := []struct {
		what  string
		got   map[string]int
		only  []string // every request goes to one of these
		reach []string // and each of these gets some
	}{
		{"all healthy", healthy, []string{"a1", "a2"}, []string{"a1", "a2"}},
		{"a1 unhealthy", oneDown, []string{"a2"}, []string{"a2"}},
		{"zone a unhealthy", zoneDown, []string{"b1", "b2"}, []string{"b1", "b2"}},
		{"zone a healthy again", restored, []string{"a1", "a2"}, []string{"a1", "a2"}},
	}
	for _, c := range checks {
		n, in := 0, 0
		for up, k := range c.got {
			n += k
			if slices.Contains(c.only, up) {
				in += k
			}
		}
		if n < least || in != n {
			t.Errorf("%s: %v, want at least %d requests, all to %v", c.what, c.got, least, c.only)
		}
		for _, up := range c.reach {
			if c.got[up] == 0 {
				t.Errorf("%s: %v, want requests to %s too", c.what, c.got, up)
			}
		}
	}
	// The switch follows the leader's verdicts: each within a few check
	// intervals (200ms) plus the push, generous with both cores busy.
	for what, d := range map[string]time.Duration{"a1 verdict": a1Down.Sub(a1Flip), "zone a verdict": aDown.Sub(a2Flip), "zone a back": aUp.Sub(restoreFlip)} {
		if d > 10*time.Second {
			t.Errorf("%s reached Envoy %v after the /healthz change, want within 10s", what, d)
		}
	}
}
