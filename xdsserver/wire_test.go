package xdsserver

import (
	"bytes"
	"strings"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// A response assembled from entries is, byte for byte, what protobuf
// encodes for the same response, including bodies long enough to need
// multi-byte lengths, in buffers from the response pool or in buffers that
// still hold an earlier use's bytes. (A resource's encoding is never empty:
// it has a name.)
func TestAssembledResponsesMatchProtobuf(t *testing.T) {
	defer func(p mem.BufferPool) { responsePool = p }(responsePool)
	for _, pool := range []struct {
		name string
		pool mem.BufferPool
	}{{"response pool", responsePool}, {"dirty buffers", dirtyPool{}}} {
		t.Run(pool.name, func(t *testing.T) {
			responsePool = pool.pool
			testAssembledResponses(t)
		})
	}
}

// dirtyPool hands out buffers full of bytes no response holds, as a reused
// buffer may be.
type dirtyPool struct{}

func (dirtyPool) Get(size int) *[]byte {
	b := bytes.Repeat([]byte{0xa5}, 2*size)[:size]
	return &b
}

func (dirtyPool) Put(*[]byte) {}

func testAssembledResponses(t *testing.T) {
	var res []*resource
	for _, n := range []int{1, 127, 128, 20000} {
		body := bytes.Repeat([]byte{0x0a}, n)
		name, hash := "r"+strings.Repeat("x", n%7), "0123456789abcdef"
		r := &resource{name: name, hash: hash, body: body}
		r.sotwHead, r.deltaHead = resourceEntries(typeURLs[endpointsIdx], name, hash, body)
		res = append(res, r)
	}
	join := func(m *wireMessage) []byte {
		bs, err := newCodec().Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return bs.Materialize()
	}
	var sotw discoveryv3.DiscoveryResponse
	var delta discoveryv3.DeltaDiscoveryResponse
	for _, r := range res {
		a := &anypb.Any{TypeUrl: typeURLs[endpointsIdx], Value: r.body}
		sotw.Resources = append(sotw.Resources, a)
		delta.Resources = append(delta.Resources, &discoveryv3.Resource{Name: r.name, Version: r.hash, Resource: a})
	}
	sotw.VersionInfo, sotw.TypeUrl, sotw.Nonce = "v1", typeURLs[endpointsIdx], "1-v1"
	delta.SystemVersionInfo, delta.TypeUrl, delta.Nonce, delta.RemovedResources = "v1", typeURLs[endpointsIdx], "1-v1", []string{"gone"}
	for _, c := range []struct {
		got  []byte
		want proto.Message
	}{
		{join(sotwResponse("v1", typeURLs[endpointsIdx], "1-v1", res)), &sotw},
		{join(deltaResponse("v1", typeURLs[endpointsIdx], "1-v1", res, []string{"gone"})), &delta},
	} {
		want, err := proto.MarshalOptions{Deterministic: true}.Marshal(c.want)
		if err != nil {
			t.Fatal(err)
		}
		// Field order differs (resources first); compare decoded messages.
		got := c.want.ProtoReflect().New().Interface()
		if err := proto.Unmarshal(c.got, got); err != nil {
			t.Fatalf("%T: %v", c.want, err)
		}
		if !proto.Equal(got, c.want) || len(c.got) != len(want) {
			t.Errorf("%T: assembled %d bytes, protobuf %d; equal after decoding: %v", c.want, len(c.got), len(want), proto.Equal(got, c.want))
		}
	}
}

// countingPool counts the buffers handed back.
type countingPool struct {
	mem.BufferPool
	put int
}

func (p *countingPool) Put(b *[]byte) { p.put++; p.BufferPool.Put(b) }

// A push of an endpoint change is a few hundred bytes; its buffer still
// goes back to the response pool once gRPC has written it, as gRPC frees
// the message it was handed.
func TestSmallResponsesGoBackToThePool(t *testing.T) {
	defer func(p mem.BufferPool) { responsePool = p }(responsePool)
	pool := &countingPool{BufferPool: responsePool}
	responsePool = pool
	body := bytes.Repeat([]byte{0x0a}, 300)
	r := &resource{name: "web", hash: "0123456789abcdef", body: body}
	r.sotwHead, r.deltaHead = resourceEntries(typeURLs[endpointsIdx], r.name, r.hash, body)
	m := deltaResponse("v1", typeURLs[endpointsIdx], "1-v1", []*resource{r}, nil)
	bs, err := newCodec().Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if n := bs.Len(); n > 1<<10 {
		t.Fatalf("response of %d bytes: the test wants one below gRPC's pooling threshold", n)
	}
	bs.Free()
	if pool.put != 1 {
		t.Fatalf("%d buffers back in the pool after gRPC freed the response, want 1", pool.put)
	}
}
