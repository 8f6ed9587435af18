package e2e

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Local rate limits, faults and mirrors through a real Envoy: a route's
// bucket of N answers k of N+k requests 429 with the x-ratelimit headers,
// and so does a listener's own bucket; a 50% abort lands within 50±8% over
// 400 requests; a delay holds requests at least as long as it says; a 50%
// mirror copies about half the requests to the shadow upstream, a 100% one
// all. A route table holding global_rate_limit descriptors is accepted
// (no NACK) by a listener without a rate-limit service.
func TestPolicyTraffic(t *testing.T) {
	f := newFleet(t, "up1", "shadow")
	f.put("services/web", `{"protocol":"http"}`)
	f.put("services/shadow", `{"protocol":"http"}`)
	f.endpoint("web", "a", "up1")
	f.endpoint("shadow", "a", "shadow")
	const bucket = 10
	policyRoute := func(prefix string, policy map[string]any) map[string]any {
		r := route(prefix, "web")
		r["policy"] = policy
		return r
	}
	mirrorRoute := func(prefix string, percent float64) map[string]any {
		r := route(prefix, "web")
		r["mirror"] = map[string]any{"service": "shadow", "percent": percent}
		return r
	}
	table := routeTable(
		policyRoute("/rl", map[string]any{"rate_limit": map[string]any{"requests": bucket, "per": "1h"}}),
		policyRoute("/abort", map[string]any{"fault": map[string]any{"abort": map[string]any{"status": 503, "percent": 50}}}),
		policyRoute("/delay", map[string]any{"fault": map[string]any{"delay": map[string]any{"duration": "300ms", "percent": 100}}}),
		mirrorRoute("/m50", 50),
		mirrorRoute("/m100", 100),
		route("/", "web"),
	)
	table["virtual_hosts"].([]any)[0].(map[string]any)["policy"] = map[string]any{"global_rate_limit": map[string]any{
		"descriptors": []any{map[string]any{"entries": []any{map[string]any{"remote_address": true}}}}}}
	f.put("routes/web", table)
	f.put("listeners/main", map[string]any{"address": "127.0.0.1", "port": f.port, "protocol": "http", "route_table": "web", "groups": []string{f.group}})
	limitedPort := harness.FreePort(t)
	f.put("listeners/limited", map[string]any{"address": "127.0.0.1", "port": limitedPort, "protocol": "http", "route_table": "web",
		"groups": []string{f.group}, "rate_limit": map[string]any{"requests": bucket, "per": "1h"}})
	f.startEnvoy(f.a)
	f.waitBody("/", 200, "up1")
	f.waitConfig(`"request_mirror_policies"`, `"envoy.filters.http.fault"`)
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(string(f.envoy.Get(t, "/config_dump?resource=dynamic_listeners")), `"chancery.local_ratelimit.listener"`) {
			return fmt.Errorf("listener limited not active yet")
		}
		return nil
	})

	t.Run("local rate limit", func(t *testing.T) {
		const k = 5
		for _, c := range []struct{ what, url string }{
			{"route bucket", f.url("/rl")},
			{"listener bucket", fmt.Sprintf("http://127.0.0.1:%d/", limitedPort)},
		} {
			limited, withHeader := burst(t, c.url, bucket+k)
			t.Logf("%s of %d: %d of %d requests answered 429 (%d with x-ratelimit-limit)", c.what, bucket, limited, bucket+k, withHeader)
			if limited < k-1 || limited > k+1 {
				t.Errorf("%s: %d answers 429, want %d±1", c.what, limited, k)
			}
			if withHeader != limited {
				t.Errorf("%s: %d of %d 429 answers carry x-ratelimit-limit", c.what, withHeader, limited)
			}
		}
		if st, _, err := f.get("/"); err != nil || st != 200 {
			t.Errorf("a route without a bucket after the bursts: %d %v, want 200", st, err)
		}
	})

	t.Run("fault abort", func(t *testing.T) {
		const n = 400 // ±8 points is three standard deviations of the share
		aborted := 0
		for i := range n {
			st, body, err := f.get("/abort")
			switch {
			case err != nil:
				t.Fatalf("request %d: %v", i, err)
			case st == 503:
				aborted++
			case st != 200 || body != "up1":
				t.Fatalf("request %d: %d %q, want 200 from up1 or 503", i, st, body)
			}
		}
		share := 100 * float64(aborted) / n
		t.Logf("abort 50%%: %d of %d aborted (%.1f%%)", aborted, n, share)
		if math.Abs(share-50) > 8 {
			t.Errorf("abort 50%%: %.1f%% aborted, want 50±8", share)
		}
	})

	t.Run("fault delay", func(t *testing.T) {
		fastest := func(path string) time.Duration {
			best := time.Hour
			for range 5 {
				start := time.Now()
				if st, _, err := f.get(path); err != nil || st != 200 {
					t.Fatalf("GET %s: %d %v", path, st, err)
				}
				best = min(best, time.Since(start))
			}
			return best
		}
		delayed, plain := fastest("/delay"), fastest("/")
		t.Logf("delay 300ms: fastest of 5 delayed requests %v, of 5 plain ones %v", delayed, plain)
		// Envoy's timers run on a coarse clock and fire up to a few
		// milliseconds early (297.5ms was seen): 10ms of slack below.
		if delayed < 290*time.Millisecond || delayed > 10*time.Second {
			t.Errorf("delayed request took %v, want at least 300ms less Envoy's timer slack of 10ms (and under 10s)", delayed)
		}
		if plain >= 300*time.Millisecond {
			t.Errorf("a request of a route without fault took %v, want under 300ms", plain)
		}
	})

	t.Run("mirror", func(t *testing.T) {
		shadow := f.up["shadow"]
		for _, c := range []struct {
			path    string
			percent float64
			n       int
			margin  float64
		}{{"/m50", 50, 400, 10}, {"/m100", 100, 200, 0}} {
			before := shadow.Count()
			for i := range c.n {
				if st, body, err := f.get(c.path); err != nil || st != 200 || body != "up1" {
					t.Fatalf("%s request %d: %d %q %v", c.path, i, st, body, err)
				}
			}
			copies := settledCount(t, shadow, before, c.n)
			share := 100 * float64(copies) / float64(c.n)
			t.Logf("mirror %v%%: the shadow received %d copies of %d requests (%.1f%%)", c.percent, copies, c.n, share)
			if math.Abs(share-c.percent) > c.margin {
				t.Errorf("mirror %v%%: %.1f%% copied, want %v±%v", c.percent, share, c.percent, c.margin)
			}
		}
	})

	// The two listeners share one RDS subscription, named after either.
	rejected := string(f.envoy.Get(t, "/stats?filter=update_rejected"))
	if !strings.Contains(rejected, "rds.web.update_rejected") || !strings.Contains(rejected, "listener_manager.lds.update_rejected") {
		t.Fatalf("Envoy has no rds.web or lds update_rejected stat:\n%s", rejected)
	}
	for _, line := range strings.Split(strings.TrimSpace(rejected), "\n") {
		if !strings.HasSuffix(line, ": 0") {
			t.Errorf("Envoy rejected an update: %s", line)
		}
	}
}

// burst sends n sequential requests to url and counts the 429 answers and
// those of them that carry x-ratelimit-limit.
func burst(t *testing.T, url string, n int) (limited, withHeader int) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range n {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, url, err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("X-Ratelimit-Limit") != "" {
				withHeader++
			}
		case http.StatusOK:
		default:
			t.Fatalf("request %d to %s: status %d", i, url, resp.StatusCode)
		}
	}
	return limited, withHeader
}

// settledCount waits until the upstream's count past before stops moving
// (mirrored copies arrive after their requests' answers) or reaches most,
// and returns it.
func settledCount(t *testing.T, u *harness.Upstream, before int64, most int) int {
	t.Helper()
	last, stable := int64(-1), 0
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n := u.Count() - before
		if n >= int64(most) {
			return int(n)
		}
		if n == last {
			if stable++; stable >= 10 { // one second without a copy arriving
				return int(n)
			}
		} else {
			last, stable = n, 0
		}
	}
	return int(u.Count() - before)
}
