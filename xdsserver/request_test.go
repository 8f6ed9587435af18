package xdsserver

import (
	"fmt"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// requestSeeds are encodings of requests with every field set, plus odd but
// valid encodings: repeated messages (merged), fields of the wrong wire
// type and unknown fields (skipped), empty strings, a map entry without a
// key.
func requestSeeds(t testing.TB) [][]byte {
	meta, _ := structpb.NewStruct(map[string]any{"zone": "z1"})
	node := &corev3.Node{Id: "envoy-1", Cluster: "edge", Metadata: meta, Locality: &corev3.Locality{Zone: "z1"}}
	locator := &discoveryv3.ResourceLocator{Name: "web", DynamicParameters: map[string]string{"k": "v"}}
	msgs := []proto.Message{
		&discoveryv3.DeltaDiscoveryRequest{
			Node: node, TypeUrl: resourcev3.EndpointType,
			ResourceNamesSubscribe: []string{"web", "api", "ünïcode"}, ResourceNamesUnsubscribe: []string{"old", ""},
			InitialResourceVersions: map[string]string{"web": "0123456789abcdef", "api": "", "": "x"},
			ResponseNonce:           "7-0123", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "bad"},
			ResourceLocatorsSubscribe: []*discoveryv3.ResourceLocator{locator}, ResourceLocatorsUnsubscribe: []*discoveryv3.ResourceLocator{locator},
		},
		&discoveryv3.DeltaDiscoveryRequest{TypeUrl: "type.example/Unknown"},
		&discoveryv3.DeltaDiscoveryRequest{},
		&discoveryv3.DiscoveryRequest{
			VersionInfo: "0123", Node: node, ResourceNames: []string{"web", "*", ""}, TypeUrl: resourcev3.ClusterType,
			ResponseNonce: "1-0123", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "bad"},
			ResourceLocators: []*discoveryv3.ResourceLocator{locator},
		},
		&discoveryv3.DiscoveryRequest{},
	}
	var seeds [][]byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	odd := protowire.AppendTag(nil, 1, protowire.BytesType) // node (delta) twice: merged
	odd = protowire.AppendBytes(odd, mustMarshal(t, &corev3.Node{Id: "a"}))
	odd = protowire.AppendTag(odd, 1, protowire.BytesType)
	odd = protowire.AppendBytes(odd, mustMarshal(t, &corev3.Node{Cluster: "g"}))
	odd = protowire.AppendTag(odd, 2, protowire.VarintType) // type_url as a varint: unknown
	odd = protowire.AppendVarint(odd, 5)
	odd = protowire.AppendTag(odd, 99, protowire.Fixed64Type) // unknown field
	odd = protowire.AppendFixed64(odd, 1)
	odd = protowire.AppendTag(odd, 5, protowire.BytesType) // a map entry with a value only
	entry := protowire.AppendTag(nil, 2, protowire.BytesType)
	entry = protowire.AppendString(entry, "v")
	odd = protowire.AppendBytes(odd, entry)
	odd = protowire.AppendTag(odd, 6, protowire.BytesType) // nonce twice: the last wins
	odd = protowire.AppendString(odd, "1")
	odd = protowire.AppendTag(odd, 6, protowire.BytesType)
	odd = protowire.AppendString(odd, "2")
	return append(seeds, odd)
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameAsProtobuf decodes b both ways, as both request kinds, and reports
// any difference: an error from one decoder and not the other, or
// different messages. The hand decoder drops unknown fields at the top
// level, so protobuf's are cleared before comparing.
func sameAsProtobuf(t *testing.T, b []byte) {
	t.Helper()
	check := func(ours, want proto.Message, decode func([]byte) error) {
		t.Helper()
		wantErr := proto.Unmarshal(b, want)
		err := decode(append([]byte(nil), b...))
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%T from %x: hand decoder says %v, protobuf says %v", want, b, err, wantErr)
		}
		if err != nil {
			return
		}
		want.ProtoReflect().SetUnknown(nil)
		if !proto.Equal(ours, want) {
			t.Fatalf("%T from %x:\n hand:     %v\n protobuf: %v", want, b, ours, want)
		}
	}
	delta := &discoveryv3.DeltaDiscoveryRequest{}
	check(delta, &discoveryv3.DeltaDiscoveryRequest{}, func(b []byte) error { return decodeDeltaRequest(b, delta) })
	sotw := &discoveryv3.DiscoveryRequest{}
	check(sotw, &discoveryv3.DiscoveryRequest{}, func(b []byte) error { return decodeSotwRequest(b, sotw) })
}

func TestRequestDecoderMatchesProtobuf(t *testing.T) {
	for _, b := range requestSeeds(t) {
		sameAsProtobuf(t, b)
		for i := range b { // every truncation: an error or a shorter message, never a panic
			sameAsProtobuf(t, b[:i])
		}
	}
	sameAsProtobuf(t, protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "\xff")) // invalid UTF-8
}

func FuzzRequestDecoder(f *testing.F) {
	for _, b := range requestSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(sameAsProtobuf)
}

// The request's names point into its bytes; a subscription keeps copies.
func TestSubscriptionKeepsNoRequestBytes(t *testing.T) {
	b := mustMarshal(t, &discoveryv3.DeltaDiscoveryRequest{ResourceNamesSubscribe: []string{"web"}})
	req := &discoveryv3.DeltaDiscoveryRequest{}
	if err := decodeDeltaRequest(b, req); err != nil {
		t.Fatal(err)
	}
	sub := newSubscription(req.GetResourceNamesSubscribe())
	sub.subscribe(req.GetResourceNamesSubscribe(), nil)
	clear(b) // the request's bytes are reused
	if !sub.wants("web") || sub.names.len() != 1 {
		t.Fatalf("after the request's bytes changed the subscription holds %v", sub.names.m)
	}
}

// A reconnecting Envoy's first request for a type: a hundred names and the
// version it holds of each.
func BenchmarkDecodeReconnectRequest(b *testing.B) {
	req := &discoveryv3.DeltaDiscoveryRequest{
		Node:                    &corev3.Node{Id: "envoy-0001", Cluster: "edge"},
		TypeUrl:                 typeURLs[endpointsIdx],
		InitialResourceVersions: map[string]string{},
	}
	for i := range 100 {
		name := fmt.Sprintf("service-%03d", i)
		req.ResourceNamesSubscribe = append(req.ResourceNamesSubscribe, name)
		req.InitialResourceVersions[name] = fmt.Sprintf("%016x", i*7919)
	}
	wire, err := proto.Marshal(req)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var m discoveryv3.DeltaDiscoveryRequest
		if err := decodeDeltaRequest(append([]byte(nil), wire...), &m); err != nil {
			b.Fatal(err)
		}
	}
}

// gRPC reuses a request's buffer once the codec returns, and the server
// decodes every request of a stream into the same message: what was
// decoded must not change when the buffer does, and nothing of an earlier
// request may remain.
func TestCodecDecodesRequestsFromBuffersItMayNotKeep(t *testing.T) {
	requests := []proto.Message{
		&discoveryv3.DeltaDiscoveryRequest{Node: &corev3.Node{Id: "envoy-1", Cluster: "edge"}, TypeUrl: typeURLs[endpointsIdx],
			ResourceNamesSubscribe: []string{"web", "api"}, InitialResourceVersions: map[string]string{"web": "v1"}},
		&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURLs[endpointsIdx], ResponseNonce: "v2/7"}, // an ACK
		&discoveryv3.DeltaDiscoveryRequest{TypeUrl: typeURLs[endpointsIdx], ResponseNonce: "v3/8",
			ErrorDetail: &rpcstatus.Status{Code: 3, Message: "bad endpoint"}},
		&discoveryv3.DeltaDiscoveryRequest{ResourceNamesUnsubscribe: []string{"api"}},
		&discoveryv3.DiscoveryRequest{VersionInfo: "v1", Node: &corev3.Node{Id: "envoy-2"}, TypeUrl: typeURLs[clustersIdx]},
		&discoveryv3.DiscoveryRequest{VersionInfo: "v2", TypeUrl: typeURLs[endpointsIdx], ResourceNames: []string{"web"}, ResponseNonce: "v2/3"},
		&discoveryv3.DiscoveryRequest{VersionInfo: "v2", TypeUrl: typeURLs[endpointsIdx], ResponseNonce: "v2/4"},
	}
	c := newCodec()
	delta, sotw := &discoveryv3.DeltaDiscoveryRequest{}, &discoveryv3.DiscoveryRequest{}
	for i, want := range requests {
		b := mustMarshal(t, want)
		for _, pieces := range []int{1, 2} {
			data := mem.BufferSlice{mem.SliceBuffer(b)}
			if pieces == 2 {
				data = mem.BufferSlice{mem.SliceBuffer(b[:len(b)/2]), mem.SliceBuffer(b[len(b)/2:])}
			}
			var got proto.Message = delta
			if _, ok := want.(*discoveryv3.DiscoveryRequest); ok {
				got = sotw
			}
			if err := c.Unmarshal(data, got); err != nil {
				t.Fatalf("request %d in %d pieces: %v", i, pieces, err)
			}
			saved := slices.Clone(b)
			for j := range b {
				b[j] = 'x' // gRPC reuses the buffer
			}
			if !proto.Equal(got, want) {
				t.Errorf("request %d in %d pieces: decoded %v, want %v", i, pieces, got, want)
			}
			copy(b, saved)
		}
	}
}

// A state-of-the-world request that names what the stream's subscription
// of its type holds, in any order, is decoded without its names, from the
// buffer it came in; any other list of names is decoded as it is.
func TestSotwRequestNamingWhatIsHeldIsDecodedWithoutNames(t *testing.T) {
	eds := typeURLs[endpointsIdx]
	set := shareNames(map[string]struct{}{intern("web"): {}, intern("api"): {}})
	held := func(typeURL string) *nameSet {
		if typeURL == eds {
			return set
		}
		return nil
	}
	for _, c := range []struct {
		name  string
		req   *discoveryv3.DiscoveryRequest
		same  bool
		using func(string) *nameSet
	}{
		{"the held names", &discoveryv3.DiscoveryRequest{VersionInfo: "v2", TypeUrl: eds, ResourceNames: []string{"web", "api"}, ResponseNonce: "v2/3"}, true, held},
		{"in another order, with a rejection", &discoveryv3.DiscoveryRequest{VersionInfo: "v1", TypeUrl: eds, ResourceNames: []string{"api", "web"},
			ResponseNonce: "v2/4", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "bad endpoint"}}, true, held},
		{"one more", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResourceNames: []string{"web", "api", "db"}}, false, held},
		{"one other", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResourceNames: []string{"web", "db"}}, false, held},
		{"one twice, the other left out", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResourceNames: []string{"web", "web"}}, false, held},
		{"the wildcard too", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResourceNames: []string{"web", "*"}}, false, held},
		{"none", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResponseNonce: "v2/5"}, false, held},
		{"another type", &discoveryv3.DiscoveryRequest{TypeUrl: typeURLs[clustersIdx], ResourceNames: []string{"web", "api"}}, false, held},
		{"no subscription yet", &discoveryv3.DiscoveryRequest{TypeUrl: eds, ResourceNames: []string{"web", "api"}}, false, nil},
	} {
		b := mustMarshal(t, c.req)
		got := &sotwRequest{held: c.using}
		if err := newCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(b)}, got); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for j := range b {
			b[j] = 'x' // gRPC reuses the buffer
		}
		want := proto.Clone(c.req).(*discoveryv3.DiscoveryRequest)
		if c.same {
			want.ResourceNames = nil
		}
		if got.sameNames != c.same || !proto.Equal(&got.DiscoveryRequest, want) {
			t.Errorf("%s: decoded %v (same names %v), want %v (%v)", c.name, &got.DiscoveryRequest, got.sameNames, want, c.same)
		}
		got.Reset()
		if got.sameNames || got.TypeUrl != "" {
			t.Errorf("%s: reset left %v, same names %v", c.name, &got.DiscoveryRequest, got.sameNames)
		}
	}
}
