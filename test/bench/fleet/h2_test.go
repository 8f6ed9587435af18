package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

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

// TestH2ConnReadsWhatGRPCGoNeverSends checks the framing gRPC-Go's server
// does not produce but HTTP/2 allows: a header block continued in a
// CONTINUATION frame, padded DATA frames, a message split across frames,
// an empty message, and trailers ending the stream. The peer is a bare
// HTTP/2 framer on loopback.
func TestH2ConnReadsWhatGRPCGoNeverSends(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	want := &discoveryv3.DiscoveryResponse{VersionInfo: "v1", TypeUrl: resourcev3.ClusterType, Nonce: "n1"}
	body, err := proto.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	msg := append(binary.BigEndian.AppendUint32([]byte{0}, uint32(len(body))), body...)
	msg = append(msg, 0, 0, 0, 0, 0) // an empty message
	served := make(chan error, 1)
	go func() { served <- serveOddFrames(lis, msg) }()

	conn := newH2Conn(lis.Addr().String())
	defer conn.Close()
	st, err := conn.NewStream(context.Background(), nil, "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources")
	if err != nil {
		t.Fatal(err)
	}
	var got discoveryv3.DiscoveryResponse
	if err := st.RecvMsg(&got); err != nil {
		t.Fatalf("first message: %v", err)
	}
	if !proto.Equal(&got, want) {
		t.Fatalf("first message: %v, want %v", &got, want)
	}
	var empty discoveryv3.DiscoveryResponse
	if err := st.RecvMsg(&empty); err != nil || empty.GetTypeUrl() != "" {
		t.Fatalf("second message: %v (%v), want an empty one", &empty, err)
	}
	if err := st.RecvMsg(&empty); !errors.Is(err, io.EOF) {
		t.Fatalf("after the trailers: %v, want EOF", err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
}

// serveOddFrames answers one stream with msg in odd frames.
func serveOddFrames(lis net.Listener, msg []byte) error {
	nc, err := lis.Accept()
	if err != nil {
		return err
	}
	defer nc.Close()
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(nc, preface); err != nil {
		return err
	}
	fr := http2.NewFramer(nc, nc)
	var sid uint32
	for sid == 0 { // settings, window update, then the request's headers
		f, err := fr.ReadFrame()
		if err != nil {
			return err
		}
		if h, ok := f.(*http2.HeadersFrame); ok {
			sid = h.StreamID
		}
	}
	if err := fr.WriteSettings(); err != nil {
		return err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":status", Value: "200"}, {Name: "content-type", Value: "application/grpc"}} {
		if err := enc.WriteField(f); err != nil {
			return err
		}
	}
	block := bytes.Clone(hb.Bytes())
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: block[:1]}); err != nil {
		return err
	}
	if err := fr.WriteContinuation(sid, true, block[1:]); err != nil {
		return err
	}
	half := len(msg) / 2
	if err := fr.WriteDataPadded(sid, false, msg[:3], []byte{0, 0, 0}); err != nil { // inside the prefix
		return err
	}
	if err := fr.WriteDataPadded(sid, false, msg[3:half], make([]byte, 7)); err != nil {
		return err
	}
	if err := fr.WriteData(sid, false, msg[half:]); err != nil {
		return err
	}
	hb.Reset()
	if err := enc.WriteField(hpack.HeaderField{Name: "grpc-status", Value: "0"}); err != nil {
		return err
	}
	return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: sid, BlockFragment: hb.Bytes(), EndHeaders: true, EndStream: true})
}
