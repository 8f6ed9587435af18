package model

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Endpoint is one address of a service. Key: endpoints/<service>/<id>.
type Endpoint struct {
	Address  string            `json:"address"` // IPv4 or IPv6 literal
	Port     uint32            `json:"port"`
	Zone     string            `json:"zone,omitempty"`
	Weight   uint32            `json:"weight,omitempty"` // 1-128, default 1
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Validate checks every field and reports all problems at once.
func (e *Endpoint) Validate() error {
	v := &validator{}
	e.checkLimits(v) // port, weight and every size, from Limits (limits_check.go)
	if e.Address == "" {
		v.add("address", "required")
	} else if _, err := netip.ParseAddr(e.Address); err != nil {
		v.add("address", "want an IP address, got %q", e.Address)
	}
	if strings.ContainsAny(e.Zone, "/\x00") {
		v.add("zone", "must not contain '/' or NUL")
	}
	for _, k := range slices.Sorted(maps.Keys(e.Metadata)) {
		if k == "" {
			v.add("metadata", "keys must not be empty")
		}
	}
	return v.err()
}

// Health states written by the elected leader.
const (
	Healthy   = "healthy"
	Unhealthy = "unhealthy"
)

// Health is the leader's verdict on one endpoint. Key: health/<service>/<id>.
type Health struct {
	Status string    `json:"status"`
	Since  time.Time `json:"since"`
	Reason string    `json:"reason,omitempty"`
}

// Validate checks every field and reports all problems at once.
func (h *Health) Validate() error {
	v := &validator{}
	h.checkLimits(v)
	if h.Status != Healthy && h.Status != Unhealthy {
		v.add("status", "want healthy or unhealthy, got %q", h.Status)
	}
	return v.err()
}
