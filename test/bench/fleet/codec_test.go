package main

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
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
