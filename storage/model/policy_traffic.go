package model

import (
	"fmt"
	"math"
	"time"
)

// RateLimit is a local token bucket: it holds Burst tokens (Requests when
// unset), starts full and gains Requests tokens every Per, never beyond
// Burst; each request takes one, and a request that finds none is
// answered 429. A bucket is Envoy's own (one per Envoy process), not
// shared across a fleet.
type RateLimit struct {
	Requests uint32   `json:"requests"`
	Per      Duration `json:"per"`
	Burst    uint32   `json:"burst,omitempty"`
}

// MinFillInterval is Envoy's least token bucket fill interval: it refuses
// a shorter one ("fill timer must be >= 50ms").
const MinFillInterval = 50 * time.Millisecond

// MaxTokens is the bucket size a RateLimit holds.
func (r *RateLimit) MaxTokens() uint32 {
	if r.Burst == 0 {
		return r.Requests
	}
	return r.Burst
}

// validate checks a bucket at p: a policy's ("…policy.rate_limit") or a
// listener's ("rate_limit").
func (r *RateLimit) validate(v *validator, p string) {
	if r == nil {
		return
	}
	ids := rateLimitIDs(p)
	if r.Requests == 0 {
		v.add(p+".requests", "required: the tokens the bucket gains every per, at least 1")
	} else {
		v.checkNumber(ids.requests, uint64(r.Requests), p, ".requests")
	}
	r.Per.check(v, p+".per")
	switch d := r.Per.Std(); {
	case r.Per.IsZero():
		v.add(p+".per", "required: how often the bucket gains requests tokens, e.g. \"1s\"")
	case d > 0 && d < MinFillInterval:
		v.add(p+".per", "must be at least %s, got %s: Envoy refuses a token bucket that fills more often", durationText(MinFillInterval), d)
	default:
		v.checkDuration(ids.per, r.Per, p, ".per")
	}
	v.checkNumber(ids.burst, uint64(r.Burst), p, ".burst")
}

// GlobalRateLimit is what a policy's requests tell the listener's
// rate-limit service: each descriptor is one question, made of its
// entries in order. Deeper levels replace the descriptors of the levels
// above. Requests of a listener without a rate_limit_service are not
// asked about.
type GlobalRateLimit struct {
	Descriptors []RateLimitDescriptor `json:"descriptors"`
}

// RateLimitDescriptor is one descriptor sent to the rate-limit service.
type RateLimitDescriptor struct {
	Entries []RateLimitEntry `json:"entries"`
}

// RateLimitEntry is one entry of a descriptor: exactly one of its fields.
// A request without the header of a request_header entry sends no
// descriptor of that entry's (Envoy's rule).
type RateLimitEntry struct {
	RequestHeader *RequestHeaderEntry `json:"request_header,omitempty"` // (key, the header's value)
	RemoteAddress bool                `json:"remote_address,omitempty"` // ("remote_address", the client's address)
	Generic       *GenericEntry       `json:"generic,omitempty"`        // (key or "generic_key", value)
}

// RequestHeaderEntry sends a request header's value under a key.
type RequestHeaderEntry struct {
	Header string `json:"header"`
	Key    string `json:"key"`
}

// GenericEntry sends a fixed value, under key ("generic_key" if unset).
type GenericEntry struct {
	Key   string `json:"key,omitempty"`
	Value string `json:"value"`
}

func (g *GlobalRateLimit) validate(v *validator, p string) {
	if g == nil {
		return
	}
	ids := globalRateLimitIDs(p)
	if len(g.Descriptors) == 0 {
		v.add(p+".descriptors", "at least one descriptor is required")
	}
	v.checkLen(ids.descriptors, len(g.Descriptors), p, ".descriptors")
	for i, d := range g.Descriptors {
		dp := fmt.Sprintf("%s.descriptors[%d]", p, i)
		if len(d.Entries) == 0 {
			v.add(dp+".entries", "at least one entry is required")
		}
		v.checkLen(ids.entries, len(d.Entries), dp, ".entries")
		for j := range d.Entries {
			d.Entries[j].validate(v, fmt.Sprintf("%s.entries[%d]", dp, j), ids)
		}
	}
}

func (e *RateLimitEntry) validate(v *validator, p string, ids globalIDs) {
	set := 0
	for _, s := range []bool{e.RequestHeader != nil, e.RemoteAddress, e.Generic != nil} {
		if s {
			set++
		}
	}
	if set != 1 {
		v.add(p, "exactly one of request_header, remote_address, generic is required, got %d", set)
	}
	if h := e.RequestHeader; h != nil {
		if !validHeaderName(h.Header) {
			v.add(p+".request_header.header", "%q is not a header name", h.Header)
		}
		v.checkLen(ids.header, len(h.Header), p, ".request_header.header")
		if h.Key == "" {
			v.add(p+".request_header.key", "required: the descriptor key the header's value is sent under")
		}
		checkNoControl(v, p+".request_header.key", h.Key)
		v.checkLen(ids.headerKey, len(h.Key), p, ".request_header.key")
	}
	if g := e.Generic; g != nil {
		checkNoControl(v, p+".generic.key", g.Key)
		v.checkLen(ids.genericKey, len(g.Key), p, ".generic.key")
		if g.Value == "" {
			v.add(p+".generic.value", "required: the value sent")
		}
		checkNoControl(v, p+".generic.value", g.Value)
		v.checkLen(ids.genericValue, len(g.Value), p, ".generic.value")
	}
}

// RateLimitService is a listener's rate-limit service (Envoy's gRPC
// rate-limit protocol), which its routes' global_rate_limit descriptors
// ask under Domain.
type RateLimitService struct {
	Service string   `json:"service"`
	Domain  string   `json:"domain"`
	Timeout Duration `json:"timeout,omitempty"` // default 20ms, Envoy's
	// FailureModeDeny answers 500 when the service cannot be asked;
	// otherwise such requests are let through.
	FailureModeDeny bool `json:"failure_mode_deny,omitempty"`
}

func (s *RateLimitService) validate(v *validator) {
	const p = "rate_limit_service"
	switch {
	case s.Service == "":
		v.add(p+".service", "required: the service that speaks Envoy's rate-limit protocol")
	case !ValidName(s.Service):
		v.add(p+".service", "%q is not a valid service name", s.Service)
	}
	v.checkLen(limRLSService, len(s.Service), p, ".service")
	if s.Domain == "" {
		v.add(p+".domain", "required: the domain the rate-limit service's configuration names")
	}
	checkNoControl(v, p+".domain", s.Domain)
	v.checkLen(limRLSDomain, len(s.Domain), p, ".domain")
	s.Timeout.check(v, p+".timeout")
	v.checkDuration(limRLSTimeout, s.Timeout, p, ".timeout")
}

// Fault injects aborts and delays into a share of requests.
type Fault struct {
	Abort *FaultAbort `json:"abort,omitempty"`
	Delay *FaultDelay `json:"delay,omitempty"`
}

// FaultAbort answers a share of requests with a status instead of
// forwarding them: exactly one of Status (HTTP) or GRPCStatus.
type FaultAbort struct {
	Status     uint32   `json:"status,omitempty"`
	GRPCStatus uint32   `json:"grpc_status,omitempty"`
	Percent    *float64 `json:"percent,omitempty"` // default 100
}

// FaultDelay holds a share of requests for Duration before forwarding
// them.
type FaultDelay struct {
	Duration Duration `json:"duration"`
	Percent  *float64 `json:"percent,omitempty"` // default 100
}

func (f *Fault) validate(v *validator, p string) {
	if f == nil {
		return
	}
	ids := faultIDs(p)
	if f.Abort == nil && f.Delay == nil {
		v.add(p, "at least one of abort, delay is required")
	}
	if a := f.Abort; a != nil {
		if (a.Status != 0) == (a.GRPCStatus != 0) {
			v.add(p+".abort", "exactly one of status, grpc_status is required")
		}
		v.checkNumber(ids.status, uint64(a.Status), p, ".abort.status")
		v.checkNumber(ids.grpcStatus, uint64(a.GRPCStatus), p, ".abort.grpc_status")
		checkSharePercent(v, p+".abort.percent", a.Percent)
	}
	if d := f.Delay; d != nil {
		d.Duration.check(v, p+".delay.duration")
		if d.Duration.IsZero() {
			v.add(p+".delay.duration", "required: how long a request is held, e.g. \"300ms\"")
		}
		v.checkDuration(ids.delay, d.Duration, p, ".delay.duration")
		checkSharePercent(v, p+".delay.percent", d.Percent)
	}
}

// Mirror copies a share of a route's requests to another service, whose
// answers are dropped. It is best effort: a mirror service that cannot
// take traffic is left out (and reported) while the route is served.
type Mirror struct {
	Service string   `json:"service"`
	Percent *float64 `json:"percent,omitempty"` // default 100
}

// validateMirror checks the route's own traffic fields: its mirror, and
// that a global_rate_limit of its policy has a route action to go with.
func (r *Route) validateMirror(v *validator, p string) {
	forwards := r.Service != "" || len(r.WeightedServices) > 0
	if r.Policy != nil && r.Policy.GlobalRateLimit != nil && !forwards {
		v.add(p+".policy.global_rate_limit", "only routes that forward to a service take global_rate_limit: Envoy asks the rate-limit service only for those")
	}
	m := r.Mirror
	if m == nil {
		return
	}
	if !forwards {
		v.add(p+".mirror", "only routes that forward to a service take mirror")
	}
	switch {
	case m.Service == "":
		v.add(p+".mirror.service", "required: the service the copies go to")
	case !ValidName(m.Service):
		v.add(p+".mirror.service", "%q is not a valid service name", m.Service)
	}
	v.checkLen(limMirrorService, len(m.Service), p, ".mirror.service")
	checkSharePercent(v, p+".mirror.percent", m.Percent)
}

func (l *Listener) validateTraffic(v *validator) {
	tcp := l.Protocol == ListenerTCP
	l.RateLimit.validate(v, "rate_limit")
	if s := l.RateLimitService; s != nil {
		if tcp {
			v.add("rate_limit_service", "is for http and https listeners: a tcp listener has no requests to describe")
		}
		s.validate(v)
	}
}

// PercentMillionths is a share in millionths, as Envoy's
// FractionalPercent (MILLION) counts it; nil is 100%.
func PercentMillionths(p *float64) uint32 {
	if p == nil {
		return 1_000_000
	}
	return uint32(math.Round(*p * 10_000))
}

// checkSharePercent checks an optional share: unset is 100; set, it is more
// than 0 and at most 100, in steps Envoy can count (0.0001).
func checkSharePercent(v *validator, field string, p *float64) {
	switch {
	case p == nil:
	case !(*p > 0 && *p <= 100):
		v.add(field, "want a percentage, more than 0 and at most 100, got %g", *p)
	case PercentMillionths(p) == 0:
		v.add(field, "%g is below the least share Envoy counts, 0.0001", *p)
	}
}
