package translator

import (
	"errors"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonlbv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/common/v3"
	leastrequestv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/least_request/v3"
	randomv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/random/v3"
	roundrobinv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/load_balancing_policies/round_robin/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// localityPlugin translates a service's locality into Envoy's own
// zone-aware routing, forced to the local zone: one cluster for every
// Envoy, each of which picks its own zone from its bootstrap
// (node.locality.zone and the local cluster that names it, see
// docs/locality.md). An Envoy without them balances over every zone.
// The zone weights are in the load assignment (loadAssignmentFor).
type localityPlugin struct{}

func (localityPlugin) name() string { return "locality" }

func (localityPlugin) cluster(svc *model.Service, c *clusterv3.Cluster) error {
	if svc.Locality == nil {
		return nil
	}
	policy, err := localityLBPolicy(svc.LBPolicy, zoneAware(svc.Locality))
	if err != nil {
		return err
	}
	c.LbPolicy = clusterv3.Cluster_ROUND_ROBIN // unset: load_balancing_policy decides
	c.LoadBalancingPolicy = policy
	return nil
}

// zoneAware sends everything to the Envoy's zone while it has min_healthy
// healthy endpoints (force_local_zone), whatever the sizes of the zones;
// below that, to the zones in proportion to their healthy endpoints'
// weights, which the zone weights scale. min_cluster_size 1 keeps Envoy
// from giving up zone routing for services of fewer than 6 endpoints.
func zoneAware(l *model.Locality) *commonlbv3.LocalityLbConfig {
	minHealthy := l.MinHealthy
	if minHealthy == 0 {
		minHealthy = 1
	}
	return &commonlbv3.LocalityLbConfig{LocalityConfigSpecifier: &commonlbv3.LocalityLbConfig_ZoneAwareLbConfig_{
		ZoneAwareLbConfig: &commonlbv3.LocalityLbConfig_ZoneAwareLbConfig{
			MinClusterSize: wrapperspb.UInt64(1),
			ForceLocalZone: &commonlbv3.LocalityLbConfig_ZoneAwareLbConfig_ForceLocalZone{MinSize: wrapperspb.UInt32(minHealthy)},
			LocalityBasis:  commonlbv3.LocalityLbConfig_ZoneAwareLbConfig_HEALTHY_HOSTS_WEIGHT,
		},
	}}
}

// localityLBPolicy is the service's balancing policy as the typed
// extension that carries the locality configuration. Ring hash has no
// zone-aware routing (the model refuses it with a locality).
func localityLBPolicy(lb string, loc *commonlbv3.LocalityLbConfig) (*clusterv3.LoadBalancingPolicy, error) {
	var cfg proto.Message
	name := "envoy.load_balancing_policies.round_robin"
	switch lb {
	case model.LBRingHash:
		return nil, errors.New("locality: ring_hash has no zone-aware routing")
	case model.LBLeastRequest:
		name, cfg = "envoy.load_balancing_policies.least_request", &leastrequestv3.LeastRequest{LocalityLbConfig: loc}
	case model.LBRandom:
		name, cfg = "envoy.load_balancing_policies.random", &randomv3.Random{LocalityLbConfig: loc}
	default:
		cfg = &roundrobinv3.RoundRobin{LocalityLbConfig: loc}
	}
	a, err := pack(cfg)
	if err != nil {
		return nil, err
	}
	return &clusterv3.LoadBalancingPolicy{Policies: []*clusterv3.LoadBalancingPolicy_Policy{{
		TypedExtensionConfig: &corev3.TypedExtensionConfig{Name: name, TypedConfig: a},
	}}}, nil
}
