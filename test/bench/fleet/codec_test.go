package main

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// What the hand encoder writes decodes to the request it was given.
func TestDeltaRequestEncoding(t *testing.T) {
	for _, req := range []*discoveryv3.DeltaDiscoveryRequest{
		{},
		{TypeUrl: "t", ResponseNonce: "1-v"},
		{Node: &corev3.Node{Id: "n", Cluster: "g"}, TypeUrl: "t", ResourceNamesSubscribe: []string{"a", "b"},
			ResourceNamesUnsubscribe: []string{"c"}, InitialResourceVersions: map[string]string{"a": "1", "b": "", "": "x"}},
		{TypeUrl: "t", ResponseNonce: "1-v", ErrorDetail: &rpcstatus.Status{Code: 3, Message: "no"}},
	} {
		b, err := appendDeltaRequest(nil, req)
		if err != nil {
			t.Fatal(err)
		}
		got := &discoveryv3.DeltaDiscoveryRequest{}
		if err := proto.Unmarshal(b, got); err != nil {
			t.Fatalf("%v: %v", req, err)
		}
		if !proto.Equal(got, req) {
			t.Errorf("encoded %v, decoded %v", req, got)
		}
	}
}

// What the hand decoder reads equals what protobuf reads, including
// responses with fields it leaves to protobuf.
func TestDeltaResponseDecoding(t *testing.T) {
	a := &anypb.Any{TypeUrl: "t", Value: []byte{1, 2, 3}}
	for _, resp := range []*discoveryv3.DeltaDiscoveryResponse{
		{},
		{SystemVersionInfo: "v", TypeUrl: "t", Nonce: "1-v", RemovedResources: []string{"x", "y"},
			Resources: []*discoveryv3.Resource{{Name: "a", Version: "1", Resource: a}, {Name: "b"}}},
		{Nonce: "1", Resources: []*discoveryv3.Resource{{Name: "a", Aliases: []string{"al"}, Resource: a}}},
		{Nonce: "1", ControlPlane: &corev3.ControlPlane{Identifier: "cp"}},
	} {
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got := &discoveryv3.DeltaDiscoveryResponse{}
		if err := decodeDeltaResponse(b, got); err != nil {
			t.Fatalf("%v: %v", resp, err)
		}
		if !proto.Equal(got, resp) {
			t.Errorf("encoded %v, decoded %v", resp, got)
		}
	}
	if err := decodeDeltaResponse([]byte{0x12, 0x05, 0x01}, &discoveryv3.DeltaDiscoveryResponse{}); err == nil {
		t.Error("a truncated response decoded without an error")
	}
}

func TestSotwResponseDecoding(t *testing.T) {
	a := &anypb.Any{TypeUrl: "t", Value: []byte{1, 2, 3}}
	for _, resp := range []*discoveryv3.DiscoveryResponse{
		{},
		{VersionInfo: "v", TypeUrl: "t", Nonce: "1-v", Resources: []*anypb.Any{a, {TypeUrl: "t"}}},
		{Nonce: "1", Canary: true, Resources: []*anypb.Any{a}},
	} {
		b, err := proto.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got := &discoveryv3.DiscoveryResponse{}
		if err := decodeSotwResponse(b, got); err != nil {
			t.Fatalf("%v: %v", resp, err)
		}
		if !proto.Equal(got, resp) {
			t.Errorf("encoded %v, decoded %v", resp, got)
		}
	}
}
