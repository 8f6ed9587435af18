package translator

import (
	"net/netip"
	"sort"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// metadataNamespace is the filter_metadata key under which endpoints carry
// their Chancery id and operator metadata (visible in Envoy's admin and
// access logs).
const metadataNamespace = "chancery"

// loadAssignmentFor translates a service's endpoints and their health
// verdicts, one locality per zone. It is built even with no endpoints:
// Envoy keeps an EDS cluster warming until it receives an assignment, and
// an empty one is an answer. svc may be nil (a service not in the snapshot).
func loadAssignmentFor(name string, svc *model.Service, eps map[string]*model.Endpoint, health map[string]*model.Health) *endpointv3.ClusterLoadAssignment {
	var loc *model.Locality
	if svc != nil {
		loc = svc.Locality
	}
	byZone := map[string][]string{} // each list sorted: distinctAddresses is
	for _, id := range distinctAddresses(eps) {
		byZone[eps[id].Zone] = append(byZone[eps[id].Zone], id)
	}
	zones := make([]string, 0, len(byZone))
	for z := range byZone {
		zones = append(zones, z)
	}
	sort.Strings(zones)

	cla := &endpointv3.ClusterLoadAssignment{ClusterName: name}
	for _, z := range zones {
		ids := byZone[z]
		zw := loc.Weight(z)
		lle := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: z}}
		var sum uint32
		for _, id := range ids {
			e := lbEndpoint(id, eps[id], health[id], zw)
			lle.LbEndpoints = append(lle.LbEndpoints, e)
			sum += e.GetLoadBalancingWeight().GetValue()
		}
		// gRPC clients drop a locality without a weight and share
		// traffic between localities by it; the sum of its endpoints'
		// weights keeps each endpoint's share. Envoy reads locality
		// weights only with locality-weighted balancing, which Chancery
		// does not configure.
		lle.LoadBalancingWeight = wrapperspb.UInt32(sum)
		cla.Endpoints = append(cla.Endpoints, lle)
	}
	return cla
}

// distinctAddresses lists the ids of eps, sorted, less each endpoint whose
// address and port an endpoint of an earlier id has: one address is one
// host to a balancer, and gRPC clients refuse an assignment that names one
// twice. The first id keeps its zone, weight and metadata.
func distinctAddresses(eps map[string]*model.Endpoint) []string {
	ids := make([]string, 0, len(eps))
	for id := range eps {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	seen := make(map[netip.AddrPort]bool, len(ids))
	out := ids[:0]
	for _, id := range ids {
		ep := eps[id]
		a, err := netip.ParseAddr(ep.Address)
		if err == nil {
			k := netip.AddrPortFrom(a.Unmap().WithZone(""), uint16(ep.Port))
			if seen[k] {
				continue
			}
			seen[k] = true
		}
		out = append(out, id)
	}
	return out
}

// lbEndpoint is one endpoint, its weight scaled by its zone's (1 unless
// the service's locality weights the zone): Envoy's zone-aware routing
// shares what leaves the local zone by the zones' healthy weight.
func lbEndpoint(id string, ep *model.Endpoint, h *model.Health, zoneWeight uint32) *endpointv3.LbEndpoint {
	weight := ep.Weight
	if weight == 0 {
		weight = 1
	}
	weight *= zoneWeight
	return &endpointv3.LbEndpoint{
		HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
			Address: socketAddress(ep.Address, ep.Port),
		}},
		HealthStatus:        healthStatus(h),
		LoadBalancingWeight: wrapperspb.UInt32(weight),
		Metadata:            endpointMetadata(id, ep.Metadata),
	}
}

// healthStatus maps the leader's verdict. No verdict yet is UNKNOWN, which
// Envoy routes to: a new endpoint takes traffic before its first check.
func healthStatus(h *model.Health) corev3.HealthStatus {
	switch {
	case h == nil:
		return corev3.HealthStatus_UNKNOWN
	case h.Status == model.Healthy:
		return corev3.HealthStatus_HEALTHY
	case h.Status == model.Unhealthy:
		return corev3.HealthStatus_UNHEALTHY
	}
	return corev3.HealthStatus_UNKNOWN
}

// endpointMetadata carries the operator's metadata, with the id so access
// logs name the endpoint as the keyspace does (the id wins over a metadata
// key "id"). Endpoints without metadata carry none: a Struct is a map that
// every deterministic marshal sorts, and load assignments are marshalled for
// every Envoy they reach.
func endpointMetadata(id string, md map[string]string) *corev3.Metadata {
	if len(md) == 0 {
		return nil
	}
	fields := make(map[string]*structpb.Value, len(md)+1)
	for k, v := range md {
		fields[k] = structpb.NewStringValue(v)
	}
	fields["id"] = structpb.NewStringValue(id)
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
		metadataNamespace: {Fields: fields},
	}}
}
