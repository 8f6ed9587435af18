package model

// RateLimit is a local token bucket.
type RateLimit struct{}

func (r *RateLimit) validate(v *validator, p string) {}

// GlobalRateLimit is what a policy's requests tell the listener's
// rate-limit service.
type GlobalRateLimit struct{}

func (g *GlobalRateLimit) validate(v *validator, p string) {}

// RateLimitService is a listener's rate-limit service.
type RateLimitService struct{}

// Fault injects aborts and delays into a share of requests.
type Fault struct{}

func (f *Fault) validate(v *validator, p string) {}

// Mirror copies a share of a route's requests to another service.
type Mirror struct{}

func (r *Route) validateMirror(v *validator, p string) {}

func (l *Listener) validateTraffic(v *validator) {}
