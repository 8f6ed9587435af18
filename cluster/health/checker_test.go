package health_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

func reasonOf(t *testing.T, cli *clientv3.Client, name string) string {
	t.Helper()
	x := clustertest.GetPrefix(t, cli, "health/")[name]
	if x == nil {
		t.Fatalf("no verdict for %s", name)
	}
	var h model.Health
	if err := json.Unmarshal([]byte(x.Value), &h); err != nil {
		t.Fatal(err)
	}
	return h.Reason
}

// HTTP, TCP and gRPC checks each take an endpoint out and back in, after
// their thresholds, and only the transitions are written.
func TestHealthChecksWriteOnlyTransitions(t *testing.T) {
	e, cli := etcdtest.Start(t)
	web, db, rpc := clustertest.StartHTTPTarget(t), clustertest.StartTCPTarget(t), clustertest.StartGRPCTarget(t)
	rpc.Set(true)
	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": clustertest.FastCheck("http")})
	clustertest.Put(t, cli, "services/db", map[string]any{"protocol": "tcp", "health_check": clustertest.FastCheck("tcp")})
	clustertest.Put(t, cli, "services/rpc", map[string]any{"protocol": "grpc", "health_check": clustertest.FastCheck("grpc")})
	clustertest.Put(t, cli, "endpoints/web/a", clustertest.EndpointJSON(t, web.Addr()))
	clustertest.Put(t, cli, "endpoints/db/a", clustertest.EndpointJSON(t, db.Addr))
	clustertest.Put(t, cli, "endpoints/rpc/a", clustertest.EndpointJSON(t, rpc.Addr))
	n := clustertest.StartNode(t, e, "r1", clustertest.NodeOptions{})

	healthy := map[string]string{"web/a": model.Healthy, "db/a": model.Healthy, "rpc/a": model.Healthy}
	clustertest.WaitVerdicts(t, cli, healthy)

	web.Status.Store(http.StatusServiceUnavailable)
	db.Close()
	rpc.Set(false)
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/a": model.Unhealthy, "db/a": model.Unhealthy, "rpc/a": model.Unhealthy})
	for name, want := range map[string]string{"web/a": "HTTP 503 from /healthz", "db/a": "connection refused", "rpc/a": "NOT_SERVING"} {
		if got := reasonOf(t, cli, name); !strings.Contains(got, want) || !strings.Contains(got, "2 consecutive checks failed") {
			t.Errorf("%s: reason %q, want it to say %q after 2 failed checks", name, got, want)
		}
	}

	web.Status.Store(http.StatusOK)
	db.Reopen()
	rpc.Set(true)
	clustertest.WaitVerdicts(t, cli, healthy)

	// Many more checks pass; none of them rewrites a verdict that stands.
	checks := clustertest.Metric(t, n.Reg, "chancery_health_checks_total", nil)
	clustertest.Eventually(t, 10*time.Second, func() error {
		if got := clustertest.Metric(t, n.Reg, "chancery_health_checks_total", nil); got < checks+18 {
			return fmt.Errorf("%v checks since the endpoints recovered, want 18", got-checks)
		}
		return nil
	})
	for name, x := range clustertest.GetPrefix(t, cli, "health/") {
		if x.Version != 3 {
			t.Errorf("health/%s written %d times, want 3 (healthy, unhealthy, healthy)", name, x.Version)
		}
	}
	if got := clustertest.Metric(t, n.Reg, "chancery_health_transitions_total", nil); got != 9 {
		t.Errorf("%v transitions counted, want 9", got)
	}
}

// expected_statuses replaces "any 2xx"; http2 and grpc services are checked
// over HTTP/2 without TLS, which an HTTP/1-only check could not reach.
func TestHTTPCheckOptions(t *testing.T) {
	e, cli := etcdtest.Start(t)
	plain := clustertest.StartHTTPTarget(t) // answers 200
	h2c := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			w.WriteHeader(http.StatusHTTPVersionNotSupported)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	h2c.Config.Protocols = new(http.Protocols)
	h2c.Config.Protocols.SetUnencryptedHTTP2(true)
	h2c.Start()
	t.Cleanup(h2c.Close)

	want204 := clustertest.FastCheck("http")
	want204["expected_statuses"] = []int{204}
	clustertest.Put(t, cli, "services/strict", map[string]any{"protocol": "http", "health_check": want204})
	clustertest.Put(t, cli, "endpoints/strict/a", clustertest.EndpointJSON(t, plain.Addr()))
	clustertest.Put(t, cli, "services/h2", map[string]any{"protocol": "http2", "health_check": clustertest.FastCheck("http")})
	clustertest.Put(t, cli, "endpoints/h2/a", clustertest.EndpointJSON(t, h2c.Listener.Addr().String()))
	clustertest.StartNode(t, e, "r1", clustertest.NodeOptions{})

	clustertest.WaitVerdicts(t, cli, map[string]string{"strict/a": model.Unhealthy, "h2/a": model.Healthy})
	if got := reasonOf(t, cli, "strict/a"); !strings.Contains(got, "HTTP 200") {
		t.Errorf("strict/a: reason %q, want it to name the 200 that was not expected", got)
	}
}

// A new leader takes the verdicts in etcd as its starting point: checks that
// agree with them write nothing, so a failover flaps nothing.
func TestLeaderStartsFromVerdictsInEtcd(t *testing.T) {
	e, cli := etcdtest.Start(t)
	live := clustertest.StartHTTPTarget(t)
	dead := refusedAddr(t)
	hc := clustertest.FastCheck("http")
	hc["interval"], hc["timeout"], hc["unhealthy_threshold"] = "100ms", "100ms", 3
	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": hc})
	clustertest.Put(t, cli, "endpoints/web/live", clustertest.EndpointJSON(t, live.Addr()))
	clustertest.Put(t, cli, "endpoints/web/dead", clustertest.EndpointJSON(t, dead))
	since := time.Now().Add(-time.Hour).UTC()
	clustertest.Put(t, cli, "health/web/live", model.Health{Status: model.Healthy, Since: since})
	clustertest.Put(t, cli, "health/web/dead", model.Health{Status: model.Unhealthy, Since: since, Reason: "written before"})
	before := clustertest.GetPrefix(t, cli, "health/")

	n := clustertest.StartNode(t, e, "r1", clustertest.NodeOptions{})
	clustertest.Eventually(t, 10*time.Second, func() error {
		if got := clustertest.Metric(t, n.Reg, "chancery_health_checks_total", nil); got < 20 {
			return fmt.Errorf("%v checks so far, want 20 (several times each threshold)", got)
		}
		return nil
	})
	after := clustertest.GetPrefix(t, cli, "health/")
	for name, b := range before {
		if a := after[name]; a == nil || a.Mod != b.Mod {
			t.Errorf("health/%s rewritten by the new leader: before %+v, after %+v", name, b, a)
		}
	}
	if got := clustertest.Metric(t, n.Reg, "chancery_health_transitions_total", nil); got != 0 {
		t.Errorf("%v transitions, want 0", got)
	}
}

// Verdicts go with their endpoints, and with the health check of their
// service; a service that is rejected for now keeps its endpoints' verdicts,
// so fixing it flaps nothing.
func TestVerdictsFollowEndpoints(t *testing.T) {
	e, cli := etcdtest.Start(t)
	a, b := clustertest.StartTCPTarget(t), clustertest.StartTCPTarget(t)
	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "tcp", "health_check": clustertest.FastCheck("tcp")})
	clustertest.Put(t, cli, "endpoints/web/a", clustertest.EndpointJSON(t, a.Addr))
	clustertest.Put(t, cli, "endpoints/web/b", clustertest.EndpointJSON(t, b.Addr))
	clustertest.Put(t, cli, "services/plain", map[string]any{"protocol": "tcp"})
	clustertest.Put(t, cli, "endpoints/plain/x", clustertest.EndpointJSON(t, a.Addr))
	clustertest.Put(t, cli, "health/plain/x", model.Health{Status: model.Unhealthy, Since: time.Now().UTC()})
	clustertest.Put(t, cli, "health/web/ghost", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	clustertest.Put(t, cli, "health/web/garbled", "{not json")
	clustertest.StartNode(t, e, "r1", clustertest.NodeOptions{})

	// Stray verdicts (no endpoint, no check, unreadable) go; checked ones come.
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/a": model.Healthy, "web/b": model.Healthy})
	clustertest.Del(t, cli, "endpoints/web/b")
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/a": model.Healthy})
	kept := clustertest.GetPrefix(t, cli, "health/")["web/a"]

	clustertest.Put(t, cli, "services/web", `{"protocol":"tcp","health_check":{"type":"tcp","interval":"soon"}}`)
	clustertest.Put(t, cli, "health/web/marker", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/a": model.Healthy}) // the marker went: the rejection was seen
	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "tcp", "health_check": clustertest.FastCheck("tcp")})
	clustertest.Put(t, cli, "health/web/marker", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	clustertest.WaitVerdicts(t, cli, map[string]string{"web/a": model.Healthy})
	if got := clustertest.GetPrefix(t, cli, "health/")["web/a"]; got.Mod != kept.Mod {
		t.Errorf("health/web/a rewritten while its service was rejected and fixed: %+v -> %+v", kept, got)
	}

	clustertest.Put(t, cli, "services/web", map[string]any{"protocol": "tcp"})
	clustertest.WaitVerdicts(t, cli, map[string]string{})
}

// refusedAddr is a loopback address nothing listens on.
func refusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
