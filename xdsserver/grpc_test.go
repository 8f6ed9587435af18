package xdsserver_test

import (
	"net"
	"testing"

	"go.uber.org/zap/zaptest"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"context"

	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/xdsserver"
)

// Beyond the admission burst, new streams are refused with UNAVAILABLE, which
// Envoy retries with backoff.
func TestAdmissionRefusesStreamsBeyondTheRate(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := xdsserver.New(ctx, xdsserver.Config{Logger: zaptest.NewLogger(t)})
	if err := srv.Publish(translate(t, 1, nil)); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(xdsserver.ServerOptions(xdsserver.GRPCConfig{StreamRate: 0.001, StreamBurst: 2})...)
	srv.Register(g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }() // returns when stopped below
	defer g.Stop()

	var refused int
	for i := range 4 {
		c, err := xdsclient.Dial(l.Addr().String(), xdsclient.Options{NodeID: "n", Group: "edge"})
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
