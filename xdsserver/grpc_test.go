package xdsserver_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// Beyond the admission burst, new streams are refused with UNAVAILABLE, which
// Envoy retries with backoff, and counted.
func TestAdmissionRefusesStreamsBeyondTheRate(t *testing.T) {
	reg := prometheus.NewRegistry()
	_, addr := serveReplica(t, translate(t, 1, nil), xdsserver.GRPCConfig{StreamRate: 0.001, StreamBurst: 2, Registerer: reg})
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
	if n, err := testutil.GatherAndCount(reg, "chancery_xds_streams_refused_total"); err != nil || n != 1 {
		t.Fatalf("chancery_xds_streams_refused_total: %d series, %v", n, err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := families[0].GetMetric()[0].GetCounter().GetValue(); got != float64(refused) {
		t.Errorf("chancery_xds_streams_refused_total = %v, want %d", got, refused)
	}
}
