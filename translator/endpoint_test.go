package translator

import (
	"fmt"
	"slices"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

func lbEndpointOf(id, addr string, port, weight uint32, hs corev3.HealthStatus, md map[string]string) *endpointv3.LbEndpoint {
	fields := map[string]*structpb.Value{"id": structpb.NewStringValue(id)}
	for k, v := range md {
		fields[k] = structpb.NewStringValue(v)
	}
	lb := &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(addr, port),
		}},
		HealthStatus:        hs,
		LoadBalancingWeight: wrapperspb.UInt32(weight),
	}
	if len(md) > 0 { // endpoints without operator metadata carry none
		lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"chancery": {Fields: fields}}}
	}
	return lb
}

func TestLoadAssignmentFor(t *testing.T) {
	eps := map[string]*model.Endpoint{
		"z2":   {Address: "10.0.0.3", Port: 80, Zone: "b"},
		"z1":   {Address: "10.0.0.2", Port: 80, Zone: "b", Weight: 5, Metadata: map[string]string{"v": "2"}},
		"none": {Address: "10.0.0.1", Port: 81},
		"a1":   {Address: "::1", Port: 82, Zone: "a"},
	}
	health := map[string]*model.Health{
		"z1":    {Status: model.Healthy, Since: time.Unix(0, 0)},
		"z2":    {Status: model.Unhealthy},
		"other": {Status: model.Unhealthy},
	}
	want := &endpointv3.ClusterLoadAssignment{
		ClusterName: "web",
		Endpoints: []*endpointv3.LocalityLbEndpoints{
			{Locality: &corev3.Locality{}, LoadBalancingWeight: wrapperspb.UInt32(1), LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpointOf("none", "10.0.0.1", 81, 1, corev3.HealthStatus_UNKNOWN, nil),
			}},
			{Locality: &corev3.Locality{Zone: "a"}, LoadBalancingWeight: wrapperspb.UInt32(1), LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpointOf("a1", "::1", 82, 1, corev3.HealthStatus_UNKNOWN, nil),
			}},
			{Locality: &corev3.Locality{Zone: "b"}, LoadBalancingWeight: wrapperspb.UInt32(6), LbEndpoints: []*endpointv3.LbEndpoint{
				lbEndpointOf("z1", "10.0.0.2", 80, 5, corev3.HealthStatus_HEALTHY, map[string]string{"v": "2"}),
				lbEndpointOf("z2", "10.0.0.3", 80, 1, corev3.HealthStatus_UNHEALTHY, nil),
			}},
		},
	}
	got := loadAssignmentFor("web", &model.Service{Protocol: "http"}, eps, health)
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("load assignment (-want +got):\n%s", diff)
	}
}

// TestLoadAssignmentEmpty: a service without endpoints still gets an
// assignment, or Envoy would keep its cluster warming forever.
func TestLoadAssignmentEmpty(t *testing.T) {
	got := loadAssignmentFor("idle", nil, nil, nil)
	want := &endpointv3.ClusterLoadAssignment{ClusterName: "idle"}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("load assignment (-want +got):\n%s", diff)
	}
	if err := got.ValidateAll(); err != nil {
		t.Error(err)
	}
}

// TestEndpointIDWins: the key's id is authoritative over a metadata "id".
func TestEndpointIDWins(t *testing.T) {
	md := endpointMetadata("real", map[string]string{"id": "fake", "k": "v"})
	got := md.GetFilterMetadata()["chancery"].AsMap()
	want := map[string]any{"id": "real", "k": "v"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("metadata (-want +got):\n%s", diff)
	}
}

// TestLoadAssignmentZoneWeights: a service's zone weights multiply its
// endpoints' weights zone by zone (Envoy shares what leaves an Envoy's zone
// by the zones' healthy weight); an unlisted zone, endpoints without one
// included, keeps weight 1, and a service without locality is unchanged.
func TestLoadAssignmentZoneWeights(t *testing.T) {
	eps := map[string]*model.Endpoint{
		"a1":   {Address: "10.0.0.1", Port: 80, Zone: "a", Weight: 2},
		"b1":   {Address: "10.0.0.2", Port: 80, Zone: "b", Weight: 128},
		"c1":   {Address: "10.0.0.3", Port: 80, Zone: "c"},
		"none": {Address: "10.0.0.4", Port: 80},
	}
	weights := func(cla *endpointv3.ClusterLoadAssignment) map[string]uint32 {
		out := map[string]uint32{}
		for _, l := range cla.Endpoints {
			for _, e := range l.LbEndpoints {
				out[l.Locality.Zone] += e.LoadBalancingWeight.GetValue()
			}
		}
		return out
	}
	loc := &model.Locality{Failover: model.FailoverZone, ZoneWeights: []model.ZoneWeight{{Zone: "a", Weight: 3}, {Zone: "b", Weight: 128}}}
	cases := []struct {
		name string
		svc  *model.Service
		want map[string]uint32
	}{
		{"no locality", &model.Service{Protocol: "http"}, map[string]uint32{"a": 2, "b": 128, "c": 1, "": 1}},
		{"no service", nil, map[string]uint32{"a": 2, "b": 128, "c": 1, "": 1}},
		{"locality without weights", &model.Service{Protocol: "http", Locality: &model.Locality{Failover: model.FailoverZone}}, map[string]uint32{"a": 2, "b": 128, "c": 1, "": 1}},
		{"zone weights", &model.Service{Protocol: "http", Locality: loc}, map[string]uint32{"a": 6, "b": 16384, "c": 1, "": 1}},
	}
	for _, c := range cases {
		cla := loadAssignmentFor("web", c.svc, eps, nil)
		if diff := cmp.Diff(c.want, weights(cla)); diff != "" {
			t.Errorf("%s: weights per zone (-want +got):\n%s", c.name, diff)
		}
		if err := cla.ValidateAll(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}

// Two endpoints of one service at one address and port are one host: the
// first id is sent, the other is not (gRPC clients refuse an assignment
// naming an address twice).
func TestLoadAssignmentOneHostPerAddress(t *testing.T) {
	eps := map[string]*model.Endpoint{
		"b":  {Address: "10.0.0.1", Port: 80, Zone: "z2"},
		"a":  {Address: "10.0.0.1", Port: 80, Zone: "z1", Weight: 3},
		"c":  {Address: "10.0.0.1", Port: 81},
		"v6": {Address: "::ffff:10.0.0.1", Port: 80},
	}
	got := loadAssignmentFor("web", &model.Service{Protocol: "http"}, eps, nil)
	var sent []string
	for _, l := range got.GetEndpoints() {
		for _, e := range l.GetLbEndpoints() {
			sa := e.GetEndpoint().GetAddress().GetSocketAddress()
			sent = append(sent, fmt.Sprintf("%s/%s:%d w%d", l.GetLocality().GetZone(), sa.GetAddress(), sa.GetPortValue(), e.GetLoadBalancingWeight().GetValue()))
		}
	}
	// a, the first id at 10.0.0.1:80, keeps its zone and weight; c is on another port.
	if want := []string{"/10.0.0.1:81 w1", "z1/10.0.0.1:80 w3"}; !slices.Equal(sent, want) {
		t.Errorf("endpoints sent %v, want %v", sent, want)
	}
}
