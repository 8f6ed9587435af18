package model

import (
	"fmt"
	"regexp"
	"strings"
)

// RouteTable is one Envoy route configuration, served over RDS to the HTTP
// listeners that name it. Key: routes/<name>.
type RouteTable struct {
	VirtualHosts []VirtualHost `json:"virtual_hosts"`
	Policy       *HTTPPolicy   `json:"policy,omitempty"` // for every request the table serves
}

// VirtualHost groups routes by the request's Host.
type VirtualHost struct {
	Name    string   `json:"name"`
	Domains []string `json:"domains"`
	Routes  []Route  `json:"routes"`
	// Policy replaces the table's, feature by feature, for this host.
	Policy *HTTPPolicy `json:"policy,omitempty"`
	// GlobalRateLimit and the other per-request features are in Policy;
	// the few that only a host has follow.

	// Set by decoding when the table is served in part (partial.go): Err
	// is why this virtual host is rejected, and its domains answer 503 with
	// the reason; LeftOut means it cannot be sent at all; BadDomains are
	// the indexes of its rejected domains, which are not sent.
	Err        error `json:"-"`
	LeftOut    bool  `json:"-"`
	BadDomains []int `json:"-"`
}

// Route matches requests and says what to do with them: send them to one
// service, split them across weighted services, answer directly or redirect.
type Route struct {
	Match                  RouteMatch        `json:"match"`
	Service                string            `json:"service,omitempty"`
	WeightedServices       []WeightedService `json:"weighted_services,omitempty"`
	DirectResponse         *DirectResponse   `json:"direct_response,omitempty"`
	Redirect               *Redirect         `json:"redirect,omitempty"`
	Timeout                Duration          `json:"timeout,omitempty"`
	Retries                *RetryPolicy      `json:"retries,omitempty"`
	PrefixRewrite          string            `json:"prefix_rewrite,omitempty"`
	RequestHeadersToAdd    []HeaderValue     `json:"request_headers_to_add,omitempty"`
	RequestHeadersToRemove []string          `json:"request_headers_to_remove,omitempty"`
	ResponseHeadersToAdd   []HeaderValue     `json:"response_headers_to_add,omitempty"`
	// ResponseHeadersToRemove are response headers taken out before the
	// client sees them.
	ResponseHeadersToRemove []string `json:"response_headers_to_remove,omitempty"`
	// Policy replaces its virtual host's, feature by feature, for this route.
	Policy *HTTPPolicy `json:"policy,omitempty"`
	// Mirror copies a share of the route's requests to another service,
	// whose answers are dropped.
	Mirror *Mirror `json:"mirror,omitempty"`
	// Rewrites and connection handling of forwarding routes.
	RegexRewrite    *RegexRewrite `json:"regex_rewrite,omitempty"`
	HostRewrite     string        `json:"host_rewrite,omitempty"`      // the Host sent upstream
	AutoHostRewrite bool          `json:"auto_host_rewrite,omitempty"` // the Host is the upstream's (its endpoint's hostname)
	Upgrades        []string      `json:"upgrades,omitempty"`          // protocols the route lets through, e.g. "websocket"
	IdleTimeout     Duration      `json:"idle_timeout,omitempty"`      // a stream idle this long is reset
	HashPolicy      []HashPolicy  `json:"hash_policy,omitempty"`       // what ring_hash and maglev services hash on
	StatPrefix      string        `json:"stat_prefix,omitempty"`       // per-route stats under this name

	// Err, set by decoding, is why this route is rejected while the rest
	// of its table is served: it answers 503 with the reason.
	Err error `json:"-"`
}

// RouteMatch selects requests by path (exactly one of prefix, path, regex)
// and, optionally, headers.
type RouteMatch struct {
	Prefix  string        `json:"prefix,omitempty"`
	Path    string        `json:"path,omitempty"`
	Regex   string        `json:"regex,omitempty"`
	Headers []HeaderMatch `json:"headers,omitempty"`
	// QueryParameters must all match.
	QueryParameters []QueryParameterMatch `json:"query_parameters,omitempty"`
}

// HeaderMatch matches one request header: exactly one of exact, prefix,
// regex or present.
type HeaderMatch struct {
	Name    string `json:"name"`
	Exact   string `json:"exact,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present bool   `json:"present,omitempty"`
	Invert  bool   `json:"invert,omitempty"`
}

// WeightedService is one service of a weighted split.
type WeightedService struct {
	Service string `json:"service"`
	Weight  uint32 `json:"weight"`
}

// DirectResponse answers without an upstream.
type DirectResponse struct {
	Status uint32 `json:"status"`
	Body   string `json:"body,omitempty"`
}

// Redirect answers with a redirect.
type Redirect struct {
	Host   string `json:"host,omitempty"`
	Path   string `json:"path,omitempty"`
	HTTPS  bool   `json:"https,omitempty"`
	Status uint32 `json:"status,omitempty"` // 301 (default), 302, 303, 307 or 308
}

// RetryPolicy retries failed upstream requests.
type RetryPolicy struct {
	RetryOn       string   `json:"retry_on"` // Envoy's x-envoy-retry-on values, e.g. "5xx,connect-failure"
	NumRetries    uint32   `json:"num_retries,omitempty"`
	PerTryTimeout Duration `json:"per_try_timeout,omitempty"`
	// OtherHosts makes a retry pick an endpoint the request has not tried.
	OtherHosts bool `json:"other_hosts,omitempty"`
}

// HeaderValue is a header to add.
type HeaderValue struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Append bool   `json:"append,omitempty"` // add beside an existing value instead of replacing it
}

// Services returns every service the route table sends traffic to,
// mirrors included, in order of first appearance.
func (rt *RouteTable) Services() []string {
	var out []string
	seen := map[string]bool{}
	for _, vh := range rt.VirtualHosts {
		for _, r := range vh.Routes {
			names := r.ServiceNames()
			if r.Mirror != nil {
				names = append(names, r.Mirror.Service)
			}
			for _, s := range names {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	return out
}

// ServiceNames returns the services this route sends traffic to.
func (r *Route) ServiceNames() []string {
	if r.Service != "" {
		return []string{r.Service}
	}
	out := make([]string, 0, len(r.WeightedServices))
	for _, w := range r.WeightedServices {
		out = append(out, w.Service)
	}
	return out
}

// Validate checks every field and reports all problems at once.
func (rt *RouteTable) Validate() error {
	v := &validator{}
	rt.checkLimits(v) // every size and count, from Limits (limits_route.go)
	rt.policies(func(p *HTTPPolicy, path string) { p.validate(v, path) })
	if len(rt.VirtualHosts) == 0 {
		v.add("virtual_hosts", "at least one virtual host is required")
	}
	names := map[string]bool{}
	domains := map[string]string{}
	for i, vh := range rt.VirtualHosts {
		p := fmt.Sprintf("virtual_hosts[%d]", i)
		if vh.Name == "" {
			v.add(p+".name", "required")
		} else if names[vh.Name] {
			v.add(p+".name", "duplicate virtual host name %q", vh.Name)
		}
		names[vh.Name] = true
		if len(vh.Domains) == 0 {
			v.add(p+".domains", "at least one domain is required (\"*\" matches all)")
		}
		for j, d := range vh.Domains {
			dp := fmt.Sprintf("%s.domains[%d]", p, j)
			if err := checkDomain(d); err != "" {
				v.add(dp, "%s", err)
			} else if other, dup := domains[strings.ToLower(d)]; dup {
				v.add(dp, "domain %q is already in virtual host %q", d, other)
			}
			domains[strings.ToLower(d)] = vh.Name
		}
		if len(vh.Routes) == 0 {
			v.add(p+".routes", "at least one route is required")
		}
		for j := range vh.Routes {
			vh.Routes[j].validate(v, fmt.Sprintf("%s.routes[%d]", p, j))
		}
	}
	return v.err()
}

func checkDomain(d string) string {
	switch {
	case d == "":
		return "must not be empty"
	case d == "*":
		return ""
	case strings.ContainsAny(d, "\r\n\x00"):
		return "must not contain CR, LF or NUL" // Envoy's VirtualHost.domains rule (PGV)
	case strings.ContainsAny(d, " \t/"):
		return fmt.Sprintf("%q is not a host name", d)
	case strings.Count(d, "*") > 1 || (strings.Contains(d, "*") && !strings.HasPrefix(d, "*") && !strings.HasSuffix(d, "*")):
		return fmt.Sprintf("%q: a wildcard may only stand first or last, once", d)
	}
	return ""
}

func (r *Route) validate(v *validator, p string) {
	r.Match.validate(v, p+".match")
	r.validateMirror(v, p)
	r.validateRouting(v, p)
	r.validateTelemetry(v, p)
	actions := 0
	for _, set := range []bool{r.Service != "", len(r.WeightedServices) > 0, r.DirectResponse != nil, r.Redirect != nil} {
		if set {
			actions++
		}
	}
	if actions != 1 {
		v.add(p, "exactly one of service, weighted_services, direct_response, redirect is required, got %d", actions)
	}
	forwards := r.Service != "" || len(r.WeightedServices) > 0
	if r.Service != "" && !ValidName(r.Service) {
		v.add(p+".service", "%q is not a valid service name", r.Service)
	}
	var total uint64
	for i, w := range r.WeightedServices {
		if !ValidName(w.Service) {
			v.add(fmt.Sprintf("%s.weighted_services[%d].service", p, i), "%q is not a valid service name", w.Service)
		}
		total += uint64(w.Weight)
	}
	if len(r.WeightedServices) > 0 && total == 0 {
		v.add(p+".weighted_services", "weights must add up to more than 0")
	}
	if total > 1<<31 {
		v.add(p+".weighted_services", "weights add up to %d, more than 2^31", total)
	}
	if rd := r.Redirect; rd != nil {
		switch rd.Status {
		case 0, 301, 302, 303, 307, 308:
		default:
			v.add(p+".redirect.status", "want 301, 302, 303, 307 or 308, got %d", rd.Status)
		}
		if rd.Path != "" && rd.Path[0] != '/' {
			v.add(p+".redirect.path", "must start with '/', got %q", rd.Path)
		}
		checkNoControl(v, p+".redirect.host", rd.Host)
		checkNoControl(v, p+".redirect.path", rd.Path)
	}
	checkNoControl(v, p+".prefix_rewrite", r.PrefixRewrite)
	if !forwards {
		only := []struct {
			field string
			set   bool
		}{{"timeout", !r.Timeout.IsZero()}, {"retries", r.Retries != nil}, {"prefix_rewrite", r.PrefixRewrite != ""}}
		for _, o := range only {
			if o.set {
				v.add(p+"."+o.field, "only routes that forward to a service take %s", o.field)
			}
		}
	}
	r.Timeout.check(v, p+".timeout")
	if rp := r.Retries; rp != nil {
		if rp.RetryOn == "" {
			v.add(p+".retries.retry_on", "required, e.g. \"5xx,connect-failure\"")
		}
		rp.PerTryTimeout.check(v, p+".retries.per_try_timeout")
	}
	if r.PrefixRewrite != "" && r.Match.Prefix == "" {
		v.add(p+".prefix_rewrite", "needs a prefix match")
	}
	checkHeaderValues(v, p+".request_headers_to_add", r.RequestHeadersToAdd)
	checkHeaderValues(v, p+".response_headers_to_add", r.ResponseHeadersToAdd)
	for i, h := range r.RequestHeadersToRemove {
		f := fmt.Sprintf("%s.request_headers_to_remove[%d]", p, i)
		if !validHeaderName(h) {
			v.add(f, "%q is not a header name", h)
		} else if !modifiableHeader(h) {
			v.add(f, "Envoy refuses to remove %q: pseudo-headers and host may not be removed", h)
		}
	}
}

func (m *RouteMatch) validate(v *validator, p string) {
	set := 0
	for _, s := range []string{m.Prefix, m.Path, m.Regex} {
		if s != "" {
			set++
		}
	}
	if set != 1 {
		v.add(p, "exactly one of prefix, path, regex is required")
	}
	if m.Prefix != "" && m.Prefix[0] != '/' {
		v.add(p+".prefix", "must start with '/', got %q", m.Prefix)
	}
	if m.Path != "" && m.Path[0] != '/' {
		v.add(p+".path", "must start with '/', got %q", m.Path)
	}
	checkRegex(v, p+".regex", m.Regex)
	for i, h := range m.Headers {
		hp := fmt.Sprintf("%s.headers[%d]", p, i)
		if !validHeaderName(h.Name) {
			v.add(hp+".name", "%q is not a header name", h.Name)
		}
		n := 0
		for _, s := range []bool{h.Exact != "", h.Prefix != "", h.Regex != "", h.Present} {
			if s {
				n++
			}
		}
		if n != 1 {
			v.add(hp, "exactly one of exact, prefix, regex, present is required")
		}
		checkRegex(v, hp+".regex", h.Regex)
	}
	m.validateQueryParameters(v, p)
}

// checkRegex compiles a pattern with Go's RE2, the syntax Envoy uses.
func checkRegex(v *validator, field, re string) {
	if re == "" {
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		v.add(field, "regex does not compile: %v", strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		return
	}
	checkRE2Size(v, field, re) // what Go compiles, Envoy's RE2 may still refuse
}

func checkHeaderValues(v *validator, p string, hs []HeaderValue) {
	for i, h := range hs {
		if !validHeaderName(h.Name) {
			v.add(fmt.Sprintf("%s[%d].name", p, i), "%q is not a header name", h.Name)
		} else if !modifiableHeader(h.Name) {
			v.add(fmt.Sprintf("%s[%d].name", p, i), "Envoy refuses to set %q: pseudo-headers and host may not be modified", h.Name)
		}
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			v.add(fmt.Sprintf("%s[%d].value", p, i), "must not contain CR, LF or NUL")
		}
	}
}

var headerNameRE = regexp.MustCompile(`^:?[a-zA-Z0-9!#$%&'*+.^_` + "`" + `|~-]+$`)

func validHeaderName(s string) bool { return headerNameRE.MatchString(s) }

// modifiableHeader is Envoy's rule for header edits on routes.
func modifiableHeader(name string) bool {
	return !strings.HasPrefix(name, ":") && !strings.EqualFold(name, "host")
}

func checkNoControl(v *validator, field, s string) {
	if strings.ContainsAny(s, "\r\n\x00") {
		v.add(field, "must not contain CR, LF or NUL")
	}
}
