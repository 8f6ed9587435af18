package main

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/test/xdsclient"
)

// TestH2ConnCarriesLargeResponsesPastItsWindow runs a state-of-the-world
// stream on the fleet's own transport against gRPC-Go's server: responses
// larger than a frame, more bytes in all than the flow-control window (so
// the stream stalls unless the client gives window back), and the end of
// the stream when the server goes away.
func TestH2ConnCarriesLargeResponsesPastItsWindow(t *testing.T) {
	srv := startTestServer(t, workload.Spec{Services: 400, EndpointsPer: 5})
	conn := newH2Conn(srv.addr)
	defer conn.Close()
	got := make(chan xdsclient.SotWResponse, 256)
	sc, err := xdsclient.DialSotW("", xdsclient.SotWOptions{NodeID: "n-0", Group: "group-00", Conn: conn,
		OnResponse: func(r xdsclient.SotWResponse) { got <- r }})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()

	var bytes, largest int
	for v := 2; v <= 41; v++ { // startTestServer published version 1
		srv.publish()
		want := strconv.Itoa(v)
		for version := ""; version != want; {
			select {
			case r := <-got:
				if r.TypeURL != resourcev3.EndpointType {
					continue
				}
				if len(r.Resources) != 400 {
					t.Fatalf("version %s: %d load assignments, want 400", r.Version, len(r.Resources))
				}
				n := 0
				for _, a := range r.Resources {
					n += len(a.GetValue())
				}
				bytes += n
				largest = max(largest, n)
				version = r.Version
			case <-sc.Done():
				t.Fatalf("stream ended before version %s: %v", want, sc.Err())
			case <-time.After(10 * time.Second):
				t.Fatalf("no version %s after %d bytes of endpoints", want, bytes)
			}
		}
	}
	if largest <= 16384 || bytes <= h2Window {
		t.Fatalf("largest response %d bytes, %d in all: the test must cross a frame and the window", largest, bytes)
	}

	srv.stop()
	select {
	case <-sc.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the stream outlived its server")
	}
	if status.Code(sc.Err()) != codes.Unavailable {
		t.Fatalf("stream ended with %v, want Unavailable", sc.Err())
	}
}

// TestH2ConnDialsAgainAfterAFailure checks that a connection whose server
// went away reports it to the next stream and then dials again.
func TestH2ConnDialsAgainAfterAFailure(t *testing.T) {
	conn := newH2Conn("127.0.0.1:1") // nothing listens on port 1
	_, err := conn.NewStream(context.Background(), nil, "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources")
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("stream to a closed port: %v, want Unavailable naming the address", err)
	}

	srv := startTestServer(t, workload.Spec{Services: 2, EndpointsPer: 1})
	conn = newH2Conn(srv.addr)
	defer conn.Close()
	for i := range 2 { // the second after the first was cancelled
		sc, err := xdsclient.DialSotW("", xdsclient.SotWOptions{NodeID: "n-0", Group: "group-00", Conn: conn})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		select {
		case r := <-sc.Responses():
			if r.TypeURL == "" {
				t.Fatalf("stream %d: empty response", i)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("stream %d: no response", i)
		}
		sc.Close()
		if err := sc.Err(); err != nil && status.Code(err) != codes.Canceled && !errors.Is(err, context.Canceled) {
			t.Fatalf("stream %d ended with %v", i, err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.NewStream(context.Background(), nil, "/x"); status.Code(err) != codes.Canceled {
		t.Fatalf("stream on a closed connection: %v, want Canceled", err)
	}
}
