package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/xdsserver"
)

func TestRedactArgs(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"chancery", "serve", "--etcd-password", "s3cret", "--replica-id", "r1"},
			[]string{"chancery", "serve", "--etcd-password", redacted, "--replica-id", "r1"}},
		{[]string{"chancery", "serve", "--etcd-password=s3cret"}, []string{"chancery", "serve", "--etcd-password=" + redacted}},
		{[]string{"chancery", "serve", "-etcd-password=a=b"}, []string{"chancery", "serve", "-etcd-password=" + redacted}},
		{[]string{"chancery", "serve", "-etcd-password", "s3cret"}, []string{"chancery", "serve", "-etcd-password", redacted}},
		{[]string{"chancery", "serve", "--other-password", "x", "--some-token=y", "--Vault-Secret", "z"},
			[]string{"chancery", "serve", "--other-password", redacted, "--some-token=" + redacted, "--Vault-Secret", redacted}},
		// A file that holds the secret is not the secret.
		{[]string{"chancery", "serve", "--etcd-password-file", "/run/pw", "--admin-token-file=/run/tok"},
			[]string{"chancery", "serve", "--etcd-password-file", "/run/pw", "--admin-token-file=/run/tok"}},
		// A value that looks like a flag is still the value.
		{[]string{"chancery", "serve", "--etcd-password", "--etcd-password", "--x"},
			[]string{"chancery", "serve", "--etcd-password", redacted, "--x"}},
		{[]string{"chancery", "serve", "--etcd-password"}, []string{"chancery", "serve", "--etcd-password"}},
		{[]string{"--etcd-password"}, []string{"--etcd-password"}}, // the program name is never a flag
	} {
		in := slices.Clone(tc.in)
		if got := redactArgs(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("redactArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if !slices.Equal(in, tc.in) {
			t.Errorf("redactArgs changed its input %q to %q", in, tc.in)
		}
	}
}

// adminServer runs the admin handler on a real HTTP server.
func adminServer(t *testing.T, access debugAccess) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	xds := xdsserver.New(context.Background(), xdsserver.Config{Registerer: reg})
	w := storage.NewWatcher(storage.WatcherConfig{Keyspace: storage.NewKeyspace(""), Registerer: reg})
	ready, err := readiness.New(readiness.Config{ID: "test", MaxLag: time.Minute, Heard: w.Heard, Revision: w.Revision})
	if err != nil {
		t.Fatal(err)
	}
	var draining atomic.Bool
	srv := httptest.NewServer(adminHandler(reg, xds, ready, &draining, time.Minute, access))
	t.Cleanup(srv.Close)
	return srv.URL
}

func get(t *testing.T, url, authorization string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

var debugPaths = []string{"/debug/pprof/", "/debug/pprof/cmdline", "/debug/pprof/goroutine", "/debug/pprof/symbol", "/debug/snapshot", "/debug/proxies"}

func TestCmdlineRedactsPassword(t *testing.T) {
	saved := os.Args
	t.Cleanup(func() { os.Args = saved })
	os.Args = []string{"chancery", "serve", "--etcd-password", "hunter2-argv", "--etcd-username=replica", "--x-password=hunter3"}
	url := adminServer(t, debugAccess{enabled: true})
	status, body := get(t, url+"/debug/pprof/cmdline", "")
	if status != http.StatusOK {
		t.Fatalf("/debug/pprof/cmdline: %d %s", status, body)
	}
	want := strings.Join([]string{"chancery", "serve", "--etcd-password", redacted, "--etcd-username=replica", "--x-password=" + redacted}, "\x00")
	if body != want {
		t.Errorf("/debug/pprof/cmdline = %q, want %q", body, want)
	}
	if strings.Contains(body, "hunter") {
		t.Errorf("/debug/pprof/cmdline shows a password: %q", body)
	}
}

func TestAdminDebugOff(t *testing.T) {
	url := adminServer(t, debugAccess{enabled: false, token: "ignored"})
	for _, p := range debugPaths {
		if status, body := get(t, url+p, "Bearer ignored"); status != http.StatusNotFound {
			t.Errorf("GET %s with --admin-debug=false: %d %q, want 404", p, status, body)
		}
	}
	assertOpen(t, url)
}

func TestAdminDebugToken(t *testing.T) {
	const token = "0123456789abcdef-token"
	url := adminServer(t, debugAccess{enabled: true, token: token})
	for _, p := range debugPaths {
		for _, auth := range []string{"", "Bearer", "Bearer ", "Bearer wrong", "Bearer " + token + "x", "Basic " + token, token, "Bearer " + token[:len(token)-1]} {
			status, body := get(t, url+p, auth)
			if status != http.StatusUnauthorized {
				t.Errorf("GET %s with Authorization %q: %d, want 401", p, auth, status)
			}
			if strings.Contains(body, token) {
				t.Errorf("GET %s: the 401 shows the token: %q", p, body)
			}
		}
		for _, auth := range []string{"Bearer " + token, "bearer " + token} {
			if status, body := get(t, url+p, auth); status != http.StatusOK {
				t.Errorf("GET %s with Authorization %q: %d %.200q, want 200", p, auth, status, body)
			}
		}
	}
	assertOpen(t, url)
}

// assertOpen checks that health and metrics need no token.
func assertOpen(t *testing.T, url string) {
	t.Helper()
	for _, p := range []string{"/healthz", "/metrics"} {
		if status, body := get(t, url+p, ""); status != http.StatusOK {
			t.Errorf("GET %s: %d %.200q, want 200", p, status, body)
		}
	}
	// Not ready (nothing loaded), but answered, not refused for want of a token.
	if status, body := get(t, url+"/readyz", ""); status != http.StatusServiceUnavailable || !strings.Contains(body, "not ready") {
		t.Errorf("GET /readyz: %d %q, want 503 not ready", status, body)
	}
}
