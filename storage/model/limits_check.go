package model

import (
	"maps"
	"slices"
	"strconv"
)

// The bounds of the kinds other than the route table (limits_route.go),
// each from Limits.

func (s *Service) checkLimits(v *validator) {
	v.checkDuration(limConnectTimeout, s.ConnectTimeout, "connect_timeout")
	if cb := s.CircuitBreakers; cb != nil {
		v.checkNumber(limMaxConnections, uint64(cb.MaxConnections), "circuit_breakers.max_connections")
		v.checkNumber(limMaxPendingRequests, uint64(cb.MaxPendingRequests), "circuit_breakers.max_pending_requests")
		v.checkNumber(limMaxRequests, uint64(cb.MaxRequests), "circuit_breakers.max_requests")
		v.checkNumber(limMaxRetries, uint64(cb.MaxRetries), "circuit_breakers.max_retries")
	}
	if od := s.OutlierDetection; od != nil {
		v.checkNumber(limConsecutive5xx, uint64(od.Consecutive5xx), "outlier_detection.consecutive_5xx")
		v.checkDuration(limODInterval, od.Interval, "outlier_detection.interval")
		v.checkDuration(limBaseEjectionTime, od.BaseEjectionTime, "outlier_detection.base_ejection_time")
		v.checkNumber(limMaxEjectionPercent, uint64(od.MaxEjectionPercent), "outlier_detection.max_ejection_percent")
	}
	if hc := s.HealthCheck; hc != nil {
		v.checkLen(limHCPath, len(hc.Path), "health_check.path")
		v.checkLen(limHCStatuses, len(hc.ExpectedStatuses), "health_check.expected_statuses")
		for i, st := range hc.ExpectedStatuses {
			v.checkNumber(limHCStatus, uint64(st), "health_check.expected_statuses[", strconv.Itoa(i), "]")
		}
		v.checkDuration(limHCInterval, hc.Interval, "health_check.interval")
		v.checkDuration(limHCTimeout, hc.Timeout, "health_check.timeout")
		v.checkNumber(limHealthyThreshold, uint64(hc.HealthyThreshold), "health_check.healthy_threshold")
		v.checkNumber(limUnhealthyThreshold, uint64(hc.UnhealthyThreshold), "health_check.unhealthy_threshold")
	}
	if s.TLS != nil {
		s.TLS.checkLimits(v)
	}
}

func (e *Endpoint) checkLimits(v *validator) {
	v.checkNumber(limEndpointPort, uint64(e.Port), "port")
	v.checkNumber(limEndpointWeight, uint64(e.Weight), "weight")
	v.checkLen(limZone, len(e.Zone), "zone")
	v.checkLen(limMetadata, len(e.Metadata), "metadata")
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		v.checkLen(limMetadataKey, len(k), "metadata")
		v.checkLen(limMetadataValue, len(e.Metadata[k]), "metadata[", strconv.QuoteToASCII(k), "]")
	}
}

func (h *Health) checkLimits(v *validator) {
	v.checkLen(limHealthReason, len(h.Reason), "reason")
}

func (l *Listener) checkLimits(v *validator) {
	if l.Binds() { // a grpc listener has no port (validateGRPC)
		v.checkNumber(limListenerPort, uint64(l.Port), "port")
	}
	v.checkLen(limListenerRouteTable, len(l.RouteTable), "route_table")
	v.checkLen(limListenerService, len(l.Service), "service")
	v.checkLen(limGroups, len(l.Groups), "groups")
	l.checkTLSLimits(v)
	for i, g := range l.Groups {
		v.checkLen(limGroup, len(g), "groups[", strconv.Itoa(i), "]")
	}
}
