package model

import "time"

// The limits of the policy's traffic fields: one per level a policy is set
// at, at id+level (policyLevelOf), each with its own field path.
const (
	limRLRequests fieldLimit = iota*policyLevels + limJWTEnd
	limRLPer
	limRLBurst
	limFaultStatus
	limFaultGRPCStatus
	limFaultDelay
	limGRLDescriptors
	limGRLEntries
	limGRLHeader
	limGRLHeaderKey
	limGRLGenericKey
	limGRLGenericValue
	limPolicyTrafficEnd
)

// The limits of the listener's and the route's own traffic fields.
const (
	limListenerRLRequests fieldLimit = iota + limPolicyTrafficEnd
	limListenerRLPer
	limListenerRLBurst
	limRLSService
	limRLSDomain
	limRLSTimeout
	limMirrorService
	limTrafficEnd
)

type rateLimitIDsOf struct{ requests, per, burst fieldLimit }

// rateLimitIDs are the limits of the bucket at p: the listener's, or a
// policy's at its level.
func rateLimitIDs(p string) rateLimitIDsOf {
	if p == "rate_limit" {
		return rateLimitIDsOf{limListenerRLRequests, limListenerRLPer, limListenerRLBurst}
	}
	l := fieldLimit(policyLevelOf(p))
	return rateLimitIDsOf{limRLRequests + l, limRLPer + l, limRLBurst + l}
}

type faultIDsOf struct{ status, grpcStatus, delay fieldLimit }

func faultIDs(p string) faultIDsOf {
	l := fieldLimit(policyLevelOf(p))
	return faultIDsOf{limFaultStatus + l, limFaultGRPCStatus + l, limFaultDelay + l}
}

type globalIDs struct {
	descriptors, entries, header, headerKey, genericKey, genericValue fieldLimit
}

func globalRateLimitIDs(p string) globalIDs {
	l := fieldLimit(policyLevelOf(p))
	return globalIDs{limGRLDescriptors + l, limGRLEntries + l, limGRLHeader + l, limGRLHeaderKey + l,
		limGRLGenericKey + l, limGRLGenericValue + l}
}

// trafficPolicyAt is a route table whose policy at level holds fields (JSON
// members).
func trafficPolicyAt(level fieldLimit, fields string) string {
	const route = `{"match":{"prefix":"/"},"service":"web"`
	pol := `"policy":{` + fields + `}`
	switch level {
	case 0:
		return `{` + pol + `,"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + route + `}]}]}`
	case 1:
		return `{"virtual_hosts":[{"name":"v","domains":["*"],` + pol + `,"routes":[` + route + `}]}]}`
	}
	return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[` + route + `,` + pol + `}]}]}`
}

func trafficLimits() map[fieldLimit]Limit {
	out := map[fieldLimit]Limit{}
	for l := fieldLimit(0); l < policyLevels; l++ {
		for id, lim := range policyTrafficLimits() {
			lim.Kind, lim.Field, lim.In = KindRouteTable, policyLevelPaths[l]+"."+lim.Field, trafficPolicyAt(l, lim.In)
			out[id+l] = lim
		}
	}
	lis := func(fields string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"http","route_table":"web","groups":["edge"],` + fields + `}`
	}
	rls := func(fields string) string { return lis(`"rate_limit_service":{` + fields + `}`) }
	listenerIDs := map[fieldLimit]fieldLimit{limRLRequests: limListenerRLRequests, limRLPer: limListenerRLPer, limRLBurst: limListenerRLBurst}
	for id, lim := range bucketLimits() {
		lim.Kind, lim.Field, lim.In = KindListener, "rate_limit."+lim.Field, lis(`"rate_limit":{`+lim.In+`}`)
		out[listenerIDs[id]] = lim
	}
	out[limRLSService] = Limit{Kind: KindListener, Field: "rate_limit_service.service", Unit: UnitBytes, Max: nameMax, Fill: "s",
		In: rls(`"domain":"d","service":@`)}
	out[limRLSDomain] = Limit{Kind: KindListener, Field: "rate_limit_service.domain", Unit: UnitBytes, Min: 1, Max: 256, Fill: "d",
		Envoy: "RateLimit.domain is not empty (PGV)", In: rls(`"service":"rls","domain":@`)}
	out[limRLSTimeout] = Limit{Kind: KindListener, Field: "rate_limit_service.timeout", Unit: UnitDuration,
		Min: int64(time.Millisecond), Max: int64(time.Minute), Unset: true,
		Envoy: "Envoy counts the rate-limit service's timeout in milliseconds", In: rls(`"service":"rls","domain":"d","timeout":@`)}
	out[limMirrorService] = Limit{Kind: KindRouteTable, Field: "virtual_hosts[*].routes[*].mirror.service", Unit: UnitBytes, Max: nameMax, Fill: "m",
		In: `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","mirror":{"service":@}}]}]}`}
	return out
}

// bucketLimits are a token bucket's, by their policy ids at level 0;
// Field and In are relative to the bucket.
func bucketLimits() map[fieldLimit]Limit {
	return map[fieldLimit]Limit{
		limRLRequests: {Unit: UnitNumber, Field: "requests", Min: 1, Max: maxCount,
			Envoy: "TokenBucket.tokens_per_fill above 0 (PGV)", In: `"per":"1s","requests":@`},
		limRLPer: {Unit: UnitDuration, Field: "per", Min: int64(MinFillInterval), Max: int64(24 * time.Hour),
			Envoy: "a token bucket's fill_interval at least 50ms (load time)", In: `"requests":1,"per":@`},
		limRLBurst: {Unit: UnitNumber, Field: "burst", Max: maxCount, Unset: true,
			Envoy: "TokenBucket.max_tokens above 0 (0 would refuse every request)", In: `"requests":1,"per":"1s","burst":@`},
	}
}

// policyTrafficLimits are the policy's traffic limits, by their ids at
// level 0; Field is relative to the policy, In is the policy's members.
func policyTrafficLimits() map[fieldLimit]Limit {
	out := map[fieldLimit]Limit{}
	for id, l := range bucketLimits() {
		l.Field, l.In = "rate_limit."+l.Field, `"rate_limit":{`+l.In+`}`
		out[id] = l
	}
	// A route's global_rate_limit needs a forwarding route: trafficPolicyAt's is.
	grl := func(entries string) string {
		return `"global_rate_limit":{"descriptors":[{"entries":` + entries + `}]}`
	}
	out[limFaultStatus] = Limit{Unit: UnitNumber, Field: "fault.abort.status", Min: 200, Max: 599, Unset: true,
		Envoy: "FaultAbort.http_status in [200, 600) (PGV)", In: `"fault":{"abort":{"status":@}}`}
	out[limFaultGRPCStatus] = Limit{Unit: UnitNumber, Field: "fault.abort.grpc_status", Min: 1, Max: 16, Unset: true,
		In: `"fault":{"abort":{"grpc_status":@}}`}
	out[limFaultDelay] = Limit{Unit: UnitDuration, Field: "fault.delay.duration", Min: int64(time.Millisecond), Max: int64(time.Hour),
		Envoy: "FaultDelay.fixed_delay above 0 (PGV); Envoy counts it in milliseconds", In: `"fault":{"delay":{"duration":@}}`}
	out[limGRLDescriptors] = Limit{Unit: UnitItems, Field: "global_rate_limit.descriptors", Min: 1, Max: 16,
		Fill: `{"entries":[{"generic":{"value":"v{i}"}}]}`, Envoy: "RateLimit.actions has an item (PGV)", In: `"global_rate_limit":{"descriptors":@}`}
	out[limGRLEntries] = Limit{Unit: UnitItems, Field: "global_rate_limit.descriptors[*].entries", Min: 1, Max: 16,
		Fill: `{"generic":{"key":"k{i}","value":"v"}}`, Envoy: "RateLimit.actions has an item (PGV)", In: grl(`@`)}
	out[limGRLHeader] = Limit{Unit: UnitBytes, Field: "global_rate_limit.descriptors[*].entries[*].request_header.header", Min: 1, Max: 256,
		Fill: "x", Envoy: "RequestHeaders.header_name is not empty (PGV)", In: grl(`[{"request_header":{"key":"k","header":@}}]`)}
	out[limGRLHeaderKey] = Limit{Unit: UnitBytes, Field: "global_rate_limit.descriptors[*].entries[*].request_header.key", Min: 1, Max: 256,
		Fill: "k", Envoy: "RequestHeaders.descriptor_key is not empty (PGV)", In: grl(`[{"request_header":{"header":"x","key":@}}]`)}
	out[limGRLGenericKey] = Limit{Unit: UnitBytes, Field: "global_rate_limit.descriptors[*].entries[*].generic.key", Max: 256,
		Fill: "k", In: grl(`[{"generic":{"value":"v","key":@}}]`)}
	out[limGRLGenericValue] = Limit{Unit: UnitBytes, Field: "global_rate_limit.descriptors[*].entries[*].generic.value", Min: 1, Max: 1024,
		Fill: "v", Envoy: "GenericKey.descriptor_value is not empty (PGV)", In: grl(`[{"generic":{"value":@}}]`)}
	return out
}
