package model

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Listener protocols.
const (
	ListenerHTTP  = "http"  // HTTP connection manager, routes from a RouteTable over RDS
	ListenerHTTPS = "https" // TLS terminated with certificates chosen by SNI, then as http
	ListenerTCP   = "tcp"   // TCP proxy to one service, or TLS passed through by SNI
	// ListenerGRPC is an API listener for proxyless gRPC clients, which
	// dial xds:///<listener name>: it binds nothing, and its route table
	// comes over RDS (docs/grpc.md).
	ListenerGRPC = "grpc"
)

// TLS versions a listener may require at least.
const (
	TLS12 = "1.2"
	TLS13 = "1.3"
)

// Listener is one Envoy listener, sent to the node groups (Envoy's
// node.cluster) it names. Key: listeners/<name>.
type Listener struct {
	Address    string   `json:"address,omitempty"` // default 0.0.0.0
	Port       uint32   `json:"port"`
	Protocol   string   `json:"protocol"`
	RouteTable string   `json:"route_table,omitempty"` // http and https listeners
	Service    string   `json:"service,omitempty"`     // tcp listeners: the service, or the default one
	Groups     []string `json:"groups"`
	// TLS is how an https listener terminates TLS.
	TLS *ListenerTLS `json:"tls,omitempty"`
	// TLSPassthrough routes a tcp listener's TLS connections by the
	// server name of their ClientHello, without terminating them.
	TLSPassthrough []SNIRoute `json:"tls_passthrough,omitempty"`

	// Authorization admits a tcp listener's connections by source
	// address (HTTP requests have their route table's policy).
	Authorization *NetworkAuthorization `json:"authorization,omitempty"`
	// ExtAuthz asks an authorization service about every request of an
	// http or https listener, unless a route's policy turns it off.
	ExtAuthz *ExtAuthz `json:"ext_authz,omitempty"`
	// RateLimit is a token bucket every request of the listener takes
	// from, before any bucket of its routes.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// RateLimitService is the rate-limit service (Envoy's protocol) that
	// the global_rate_limit descriptors of the listener's routes ask.
	RateLimitService *RateLimitService `json:"rate_limit_service,omitempty"`
	// AccessLogs are where the listener writes a line per request (per
	// connection for tcp).
	AccessLogs []AccessLog `json:"access_logs,omitempty"`
	// Tracing sends spans to an OpenTelemetry collector.
	Tracing *Tracing `json:"tracing,omitempty"`
	// StatPrefix names the listener's stats; default the listener's name.
	StatPrefix string `json:"stat_prefix,omitempty"`
}

// ListenerTLS is an https listener's TLS: its certificates, each with the
// server names (SNI) it answers; the one without names answers the rest.
type ListenerTLS struct {
	Certificates []ServerCertificate `json:"certificates"`
	// ClientCA, when set, names a validation_context secret: clients must
	// present a certificate it signs (mTLS at the edge).
	ClientCA   string   `json:"client_ca,omitempty"`
	MinVersion string   `json:"min_version,omitempty"` // "1.2" (default) or "1.3"
	ALPN       []string `json:"alpn,omitempty"`        // default h2, http/1.1
}

// ServerCertificate is one filter chain of an https listener: the
// tls_certificate secret it presents and the server names it is chosen for.
type ServerCertificate struct {
	Secret      string   `json:"secret"`
	ServerNames []string `json:"server_names,omitempty"`
}

// SNIRoute sends the TLS connections for some server names to a service.
type SNIRoute struct {
	ServerNames []string `json:"server_names"`
	Service     string   `json:"service"`
}

// ALPN protocols an https listener may offer.
var alpnProtocols = []string{"h2", "http/1.1"}

// BindAddress is the address the listener binds, with the default applied.
func (l *Listener) BindAddress() string {
	if l.Address == "" {
		return "0.0.0.0"
	}
	return l.Address
}

// Validate checks every field and reports all problems at once.
func (l *Listener) Validate() error {
	v := &validator{}
	l.checkLimits(v) // port and every size, from Limits (limits_check.go)
	if l.Address != "" {
		if _, err := netip.ParseAddr(l.Address); err != nil {
			v.add("address", "want an IP address, got %q", l.Address)
		}
	}
	switch l.Protocol {
	case ListenerHTTP, ListenerHTTPS:
		l.validateHTTP(v)
	case ListenerTCP:
		l.validateTCP(v)
	case ListenerGRPC:
		l.validateGRPC(v)
	case "":
		v.add("protocol", "required: http, https, tcp or grpc")
	default:
		v.add("protocol", "unknown protocol %q: want http, https, tcp or grpc", l.Protocol)
	}
	l.validateAuthz(v)
	l.validateTraffic(v)
	l.validateTelemetry(v)
	checkGroups(v, l.Groups)
	return v.err()
}

// checkGroups checks a list of node groups: at least one, each a valid
// name, none twice.
func checkGroups(v *validator, groups []string) {
	if len(groups) == 0 {
		v.add("groups", "at least one node group is required")
	}
	seen := map[string]bool{}
	for i, g := range groups {
		switch {
		case !ValidName(g):
			v.add(fmt.Sprintf("groups[%d]", i), "%q is not a valid group name", g)
		case seen[g]:
			v.add(fmt.Sprintf("groups[%d]", i), "duplicate group %q", g)
		}
		seen[g] = true
	}
}

func (l *Listener) validateHTTP(v *validator) {
	if l.RouteTable == "" {
		v.add("route_table", "required for an %s listener", l.Protocol)
	} else if !ValidName(l.RouteTable) {
		v.add("route_table", "%q is not a valid route table name", l.RouteTable)
	}
	if l.Service != "" {
		v.add("service", "an %s listener routes by route_table; service is for tcp listeners", l.Protocol)
	}
	if len(l.TLSPassthrough) > 0 {
		v.add("tls_passthrough", "is for tcp listeners; an https listener terminates TLS with tls")
	}
	switch {
	case l.Protocol == ListenerHTTPS && l.TLS == nil:
		v.add("tls", "required for an https listener: at least one certificate")
	case l.Protocol == ListenerHTTPS:
		l.TLS.validate(v)
	case l.TLS != nil:
		v.add("tls", "an http listener does not terminate TLS: use protocol https")
	}
}

// Binds reports whether the listener binds a socket on the Envoys of its
// groups: every protocol but grpc, whose clients only look it up by name.
func (l *Listener) Binds() bool { return l.Protocol != ListenerGRPC }

// validateGRPC admits only what a gRPC client uses: its route table and
// groups. gRPC applies no filters but the router, so a field that would
// configure one is refused rather than silently not enforced.
func (l *Listener) validateGRPC(v *validator) {
	if l.RouteTable == "" {
		v.add("route_table", "required for a grpc listener")
	} else if !ValidName(l.RouteTable) {
		v.add("route_table", "%q is not a valid route table name", l.RouteTable)
	}
	unused := []struct {
		field string
		set   bool
	}{
		{"address", l.Address != ""},
		{"port", l.Port != 0},
		{"service", l.Service != ""},
		{"tls", l.TLS != nil},
		{"tls_passthrough", len(l.TLSPassthrough) > 0},
		{"authorization", l.Authorization != nil},
		{"ext_authz", l.ExtAuthz != nil},
		{"rate_limit", l.RateLimit != nil},
		{"rate_limit_service", l.RateLimitService != nil},
		{"access_logs", len(l.AccessLogs) > 0},
		{"tracing", l.Tracing != nil},
		{"stat_prefix", l.StatPrefix != ""},
	}
	for _, u := range unused {
		if u.set {
			v.add(u.field, "a grpc listener binds nothing and runs no filters: gRPC clients dial xds:///<listener name> and take only route_table and groups")
		}
	}
}

func (l *Listener) validateTCP(v *validator) {
	switch {
	case l.Service == "" && len(l.TLSPassthrough) == 0:
		v.add("service", "required for a tcp listener without tls_passthrough")
	case l.Service != "" && !ValidName(l.Service):
		v.add("service", "%q is not a valid service name", l.Service)
	}
	if l.RouteTable != "" {
		v.add("route_table", "a tcp listener proxies to service; route_table is for http listeners")
	}
	if l.TLS != nil {
		v.add("tls", "a tcp listener does not terminate TLS: use protocol https, or tls_passthrough")
	}
	names := map[string]bool{}
	for i, r := range l.TLSPassthrough {
		f := fmt.Sprintf("tls_passthrough[%d]", i)
		if len(r.ServerNames) == 0 {
			v.add(f+".server_names", "at least one server name is required")
		}
		checkServerNames(v, f+".server_names", r.ServerNames, names)
		if r.Service == "" {
			v.add(f+".service", "required")
		} else if !ValidName(r.Service) {
			v.add(f+".service", "%q is not a valid service name", r.Service)
		}
	}
}

func (t *ListenerTLS) validate(v *validator) {
	if len(t.Certificates) == 0 {
		v.add("tls.certificates", "at least one certificate is required")
	}
	names := map[string]bool{}
	defaults := 0
	for i, c := range t.Certificates {
		f := fmt.Sprintf("tls.certificates[%d]", i)
		checkSecretRef(v, f+".secret", c.Secret, true)
		if len(c.ServerNames) == 0 {
			if defaults++; defaults > 1 {
				v.add(f+".server_names", "a second certificate without server names: only one may be the default")
			}
		}
		checkServerNames(v, f+".server_names", c.ServerNames, names)
	}
	checkSecretRef(v, "tls.client_ca", t.ClientCA, false)
	switch t.MinVersion {
	case "", TLS12, TLS13:
	default:
		v.add("tls.min_version", "unknown TLS version %q: want 1.2 or 1.3", t.MinVersion)
	}
	seen := map[string]bool{}
	for i, p := range t.ALPN {
		f := fmt.Sprintf("tls.alpn[%d]", i)
		switch {
		case !slices.Contains(alpnProtocols, p):
			v.add(f, "unknown protocol %q: want h2 or http/1.1", p)
		case seen[p]:
			v.add(f, "duplicate protocol %q", p)
		}
		seen[p] = true
	}
}

// checkSecretRef checks a reference to a secret; required says whether
// it may be empty.
func checkSecretRef(v *validator, field, name string, required bool) {
	switch {
	case name == "" && required:
		v.add(field, "required: the name of a secret")
	case name != "" && !ValidName(name):
		v.add(field, "%q is not a valid secret name", name)
	}
}

// checkServerNames checks SNI names ("api.example.com", "*.example.com"),
// each unique across the listener (seen).
func checkServerNames(v *validator, field string, names []string, seen map[string]bool) {
	for i, n := range names {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case !ValidServerName(n, true):
			v.add(f, "%q is not a server name: want a DNS name such as api.example.com or *.example.com", n)
		case seen[n]:
			v.add(f, "server name %q is given twice", n)
		}
		seen[n] = true
	}
}

// ValidServerName reports whether n is a DNS name as SNI carries it, in
// lower case; wildcard allows a leading "*." label.
func ValidServerName(n string, wildcard bool) bool {
	if wildcard {
		if rest, ok := strings.CutPrefix(n, "*."); ok {
			n = rest
		}
	}
	if n == "" || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".") || strings.Contains(n, "..") {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
