package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Patches reach Envoy: a merge patch adds a response header to a route
// table, an added HTTP filter (Envoy's buffer) refuses a body over its
// limit, a patch Envoy would refuse is rejected naming its field while
// everything else keeps serving, and deleting a patch undoes it. No
// Envoy ever NACKs.
func TestPatchesReachEnvoy(t *testing.T) {
	f := newFleet(t, "up1")
	f.basics()
	f.startEnvoy(f.a, f.b)
	f.waitBody("/", 200, "up1")

	f.put("patches/route-header", `{"groups":["edge"],"target":{"type":"route_table","name":"web"},
		"merge":{"response_headers_to_add":[{"header":{"key":"x-patched","value":"yes"}}]}}`)
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		st, h, err := f.send(http.MethodGet, "/", 0)
		if err != nil {
			return err
		}
		if st != 200 || h.Get("x-patched") != "yes" {
			return fmt.Errorf("GET /: %d, x-patched %q; want 200, yes", st, h.Get("x-patched"))
		}
		return nil
	})

	f.put("patches/buffer", `{"groups":["edge"],"target":{"type":"listener","name":"main"},
		"http_filter":{"name":"envoy.filters.http.buffer","typed_config":{
			"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer","max_request_bytes":64}}}`)
	f.waitPost(1024, http.StatusRequestEntityTooLarge)
	if st, _, err := f.send(http.MethodPost, "/", 16); err != nil || st != 200 {
		t.Fatalf("POST of 16 bytes under the buffer filter: %d, %v; want 200", st, err)
	}

	// Rejected: Envoy would refuse a zero connect timeout. The cluster,
	// and everything else, is served as before.
	f.put("patches/refused", `{"groups":["edge"],"target":{"type":"cluster","name":"web"},"merge":{"connect_timeout":"0s"}}`)
	for _, r := range []*harness.Chancery{f.a, f.b} {
		harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
			if v := metric(t, r, "chancery_object_rejected", map[string]string{"key": "patches/refused"}); v != 1 {
				return fmt.Errorf("replica %s: chancery_object_rejected{key=patches/refused} = %v", r.ReplicaID(), v)
			}
			return nil
		})
	}
	harness.Eventually(t, 10*time.Second, 10*time.Millisecond, func() error {
		st, err := objectStatus(f, "patches/refused")
		if err != nil {
			return err
		}
		if st.State != "rejected" || !strings.Contains(st.Reason, "field merge") || !strings.Contains(st.Reason, "ConnectTimeout") {
			return fmt.Errorf("status/patches/refused %+v; want rejected, naming the field and Envoy's rule", st)
		}
		return nil
	})
	f.waitPost(1024, http.StatusRequestEntityTooLarge) // still patched
	f.waitBody("/", 200, "up1")

	f.del("patches/buffer")
	f.waitPost(1024, http.StatusOK)
	for _, r := range []*harness.Chancery{f.a, f.b} {
		if n := metric(t, r, "chancery_xds_nacks_total", nil); n != 0 {
			t.Errorf("replica %s: %v NACKs", r.ReplicaID(), n)
		}
	}
}

// send makes one request through Envoy with a body of n bytes.
func (f *fleet) send(method, path string, n int) (int, http.Header, error) {
	req, err := http.NewRequest(method, f.url(path), strings.NewReader(strings.Repeat("x", n)))
	if err != nil {
		return 0, nil, err
	}
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header, nil
}

// waitPost waits until a POST of n bytes answers status.
func (f *fleet) waitPost(n, status int) {
	f.t.Helper()
	harness.Eventually(f.t, 20*time.Second, 10*time.Millisecond, func() error {
		st, _, err := f.send(http.MethodPost, "/", n)
		if err != nil {
			return err
		}
		if st != status {
			return fmt.Errorf("POST of %d bytes: %d, want %d", n, st, status)
		}
		return nil
	})
}
