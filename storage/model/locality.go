package model

import (
	"strconv"
	"strings"
)

// FailoverZone is the one locality mode: an Envoy sends every request to
// the endpoints of its own zone (its bootstrap's node.locality.zone) while
// enough of them are healthy, and to the other zones otherwise.
const FailoverZone = "zone"

// Locality is a service's zone-aware failover.
type Locality struct {
	// Failover is the mode; "zone" is the only one.
	Failover string `json:"failover"`
	// MinHealthy is how many healthy endpoints the Envoy's own zone needs
	// to keep all of its traffic; below that, traffic spreads over the
	// zones by their healthy weight. Default 1.
	MinHealthy uint32 `json:"min_healthy,omitempty"`
	// ZoneWeights scale the weights of a zone's endpoints, and so the share
	// of the traffic that leaves an Envoy's zone (or comes from an Envoy
	// without one) that the zone takes. A zone not listed has weight 1.
	ZoneWeights []ZoneWeight `json:"zone_weights,omitempty"`
}

// ZoneWeight is one zone's weight.
type ZoneWeight struct {
	Zone   string `json:"zone"`   // an endpoint zone, as endpoints/<svc>/<id> "zone" writes it
	Weight uint32 `json:"weight"` // 1-128
}

// Weight returns the weight of zone: its entry's, or 1.
func (l *Locality) Weight(zone string) uint32 {
	if l != nil {
		for _, zw := range l.ZoneWeights {
			if zw.Zone == zone {
				return zw.Weight
			}
		}
	}
	return 1
}

// validateLocality checks the locality's fields; its limits are in
// limits_locality.go.
func (s *Service) validateLocality(v *validator) {
	l := s.Locality
	if l == nil {
		return
	}
	v.checkNumber(limLocalityMinHealthy, uint64(l.MinHealthy), "locality.min_healthy")
	v.checkLen(limZoneWeights, len(l.ZoneWeights), "locality.zone_weights")
	switch l.Failover {
	case FailoverZone:
	case "":
		v.add("locality.failover", `required: "zone" (the Envoy's own zone first, then the others)`)
	default:
		v.add("locality.failover", `unknown mode %q: want "zone"`, l.Failover)
	}
	if s.LBPolicy == LBRingHash {
		v.add("locality", "zone failover needs lb_policy round_robin, least_request or random: ring_hash picks an endpoint by hash, not by zone")
	}
	seen := make(map[string]int, len(l.ZoneWeights))
	for i, zw := range l.ZoneWeights {
		p := "locality.zone_weights[" + strconv.Itoa(i) + "]"
		v.checkLen(limZoneWeightZone, len(zw.Zone), p, ".zone")
		v.checkNumber(limZoneWeight, uint64(zw.Weight), p, ".weight")
		if zw.Zone == "" {
			v.add(p+".zone", "required: the zone the weight applies to")
		}
		if strings.ContainsAny(zw.Zone, "/\x00") {
			v.add(p+".zone", "must not contain '/' or NUL (no endpoint zone does)")
		}
		if j, dup := seen[zw.Zone]; dup {
			v.add(p+".zone", "zone %q is weighted twice (also zone_weights[%d])", zw.Zone, j)
		}
		seen[zw.Zone] = i
	}
}
