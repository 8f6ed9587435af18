package model

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// The bounds of the kinds other than the route table (limits_route.go),
// each from Limits.

func (s *Service) checkLimits(v *validator) {
	v.checkDuration(limConnectTimeout, "connect_timeout", s.ConnectTimeout)
	if cb := s.CircuitBreakers; cb != nil {
		v.checkNumber(limMaxConnections, "circuit_breakers.max_connections", uint64(cb.MaxConnections))
		v.checkNumber(limMaxPendingRequests, "circuit_breakers.max_pending_requests", uint64(cb.MaxPendingRequests))
		v.checkNumber(limMaxRequests, "circuit_breakers.max_requests", uint64(cb.MaxRequests))
		v.checkNumber(limMaxRetries, "circuit_breakers.max_retries", uint64(cb.MaxRetries))
	}
	if od := s.OutlierDetection; od != nil {
		v.checkNumber(limConsecutive5xx, "outlier_detection.consecutive_5xx", uint64(od.Consecutive5xx))
		v.checkDuration(limODInterval, "outlier_detection.interval", od.Interval)
		v.checkDuration(limBaseEjectionTime, "outlier_detection.base_ejection_time", od.BaseEjectionTime)
		v.checkNumber(limMaxEjectionPercent, "outlier_detection.max_ejection_percent", uint64(od.MaxEjectionPercent))
	}
	if hc := s.HealthCheck; hc != nil {
		v.checkLen(limHCPath, "health_check.path", len(hc.Path))
		v.checkLen(limHCStatuses, "health_check.expected_statuses", len(hc.ExpectedStatuses))
		for i, st := range hc.ExpectedStatuses {
			v.checkNumber(limHCStatus, fmt.Sprintf("health_check.expected_statuses[%d]", i), uint64(st))
		}
		v.checkDuration(limHCInterval, "health_check.interval", hc.Interval)
		v.checkDuration(limHCTimeout, "health_check.timeout", hc.Timeout)
		v.checkNumber(limHealthyThreshold, "health_check.healthy_threshold", uint64(hc.HealthyThreshold))
		v.checkNumber(limUnhealthyThreshold, "health_check.unhealthy_threshold", uint64(hc.UnhealthyThreshold))
	}
}

func (e *Endpoint) checkLimits(v *validator) {
	v.checkNumber(limEndpointPort, "port", uint64(e.Port))
	v.checkNumber(limEndpointWeight, "weight", uint64(e.Weight))
	v.checkLen(limZone, "zone", len(e.Zone))
	v.checkLen(limMetadata, "metadata", len(e.Metadata))
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		v.checkLen(limMetadataKey, "metadata", len(k))
		v.checkLen(limMetadataValue, "metadata["+strconv.QuoteToASCII(k)+"]", len(e.Metadata[k]))
	}
}

func (h *Health) checkLimits(v *validator) {
	v.checkLen(limHealthReason, "reason", len(h.Reason))
}

func (l *Listener) checkLimits(v *validator) {
	v.checkNumber(limListenerPort, "port", uint64(l.Port))
	v.checkLen(limListenerRouteTable, "route_table", len(l.RouteTable))
	v.checkLen(limListenerService, "service", len(l.Service))
	v.checkLen(limGroups, "groups", len(l.Groups))
	for i, g := range l.Groups {
		v.checkLen(limGroup, fmt.Sprintf("groups[%d]", i), len(g))
	}
}
