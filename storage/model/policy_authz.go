package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Authorization is a policy's RBAC: requests that match a deny rule are
// refused (403); when allow is given, so is every request that matches
// none of its rules. Authorization set at a level replaces the whole
// authorization of the levels above for the requests it covers: a route
// with only deny rules does not keep its virtual host's allow rules, and
// authorization: {} lifts every rule above.
type Authorization struct {
	Deny []AuthzRule `json:"deny,omitempty"`
	// Allow, when present, admits only the requests matching one of its
	// rules: allow: [] admits none. Absent, every request not denied
	// passes.
	Allow *[]AuthzRule `json:"allow,omitempty"`
}

// AuthzRule matches a request when every condition it sets matches, and a
// condition matches when any item of its list does.
type AuthzRule struct {
	// SourceCIDRs are ranges of the connection's peer address (Envoy's
	// direct_remote_ip), not of any forwarded header.
	SourceCIDRs []string      `json:"source_cidrs,omitempty"`
	Methods     []string      `json:"methods,omitempty"`
	Paths       []PathMatch   `json:"paths,omitempty"` // the path without its query
	Headers     []HeaderMatch `json:"headers,omitempty"`
	// Principals are exact subject alternative names (URI, else DNS) of
	// the client certificate an https listener with tls.client_ca has
	// verified; a request without one matches no principal.
	Principals []string `json:"principals,omitempty"`
}

// PathMatch matches a request's path: exactly one of exact, prefix, regex.
type PathMatch struct {
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// HTTPMethods are the methods an authorization rule may name.
var HTTPMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// AllowRules is the allow list; ok is false when allow is absent.
func (a *Authorization) AllowRules() (rules []AuthzRule, ok bool) {
	if a.Allow == nil {
		return nil, false
	}
	return *a.Allow, true
}

func (a *Authorization) validate(v *validator, p string) {
	if a == nil {
		return
	}
	lv := policyLevelOf(p) // authzLevels is in level order
	a.checkLimits(v, lv, p)
	for i := range a.Deny {
		a.Deny[i].validate(v, fmt.Sprintf("%s.deny[%d]", p, i))
	}
	allow, _ := a.AllowRules()
	for i := range allow {
		allow[i].validate(v, fmt.Sprintf("%s.allow[%d]", p, i))
	}
}

func (r *AuthzRule) validate(v *validator, p string) {
	if len(r.SourceCIDRs)+len(r.Methods)+len(r.Paths)+len(r.Headers)+len(r.Principals) == 0 {
		v.add(p, "a rule needs at least one of source_cidrs, methods, paths, headers, principals "+
			"(a rule of none would match every request: to refuse every request write allow: [], "+
			"to let every request through leave the rule out)")
	}
	checkCIDRs(v, p+".source_cidrs", r.SourceCIDRs)
	for i, m := range r.Methods {
		if !slices.Contains(HTTPMethods, m) {
			v.add(fmt.Sprintf("%s.methods[%d]", p, i), "unknown method %q: want one of %s", m, strings.Join(HTTPMethods, ", "))
		}
	}
	for i, pm := range r.Paths {
		pm.validate(v, fmt.Sprintf("%s.paths[%d]", p, i))
	}
	for i, h := range r.Headers {
		checkHeaderMatch(v, fmt.Sprintf("%s.headers[%d]", p, i), h)
	}
	for i, pr := range r.Principals {
		f := fmt.Sprintf("%s.principals[%d]", p, i)
		if pr == "" {
			v.add(f, "must not be empty: want a subject alternative name such as spiffe://corp/alice")
		}
		checkNoControl(v, f, pr)
	}
}

func (pm *PathMatch) validate(v *validator, p string) {
	set := 0
	for _, s := range []string{pm.Exact, pm.Prefix, pm.Regex} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		v.add(p, "exactly one of exact, prefix, regex is required")
	}
	for _, f := range []struct{ name, val string }{{"exact", pm.Exact}, {"prefix", pm.Prefix}} {
		if f.val != "" && f.val[0] != '/' {
			v.add(p+"."+f.name, "must start with '/', got %q", f.val)
		}
	}
	checkRegex(v, p+".regex", pm.Regex)
}

// checkHeaderMatch checks one header condition as a route match's.
func checkHeaderMatch(v *validator, p string, h HeaderMatch) {
	if !validHeaderName(h.Name) {
		v.add(p+".name", "%q is not a header name", h.Name)
	}
	n := 0
	for _, s := range []bool{h.Exact != "", h.Prefix != "", h.Regex != "", h.Present} {
		if s {
			n++
		}
	}
	if n != 1 {
		v.add(p, "exactly one of exact, prefix, regex, present is required")
	}
	checkRegex(v, p+".regex", h.Regex)
}

// checkCIDRs checks address ranges such as 10.0.0.0/8, each written in
// its canonical form (no host bits set), so that what is written is what
// matches.
func checkCIDRs(v *validator, field string, cidrs []string) {
	for i, s := range cidrs {
		f := fmt.Sprintf("%s[%d]", field, i)
		p, err := netip.ParsePrefix(s)
		switch {
		case err != nil:
			if a, aerr := netip.ParseAddr(s); aerr == nil {
				v.add(f, "want a CIDR such as 10.0.0.0/8, got %q (one address is %s)", s, netip.PrefixFrom(a, a.BitLen()))
			} else {
				v.add(f, "want a CIDR such as 10.0.0.0/8, got %q", s)
			}
		case p != p.Masked():
			v.add(f, "%q has host bits set: write %s", s, p.Masked())
		}
	}
}

// ExtAuthzPolicy turns the listener's external authorization off (or, at
// a level below one that turned it off, back on) for the requests a
// policy covers. A listener without ext_authz ignores it.
type ExtAuthzPolicy struct {
	Disabled bool `json:"disabled,omitempty"`
}

// validate has nothing to check: strict decoding admits only disabled.
func (e *ExtAuthzPolicy) validate(*validator, string) {}

// NetworkAuthorization admits a tcp listener's connections by the peer's
// address: one in a deny_cidrs range is closed; when allow_cidrs is
// given, so is one in none of its ranges.
type NetworkAuthorization struct {
	DenyCIDRs  []string `json:"deny_cidrs,omitempty"`
	AllowCIDRs []string `json:"allow_cidrs,omitempty"`
}

// External authorization protocols.
const (
	ExtAuthzGRPC = "grpc" // Envoy's envoy.service.auth.v3.Authorization service
	ExtAuthzHTTP = "http" // a plain HTTP request per check: 2xx admits
)

// ExtAuthz is a listener's external authorization service: every request
// is checked with it before any route's RBAC, unless a policy turns it
// off.
type ExtAuthz struct {
	Service  string   `json:"service"`
	Protocol string   `json:"protocol"`
	Timeout  Duration `json:"timeout,omitempty"` // default 200ms
	// FailureModeAllow admits requests when the service cannot answer;
	// by default they are refused with 403.
	FailureModeAllow bool `json:"failure_mode_allow,omitempty"`
	// PathPrefix is put before the request's path in the check request
	// (http only).
	PathPrefix string `json:"path_prefix,omitempty"`
	// HeadersToAuthorize are the request headers the check carries: for
	// grpc only these (default all); for http these besides Host, Method,
	// Path, Content-Length and Authorization, which it always carries.
	HeadersToAuthorize []string `json:"headers_to_authorize,omitempty"`
}

func (l *Listener) validateAuthz(v *validator) {
	l.checkAuthzLimits(v)
	if a := l.Authorization; a != nil {
		switch {
		case l.Protocol != ListenerTCP:
			v.add("authorization", "is for tcp listeners: an %s listener's requests are authorized by its route table's policy.authorization", l.Protocol)
		case len(a.DenyCIDRs) == 0 && len(a.AllowCIDRs) == 0:
			v.add("authorization", "give deny_cidrs, allow_cidrs or both (to admit every connection leave authorization out)")
		}
		checkCIDRs(v, "authorization.deny_cidrs", a.DenyCIDRs)
		checkCIDRs(v, "authorization.allow_cidrs", a.AllowCIDRs)
	}
	if e := l.ExtAuthz; e != nil {
		if l.Protocol == ListenerTCP {
			v.add("ext_authz", "is for http and https listeners: a tcp listener admits connections by authorization")
		}
		e.validate(v)
	}
}

func (e *ExtAuthz) validate(v *validator) {
	switch {
	case e.Service == "":
		v.add("ext_authz.service", "required: the authorization service")
	case !ValidName(e.Service):
		v.add("ext_authz.service", "%q is not a valid service name", e.Service)
	}
	switch e.Protocol {
	case ExtAuthzGRPC, ExtAuthzHTTP:
	case "":
		v.add("ext_authz.protocol", "required: grpc or http")
	default:
		v.add("ext_authz.protocol", "unknown protocol %q: want grpc or http", e.Protocol)
	}
	e.Timeout.check(v, "ext_authz.timeout")
	switch {
	case e.PathPrefix != "" && e.Protocol != ExtAuthzHTTP:
		v.add("ext_authz.path_prefix", "only the http protocol takes a path prefix")
	case e.PathPrefix != "" && e.PathPrefix[0] != '/':
		v.add("ext_authz.path_prefix", "must start with '/', got %q", e.PathPrefix)
	}
	checkNoControl(v, "ext_authz.path_prefix", e.PathPrefix)
	for i, h := range e.HeadersToAuthorize {
		if !validHeaderName(h) {
			v.add(fmt.Sprintf("ext_authz.headers_to_authorize[%d]", i), "%q is not a header name", h)
		}
	}
}
