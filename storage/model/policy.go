package model

import (
	"strconv"
	"strings"
)

// HTTPPolicy is what a route table, one of its virtual hosts or one route
// asks of every request it serves. Each feature set at a deeper level
// replaces the same feature of the levels above for the requests it
// covers: a route's rate_limit replaces its virtual host's, which replaces
// the table's. Translation (translator/plugin_*.go) turns each feature
// into the per-route configuration of an HTTP filter every HTTP listener
// carries, so a policy change is a route change and never touches a
// listener.
type HTTPPolicy struct {
	Authorization   *Authorization   `json:"authorization,omitempty"`     // RBAC: allow and deny rules; 403
	JWT             *JWTRequirement  `json:"jwt,omitempty"`               // a JWT from a provider; 401
	ExtAuthz        *ExtAuthzPolicy  `json:"ext_authz,omitempty"`         // the listener's external authorization, on or off
	RateLimit       *RateLimit       `json:"rate_limit,omitempty"`        // a local token bucket; 429
	GlobalRateLimit *GlobalRateLimit `json:"global_rate_limit,omitempty"` // descriptors for the listener's rate-limit service
	Fault           *Fault           `json:"fault,omitempty"`             // injected aborts and delays
	CORS            *CORS            `json:"cors,omitempty"`
}

// validate checks every feature of the policy at field path p ("policy",
// "virtual_hosts[0].policy", ...).
func (hp *HTTPPolicy) validate(v *validator, p string) {
	if hp == nil {
		return
	}
	hp.Authorization.validate(v, p+".authorization")
	hp.JWT.validate(v, p+".jwt")
	hp.ExtAuthz.validate(v, p+".ext_authz")
	hp.RateLimit.validate(v, p+".rate_limit")
	hp.GlobalRateLimit.validate(v, p+".global_rate_limit")
	hp.Fault.validate(v, p+".fault")
	hp.CORS.validate(v, p+".cors")
}

// policies calls f with every policy of the table and its field path, the
// table's first, then each virtual host's and its routes'.
func (rt *RouteTable) policies(f func(p *HTTPPolicy, path string)) {
	if rt.Policy != nil {
		f(rt.Policy, "policy")
	}
	for i := range rt.VirtualHosts {
		vh := &rt.VirtualHosts[i]
		if vh.Policy != nil {
			f(vh.Policy, vhostPath(i)+".policy")
		}
		for j := range vh.Routes {
			if r := &vh.Routes[j]; r.Policy != nil {
				f(r.Policy, routePathOf(i, j)+".policy")
			}
		}
	}
}

// The levels a policy is set at, as policyLevelOf reads them from a
// field path.
const (
	tableLevel = iota // "policy..."
	vhostLevel        // "virtual_hosts[i].policy..."
	routeLevel        // "virtual_hosts[i].routes[j].policy..."
)

// policyLevels is how many levels a policy may be set at.
const policyLevels = 3

// policyLevelPaths are the levels' policy paths, as Limit.Field writes them.
var policyLevelPaths = [policyLevels]string{"policy", "virtual_hosts[*].policy", "virtual_hosts[*].routes[*].policy"}

// policyLevelOf is the level of the policy at field path p.
func policyLevelOf(p string) int {
	switch {
	case strings.Contains(p, ".routes["):
		return routeLevel
	case strings.HasPrefix(p, "virtual_hosts["):
		return vhostLevel
	}
	return tableLevel
}

func vhostPath(i int) string { return "virtual_hosts[" + strconv.Itoa(i) + "]" }

func routePathOf(i, j int) string { return vhostPath(i) + ".routes[" + strconv.Itoa(j) + "]" }
