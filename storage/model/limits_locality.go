package model

const (
	limLocalityMinHealthy fieldLimit = iota + limTelemetryEnd
	limZoneWeights
	limZoneWeightZone
	limZoneWeight
	limLocalityEnd
)

func localityLimits() map[fieldLimit]Limit {
	loc := func(fields string) string { return `{"protocol":"http","locality":{"failover":"zone",` + fields + `}}` }
	return map[fieldLimit]Limit{
		limLocalityMinHealthy: {Kind: KindService, Field: "locality.min_healthy", Unit: UnitNumber, Min: 1, Max: 1000, Unset: true,
			Envoy: "ZoneAwareLbConfig.ForceLocalZone.min_size", In: loc(`"min_healthy":@`)},
		limZoneWeights: {Kind: KindService, Field: "locality.zone_weights", Unit: UnitItems, Max: 100,
			Fill: `{"zone":"z{i}","weight":1}`, In: loc(`"zone_weights":@`)},
		limZoneWeightZone: {Kind: KindService, Field: "locality.zone_weights[*].zone", Unit: UnitBytes, Min: 1, Max: nameMax,
			Fill: "z", In: loc(`"zone_weights":[{"zone":@,"weight":1}]`)},
		// An endpoint's weight (at most 128) times its zone's is at most
		// 16384, so a zone's weights fit Envoy's 32-bit sum up to 262144
		// endpoints.
		limZoneWeight: {Kind: KindService, Field: "locality.zone_weights[*].weight", Unit: UnitNumber, Min: 1, Max: 128,
			Envoy: "LbEndpoint.load_balancing_weight at least 1 (PGV); a locality's weights add up to at most 2^32-1",
			In:    loc(`"zone_weights":[{"zone":"a","weight":@}]`)},
	}
}
