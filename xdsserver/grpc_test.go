package xdsserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// Beyond the admission burst, new streams are refused with UNAVAILABLE, which
// Envoy retries with backoff, and counted in the series the identity rule
// counts into too, as a replica registers both (cmd/chancery/serve.go).
func TestAdmissionRefusesStreamsBeyondTheRate(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, addr := serveReplicaWith(t, translate(t, 1, nil), xdsserver.Config{Registerer: reg},
		xdsserver.GRPCConfig{StreamRate: 0.001, StreamBurst: 2, Registerer: reg})
	var refused int
	for i := range 4 {
		c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "n", Group: "edge"})
		if err == nil {
			if _, open := <-c.Responses(); !open {
				err = c.Err()
			}
			c.Close()
		}
		if err != nil {
			refused++
			if st, _ := status.FromError(err); st.Code() != codes.Unavailable {
				t.Errorf("stream %d ended with %v, want UNAVAILABLE", i, err)
			}
		}
	}
	if refused != 2 {
		t.Errorf("%d of 4 streams refused with a burst of 2, want 2", refused)
	}
	want := fmt.Sprintf(`
# HELP chancery_xds_streams_refused_total xDS streams refused, by reason: admission (--xds-stream-rate), or a client certificate that does not allow the node group claimed.
# TYPE chancery_xds_streams_refused_total counter
chancery_xds_streams_refused_total{reason="admission"} %d
chancery_xds_streams_refused_total{reason="group-not-allowed"} 0
chancery_xds_streams_refused_total{reason="no-client-certificate"} 0
`, refused)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "chancery_xds_streams_refused_total"); err != nil {
		t.Error(err)
	}
}
