package xdsserver_test

import (
	"runtime/debug"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// Beyond the admission burst, new streams are refused with UNAVAILABLE, which
// Envoy retries with backoff.
func TestAdmissionRefusesStreamsBeyondTheRate(t *testing.T) {
	_, addr := serveReplica(t, translate(t, 1, nil), xdsserver.GRPCConfig{StreamRate: 0.001, StreamBurst: 2})
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
}

// A burst of admitted streams raises the GC percent until it ends; streams
// refused by admission do not count.
func TestStreamBurstRaisesGCPercent(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	gcPercent := func() int {
		p := debug.SetGCPercent(100)
		debug.SetGCPercent(p)
		return p
	}
	serve := func(cfg xdsserver.GRPCConfig) string {
		_, addr := serveReplica(t, translate(t, 1, nil), cfg)
		return addr
	}
	open := func(addr string, n int) {
		for range n {
			c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "n", Group: "edge"})
			if err == nil {
				<-c.Responses() // the stream was handled, or refused
				c.Close()
			}
		}
	}
	const window = 100 * time.Millisecond // the burst ends after ten quiet windows
	storm := xdsserver.GRPCConfig{StormGCPercent: 400, StormBurst: 3, StormWindow: time.Minute}

	limited := storm
	limited.StreamRate, limited.StreamBurst = 0.001, 2
	open(serve(limited), 4) // two admitted
	if p := gcPercent(); p != 100 {
		t.Fatalf("after two admitted streams and two refused: GC percent %d, want 100", p)
	}

	storm.StormWindow = window
	open(serve(storm), 3)
	if p := gcPercent(); p != 400 {
		t.Fatalf("after a burst of three streams: GC percent %d, want 400", p)
	}
	for deadline := time.Now().Add(5 * time.Second); gcPercent() != 100; time.Sleep(window) {
		if time.Now().After(deadline) {
			t.Fatal("the GC percent did not come back within 5s of the burst")
		}
	}
}
