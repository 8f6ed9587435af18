package health

import (
	"slices"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// What a Service's health_check means when it leaves a field out. They are
// Envoy's usual magnitudes: a dead endpoint leaves rotation within about
// interval × unhealthy threshold (15 s), one that recovers returns after two
// passing checks.
const (
	defaultCheckInterval      = 5 * time.Second
	defaultCheckTimeout       = time.Second
	defaultHealthyThreshold   = 2
	defaultUnhealthyThreshold = 3
)

// checkSpec is a Service's health check with every default filled in.
type checkSpec struct {
	kind      string // http, tcp or grpc
	path      string
	statuses  []uint32 // empty: any 2xx
	h2c       bool     // HTTP/2 without TLS: http2 and grpc services
	interval  time.Duration
	timeout   time.Duration
	healthy   uint32
	unhealthy uint32
}

// specFor resolves svc's health check; ok is false for a service without one.
func specFor(svc *model.Service) (checkSpec, bool) {
	hc := svc.HealthCheck
	if hc == nil {
		return checkSpec{}, false
	}
	s := checkSpec{
		kind:      hc.Type,
		path:      hc.Path,
		statuses:  hc.ExpectedStatuses,
		h2c:       svc.Protocol == model.ProtocolHTTP2 || svc.Protocol == model.ProtocolGRPC,
		interval:  orDefault(hc.Interval.Std(), defaultCheckInterval),
		timeout:   orDefault(hc.Timeout.Std(), defaultCheckTimeout),
		healthy:   orDefault(hc.HealthyThreshold, defaultHealthyThreshold),
		unhealthy: orDefault(hc.UnhealthyThreshold, defaultUnhealthyThreshold),
	}
	// Validation only compares the two when both are set; a default must not
	// make a check outlast its interval either.
	s.timeout = min(s.timeout, s.interval)
	return s, true
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (s checkSpec) equal(o checkSpec) bool {
	return s.kind == o.kind && s.path == o.path && slices.Equal(s.statuses, o.statuses) && s.h2c == o.h2c &&
		s.interval == o.interval && s.timeout == o.timeout && s.healthy == o.healthy && s.unhealthy == o.unhealthy
}

// expects reports whether an HTTP status counts as healthy.
func (s checkSpec) expects(status int) bool {
	if len(s.statuses) == 0 {
		return status >= 200 && status < 300
	}
	return slices.Contains(s.statuses, uint32(status))
}
