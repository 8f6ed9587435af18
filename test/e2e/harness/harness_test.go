package harness

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEtcdSurvivesRestart(t *testing.T) {
	etcd := StartEtcd(t)
	MustEtcdctl(t, etcd.Endpoint(), "put", "/chancery/v1/services/web", `{"protocol":"http"}`)

	etcd.Stop()
	if _, err := Etcdctl(t, etcd.Endpoint(), "--command-timeout=1s", "get", "/chancery/v1/services/web"); err == nil {
		t.Fatal("etcdctl get succeeded against a stopped etcd")
	}
	etcd.Start()

	got := MustEtcdctl(t, etcd.Endpoint(), "get", "--print-value-only", "/chancery/v1/services/web")
	if want := `{"protocol":"http"}`; strings.TrimSpace(got) != want {
		t.Errorf("after restart got %q, want %q", got, want)
	}
	resp, err := etcd.Client(t).Get(context.Background(), "/chancery/v1/services/web")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 {
		t.Errorf("client Get found %d keys, want 1", len(resp.Kvs))
	}
	log, err := os.ReadFile(etcd.LogPath())
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "=== "); n != 2 {
		t.Errorf("log %s has %d run headers, want 2 (start and restart)", etcd.LogPath(), n)
	}
}

func TestEtcdClusterLosesAndRegainsAMember(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three etcd members")
	}
	c := StartEtcdCluster(t, 3)
	endpoints := strings.Join(c.Endpoints(), ",")
	c.Members[0].Stop()
	MustEtcdctl(t, endpoints, "put", "k", "v") // two of three still form a quorum
	c.Start()
	got := MustEtcdctl(t, c.Members[0].Endpoint(), "get", "--print-value-only", "k")
	if strings.TrimSpace(got) != "v" {
		t.Errorf("restarted member reads %q, want v", got)
	}
}

func TestTCPProxyCutAndRestore(t *testing.T) {
	up := StartUpstream(t, "blue")
	host, port := up.Addr()
	proxy := StartTCPProxy(t, fmt.Sprintf("%s:%d", host, port))
	url := "http://" + proxy.Addr() + "/"

	expectBody(t, url, "blue")
	proxy.Cut()
	if _, _, err := HTTPGet(url, ""); err == nil {
		t.Fatal("request through a cut proxy succeeded")
	}
	proxy.Restore()
	expectBody(t, url, "blue")
	if got := up.Count(); got != 2 {
		t.Errorf("upstream counted %d requests, want 2", got)
	}
}

func TestTCPProxyCutSeversOpenConnections(t *testing.T) {
	up := StartUpstream(t, "blue")
	host, port := up.Addr()
	proxy := StartTCPProxy(t, fmt.Sprintf("%s:%d", host, port))

	// A pooled client keeps its connection open across requests.
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	get := func() error {
		resp, err := client.Get("http://" + proxy.Addr() + "/")
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	if err := get(); err != nil {
		t.Fatal(err)
	}
	proxy.Cut()
	if err := get(); err == nil {
		t.Fatal("request on a connection open before Cut succeeded")
	}
}

func TestUpstreamRestartKeepsPort(t *testing.T) {
	up := StartUpstream(t, "green")
	expectBody(t, up.URL(), "green")
	up.Close()
	if _, _, err := HTTPGet(up.URL(), ""); err == nil {
		t.Fatal("closed upstream answered")
	}
	up.Restart()
	expectBody(t, up.URL(), "green")
}

func TestEnvoyAdminAnswersWithoutControlPlane(t *testing.T) {
	if _, err := os.Stat(filepath.Join(RepoRoot(t), "bin", "envoy")); errors.Is(err, os.ErrNotExist) {
		t.Skip("bin/envoy is not installed")
	}
	nowhere := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	for _, delta := range []bool{false, true} {
		t.Run(fmt.Sprintf("delta=%v", delta), func(t *testing.T) {
			envoy := StartEnvoy(t, EnvoyOptions{
				Group:        "edge",
				XDSAddresses: []string{nowhere},
				Delta:        delta,
				AdminOnly:    true,
			})
			envoy.WaitAdmin(t)
			if !strings.Contains(envoy.Clusters(t), "xds::"+nowhere) {
				t.Errorf("/clusters does not list the xds endpoint %s:\n%s", nowhere, envoy.Clusters(t))
			}
			// The ADS stream keeps failing: Envoy counts the attempts.
			Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
				if n, ok := envoy.Stat(t, "cluster.xds.upstream_cx_connect_fail"); !ok || n < 1 {
					return fmt.Errorf("cluster.xds.upstream_cx_connect_fail = %d (present %v)", n, ok)
				}
				return nil
			})
			if status, _, err := HTTPGet(envoy.AdminURL()+"/ready", ""); err != nil || status != http.StatusServiceUnavailable {
				t.Errorf("/ready = %d, %v; want 503 before any xDS answer", status, err)
			}
			envoy.Stop()
		})
	}
}

func TestMetricValue(t *testing.T) {
	text := `# TYPE chancery_xds_streams gauge
chancery_xds_streams{group="edge",type="delta"} 3
chancery_xds_streams{group="edge",type="sotw"} 1
chancery_xds_streams{group="core",type="delta"} 5
# TYPE chancery_rebuild_seconds histogram
chancery_rebuild_seconds_bucket{le="0.1"} 2
chancery_rebuild_seconds_bucket{le="+Inf"} 4
chancery_rebuild_seconds_sum 0.75
chancery_rebuild_seconds_count 4
`
	families, err := parseMetrics([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
		found  bool
	}{
		{"chancery_xds_streams", map[string]string{"group": "edge", "type": "delta"}, 3, true},
		{"chancery_xds_streams", map[string]string{"group": "edge"}, 4, true},
		{"chancery_xds_streams", nil, 9, true},
		{"chancery_xds_streams", map[string]string{"group": "none"}, 0, false},
		{"chancery_rebuild_seconds_count", nil, 4, true},
		{"chancery_rebuild_seconds_sum", nil, 0.75, true},
		{"chancery_missing", nil, 0, false},
	} {
		got, found := metricValue(families, tc.name, tc.labels)
		if got != tc.want || found != tc.found {
			t.Errorf("metricValue(%s, %v) = %v, %v; want %v, %v", tc.name, tc.labels, got, found, tc.want, tc.found)
		}
	}
}

func expectBody(t *testing.T, url, want string) {
	t.Helper()
	status, body, err := HTTPGet(url, "")
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || body != want {
		t.Fatalf("GET %s = %d %q, want 200 %q", url, status, body, want)
	}
}
