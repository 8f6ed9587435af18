package cluster_test

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

	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// fastCheck is a health_check spec that decides within a second, with
// timeouts loose enough for a loaded CI machine (a gRPC check dials first).
func fastCheck(typ string) map[string]any {
	hc := map[string]any{"type": typ, "interval": "250ms", "timeout": "250ms", "healthy_threshold": 2, "unhealthy_threshold": 2}
	if typ == "http" {
		hc["path"] = "/healthz"
	}
	return hc
}

func waitVerdicts(t *testing.T, cli *clientv3.Client, want map[string]string) {
	t.Helper()
	eventually(t, 10*time.Second, func() error {
		if got := verdicts(t, cli); fmt.Sprint(got) != fmt.Sprint(want) {
			return fmt.Errorf("verdicts %v, want %v", got, want)
		}
		return nil
	})
}

func reasonOf(t *testing.T, cli *clientv3.Client, name string) string {
	t.Helper()
	x := getPrefix(t, cli, "health/")[name]
	if x == nil {
		t.Fatalf("no verdict for %s", name)
	}
	var h model.Health
	if err := json.Unmarshal([]byte(x.value), &h); err != nil {
		t.Fatal(err)
	}
	return h.Reason
}

// HTTP, TCP and gRPC checks each take an endpoint out and back in, after
// their thresholds, and only the transitions are written.
func TestHealthChecksWriteOnlyTransitions(t *testing.T) {
	e, cli := etcdtest.Start(t)
	web, db, rpc := startHTTPTarget(t), startTCPTarget(t), startGRPCTarget(t)
	rpc.set(true)
	put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": fastCheck("http")})
	put(t, cli, "services/db", map[string]any{"protocol": "tcp", "health_check": fastCheck("tcp")})
	put(t, cli, "services/rpc", map[string]any{"protocol": "grpc", "health_check": fastCheck("grpc")})
	put(t, cli, "endpoints/web/a", endpointJSON(t, web.addr()))
	put(t, cli, "endpoints/db/a", endpointJSON(t, db.addr))
	put(t, cli, "endpoints/rpc/a", endpointJSON(t, rpc.addr))
	n := startNode(t, e, "r1", nodeOptions{})

	healthy := map[string]string{"web/a": model.Healthy, "db/a": model.Healthy, "rpc/a": model.Healthy}
	waitVerdicts(t, cli, healthy)

	web.status.Store(http.StatusServiceUnavailable)
	db.close()
	rpc.set(false)
	waitVerdicts(t, cli, map[string]string{"web/a": model.Unhealthy, "db/a": model.Unhealthy, "rpc/a": model.Unhealthy})
	for name, want := range map[string]string{"web/a": "HTTP 503 from /healthz", "db/a": "connection refused", "rpc/a": "NOT_SERVING"} {
		if got := reasonOf(t, cli, name); !strings.Contains(got, want) || !strings.Contains(got, "2 consecutive checks failed") {
			t.Errorf("%s: reason %q, want it to say %q after 2 failed checks", name, got, want)
		}
	}

	web.status.Store(http.StatusOK)
	db.reopen()
	rpc.set(true)
	waitVerdicts(t, cli, healthy)

	// Many more checks pass; none of them rewrites a verdict that stands.
	checks := metric(t, n.reg, "chancery_health_checks_total", nil)
	eventually(t, 10*time.Second, func() error {
		if got := metric(t, n.reg, "chancery_health_checks_total", nil); got < checks+18 {
			return fmt.Errorf("%v checks since the endpoints recovered, want 18", got-checks)
		}
		return nil
	})
	for name, x := range getPrefix(t, cli, "health/") {
		if x.version != 3 {
			t.Errorf("health/%s written %d times, want 3 (healthy, unhealthy, healthy)", name, x.version)
		}
	}
	if got := metric(t, n.reg, "chancery_health_transitions_total", nil); got != 9 {
		t.Errorf("%v transitions counted, want 9", got)
	}
}

// expected_statuses replaces "any 2xx"; http2 and grpc services are checked
// over HTTP/2 without TLS, which an HTTP/1-only check could not reach.
func TestHTTPCheckOptions(t *testing.T) {
	e, cli := etcdtest.Start(t)
	plain := startHTTPTarget(t) // answers 200
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

	want204 := fastCheck("http")
	want204["expected_statuses"] = []int{204}
	put(t, cli, "services/strict", map[string]any{"protocol": "http", "health_check": want204})
	put(t, cli, "endpoints/strict/a", endpointJSON(t, plain.addr()))
	put(t, cli, "services/h2", map[string]any{"protocol": "http2", "health_check": fastCheck("http")})
	put(t, cli, "endpoints/h2/a", endpointJSON(t, h2c.Listener.Addr().String()))
	startNode(t, e, "r1", nodeOptions{})

	waitVerdicts(t, cli, map[string]string{"strict/a": model.Unhealthy, "h2/a": model.Healthy})
	if got := reasonOf(t, cli, "strict/a"); !strings.Contains(got, "HTTP 200") {
		t.Errorf("strict/a: reason %q, want it to name the 200 that was not expected", got)
	}
}

// A new leader takes the verdicts in etcd as its starting point: checks that
// agree with them write nothing, so a failover flaps nothing.
func TestLeaderStartsFromVerdictsInEtcd(t *testing.T) {
	e, cli := etcdtest.Start(t)
	live := startHTTPTarget(t)
	dead := refusedAddr(t)
	hc := fastCheck("http")
	hc["interval"], hc["timeout"], hc["unhealthy_threshold"] = "100ms", "100ms", 3
	put(t, cli, "services/web", map[string]any{"protocol": "http", "health_check": hc})
	put(t, cli, "endpoints/web/live", endpointJSON(t, live.addr()))
	put(t, cli, "endpoints/web/dead", endpointJSON(t, dead))
	since := time.Now().Add(-time.Hour).UTC()
	put(t, cli, "health/web/live", model.Health{Status: model.Healthy, Since: since})
	put(t, cli, "health/web/dead", model.Health{Status: model.Unhealthy, Since: since, Reason: "written before"})
	before := getPrefix(t, cli, "health/")

	n := startNode(t, e, "r1", nodeOptions{})
	eventually(t, 10*time.Second, func() error {
		if got := metric(t, n.reg, "chancery_health_checks_total", nil); got < 20 {
			return fmt.Errorf("%v checks so far, want 20 (several times each threshold)", got)
		}
		return nil
	})
	after := getPrefix(t, cli, "health/")
	for name, b := range before {
		if a := after[name]; a == nil || a.mod != b.mod {
			t.Errorf("health/%s rewritten by the new leader: before %+v, after %+v", name, b, a)
		}
	}
	if got := metric(t, n.reg, "chancery_health_transitions_total", nil); got != 0 {
		t.Errorf("%v transitions, want 0", got)
	}
}

// Verdicts go with their endpoints, and with the health check of their
// service; a service that is rejected for now keeps its endpoints' verdicts,
// so fixing it flaps nothing.
func TestVerdictsFollowEndpoints(t *testing.T) {
	e, cli := etcdtest.Start(t)
	a, b := startTCPTarget(t), startTCPTarget(t)
	put(t, cli, "services/web", map[string]any{"protocol": "tcp", "health_check": fastCheck("tcp")})
	put(t, cli, "endpoints/web/a", endpointJSON(t, a.addr))
	put(t, cli, "endpoints/web/b", endpointJSON(t, b.addr))
	put(t, cli, "services/plain", map[string]any{"protocol": "tcp"})
	put(t, cli, "endpoints/plain/x", endpointJSON(t, a.addr))
	put(t, cli, "health/plain/x", model.Health{Status: model.Unhealthy, Since: time.Now().UTC()})
	put(t, cli, "health/web/ghost", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	put(t, cli, "health/web/garbled", "{not json")
	startNode(t, e, "r1", nodeOptions{})

	// Stray verdicts (no endpoint, no check, unreadable) go; checked ones come.
	waitVerdicts(t, cli, map[string]string{"web/a": model.Healthy, "web/b": model.Healthy})
	del(t, cli, "endpoints/web/b")
	waitVerdicts(t, cli, map[string]string{"web/a": model.Healthy})
	kept := getPrefix(t, cli, "health/")["web/a"]

	put(t, cli, "services/web", `{"protocol":"tcp","health_check":{"type":"tcp","interval":"soon"}}`)
	put(t, cli, "health/web/marker", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	waitVerdicts(t, cli, map[string]string{"web/a": model.Healthy}) // the marker went: the rejection was seen
	put(t, cli, "services/web", map[string]any{"protocol": "tcp", "health_check": fastCheck("tcp")})
	put(t, cli, "health/web/marker", model.Health{Status: model.Healthy, Since: time.Now().UTC()})
	waitVerdicts(t, cli, map[string]string{"web/a": model.Healthy})
	if got := getPrefix(t, cli, "health/")["web/a"]; got.mod != kept.mod {
		t.Errorf("health/web/a rewritten while its service was rejected and fixed: %+v -> %+v", kept, got)
	}

	put(t, cli, "services/web", map[string]any{"protocol": "tcp"})
	waitVerdicts(t, cli, map[string]string{})
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
