package model

import (
	"fmt"
	"math"
	"regexp"
	"strings"
	"time"
)

// RegexRewrite rewrites the path of a forwarded request by a regex: every
// match of Pattern in the path (not the query string) is replaced by
// Substitution, which may refer to the pattern's groups as \1 to \9.
type RegexRewrite struct {
	Pattern      string `json:"pattern"`
	Substitution string `json:"substitution"`
}

// HashPolicy is one input of a ring_hash or maglev service's hash: exactly
// one of a request header, a cookie or the client's address. Inputs are
// tried in order; a terminal one that yields a value ends the hash there.
// Services of the other policies ignore hashing.
type HashPolicy struct {
	Header   string      `json:"header,omitempty"`
	Cookie   *HashCookie `json:"cookie,omitempty"`
	SourceIP bool        `json:"source_ip,omitempty"`
	Terminal bool        `json:"terminal,omitempty"`
}

// HashCookie hashes on a cookie. With a ttl, Envoy sets the cookie on the
// response when the request has none, so that the client sticks to an
// endpoint; without one, a request without the cookie is not hashed on it.
type HashCookie struct {
	Name string   `json:"name"`
	TTL  Duration `json:"ttl,omitempty"`
	Path string   `json:"path,omitempty"`
}

// QueryParameterMatch matches one query parameter: exactly one of exact,
// prefix, regex or present.
type QueryParameterMatch struct {
	Name    string `json:"name"`
	Exact   string `json:"exact,omitempty"`
	Prefix  string `json:"prefix,omitempty"`
	Regex   string `json:"regex,omitempty"`
	Present bool   `json:"present,omitempty"`
}

// CORS is a policy's cross-origin rules: a request whose Origin matches one
// of AllowOrigins gets the access-control-* headers, and its preflight is
// answered by Envoy. A preflight from any other origin is passed to the
// upstream, as Envoy does by default.
type CORS struct {
	AllowOrigins     []OriginMatch `json:"allow_origins"`
	AllowMethods     []string      `json:"allow_methods,omitempty"`
	AllowHeaders     []string      `json:"allow_headers,omitempty"`
	ExposeHeaders    []string      `json:"expose_headers,omitempty"`
	MaxAge           Duration      `json:"max_age,omitempty"` // how long a browser may cache a preflight, whole seconds
	AllowCredentials bool          `json:"allow_credentials,omitempty"`
}

// OriginMatch is one allowed origin: exactly one of an exact origin
// ("https://app.example.com", or "*" for every origin) or a regex.
type OriginMatch struct {
	Exact string `json:"exact,omitempty"`
	Regex string `json:"regex,omitempty"`
}

// RetryBudget caps a service's retries as a share of its active requests.
// It replaces max_retries, which Envoy ignores once a budget is set.
type RetryBudget struct {
	BudgetPercent       float64 `json:"budget_percent"`                  // 0 < p <= 100
	MinRetryConcurrency uint32  `json:"min_retry_concurrency,omitempty"` // retries always allowed; Envoy's default is 3
}

// originRE is a serialized origin: scheme://host[:port], nothing after.
var originRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#@\s]+$`)

// token is an HTTP token (RFC 9110): a method, a cookie name.
const token = "[a-zA-Z0-9!#$%&'*+.^_`|~-]+"

var (
	tokenRE = regexp.MustCompile("^" + token + "$")
	// protocolRE is an Upgrade protocol (RFC 9110): a name, and a version
	// after '/' if it has one ("websocket", "spdy/3.1").
	protocolRE = regexp.MustCompile("^" + token + "(/" + token + ")?$")
)

func (c *CORS) validate(v *validator, p string) {
	if c == nil {
		return
	}
	c.checkLimits(v, p)
	if len(c.AllowOrigins) == 0 {
		v.add(p+".allow_origins", "at least one origin is required: an exact origin such as \"https://app.example.com\", \"*\" or a regex")
	}
	for i, o := range c.AllowOrigins {
		op := fmt.Sprintf("%s.allow_origins[%d]", p, i)
		switch {
		case (o.Exact == "") == (o.Regex == ""):
			v.add(op, "exactly one of exact, regex is required")
		case o.Exact != "" && o.Exact != "*" && !originRE.MatchString(o.Exact):
			v.add(op+".exact", "want \"*\" or an origin such as https://app.example.com (scheme://host[:port]), got %q", o.Exact)
		}
		checkRegex(v, op+".regex", o.Regex)
	}
	checkUnique(v, p+".allow_methods", c.AllowMethods, func(m string) string {
		if !tokenRE.MatchString(m) {
			return fmt.Sprintf("%q is not an HTTP method", m)
		}
		return ""
	})
	for _, list := range []struct {
		field string
		names []string
	}{{".allow_headers", c.AllowHeaders}, {".expose_headers", c.ExposeHeaders}} {
		checkUnique(v, p+list.field, list.names, func(h string) string {
			if !validHeaderName(h) || strings.HasPrefix(h, ":") {
				return fmt.Sprintf("%q is not a header name", h)
			}
			return ""
		})
	}
	c.MaxAge.check(v, p+".max_age")
	if d := c.MaxAge.Std(); d > 0 && d%time.Second != 0 {
		v.add(p+".max_age", "want whole seconds (browsers count max-age in seconds), got %s", d)
	}
}

// checkUnique checks each item with bad (its complaint, "" if none) and
// that no two are equal, case aside.
func checkUnique(v *validator, p string, items []string, bad func(string) string) {
	seen := map[string]bool{}
	for i, s := range items {
		f := fmt.Sprintf("%s[%d]", p, i)
		if msg := bad(s); msg != "" {
			v.add(f, "%s", msg)
		} else if seen[strings.ToLower(s)] {
			v.add(f, "%q is listed twice", s)
		}
		seen[strings.ToLower(s)] = true
	}
}

func (r *Route) validateRouting(v *validator, p string) {
	r.checkRoutingLimits(v, p)
	forwards := r.Service != "" || len(r.WeightedServices) > 0
	if !forwards {
		only := []struct {
			field string
			set   bool
		}{{"regex_rewrite", r.RegexRewrite != nil}, {"host_rewrite", r.HostRewrite != ""}, {"auto_host_rewrite", r.AutoHostRewrite},
			{"upgrades", len(r.Upgrades) > 0}, {"idle_timeout", !r.IdleTimeout.IsZero()}, {"hash_policy", len(r.HashPolicy) > 0}}
		for _, o := range only {
			if o.set {
				v.add(p+"."+o.field, "only routes that forward to a service take %s", o.field)
			}
		}
	}
	for i, h := range r.ResponseHeadersToRemove {
		f := fmt.Sprintf("%s.response_headers_to_remove[%d]", p, i)
		if !validHeaderName(h) {
			v.add(f, "%q is not a header name", h)
		} else if !modifiableHeader(h) {
			v.add(f, "Envoy refuses to remove %q: pseudo-headers and host may not be removed", h)
		}
	}
	if rr := r.RegexRewrite; rr != nil {
		rr.validate(v, p+".regex_rewrite")
		if r.PrefixRewrite != "" {
			v.add(p+".regex_rewrite", "set prefix_rewrite or regex_rewrite, not both")
		}
	}
	if r.HostRewrite != "" {
		if r.AutoHostRewrite {
			v.add(p+".host_rewrite", "set host_rewrite or auto_host_rewrite, not both")
		}
		if msg := checkDomain(r.HostRewrite); msg != "" || strings.Contains(r.HostRewrite, "*") {
			v.add(p+".host_rewrite", "want a host such as api.internal or api.internal:8080, got %q", r.HostRewrite)
		}
	}
	r.IdleTimeout.check(v, p+".idle_timeout")
	checkUnique(v, p+".upgrades", r.Upgrades, upgradeProblem)
	for i := range r.HashPolicy {
		r.HashPolicy[i].validate(v, fmt.Sprintf("%s.hash_policy[%d]", p, i))
	}
}

// upgradeProblem is what is wrong with an upgrade protocol, "" if nothing.
func upgradeProblem(u string) string {
	switch {
	case !protocolRE.MatchString(u):
		return fmt.Sprintf("%q is not an upgrade protocol: want a token such as websocket, or name/version", u)
	case strings.EqualFold(u, "connect"):
		return "CONNECT is a method, not an upgrade: Chancery does not proxy CONNECT"
	case strings.EqualFold(u, "h2c"):
		return "h2c is not proxied as an upgrade: Envoy speaks HTTP/2 itself (use an http2 service)"
	}
	return ""
}

func (rr *RegexRewrite) validate(v *validator, p string) {
	if rr.Pattern == "" {
		v.add(p+".pattern", "required: a regex such as ^/v1/(.*)$")
	}
	checkRegex(v, p+".pattern", rr.Pattern)
	checkNoControl(v, p+".substitution", rr.Substitution)
	groups := -1
	if re, err := regexp.Compile(rr.Pattern); err == nil {
		groups = re.NumSubexp()
	}
	if msg := rewriteProblem(rr.Substitution, groups); msg != "" {
		v.add(p+".substitution", "%s", msg)
	}
}

// rewriteProblem applies RE2's rule for a substitution: a backslash is
// followed by a digit naming a group of the pattern (\0 is the whole
// match) or by another backslash. groups < 0 skips the group count, for a
// pattern that does not compile.
func rewriteProblem(s string, groups int) string {
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			continue
		}
		i++
		switch {
		case i == len(s):
			return "ends in a lone backslash: write \\\\ for a backslash"
		case s[i] == '\\':
		case s[i] >= '0' && s[i] <= '9':
			if n := int(s[i] - '0'); groups >= 0 && n > groups {
				return fmt.Sprintf("\\%d refers to a group the pattern does not have (it has %d)", n, groups)
			}
		default:
			return fmt.Sprintf("\\%c is not a group reference: want \\0 to \\9, or \\\\ for a backslash", s[i])
		}
	}
	return ""
}

func (h *HashPolicy) validate(v *validator, p string) {
	kinds := 0
	for _, set := range []bool{h.Header != "", h.Cookie != nil, h.SourceIP} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		v.add(p, "exactly one of header, cookie, source_ip is required, got %d", kinds)
	}
	if h.Header != "" && !validHeaderName(h.Header) {
		v.add(p+".header", "%q is not a header name", h.Header)
	}
	if c := h.Cookie; c != nil {
		if !tokenRE.MatchString(c.Name) { // RFC 6265: a cookie name is a token
			v.add(p+".cookie.name", "want a cookie name (a token such as session), got %q", c.Name)
		}
		if c.Path != "" && (c.Path[0] != '/' || strings.ContainsAny(c.Path, ";\r\n\x00 \t")) {
			v.add(p+".cookie.path", "want a path such as /app, without ';', spaces or control characters, got %q", c.Path)
		}
		c.TTL.check(v, p+".cookie.ttl")
		if d := c.TTL.Std(); d > 0 && d%time.Second != 0 {
			v.add(p+".cookie.ttl", "want whole seconds (a cookie's Max-Age is in seconds), got %s", d)
		}
	}
}

func (m *RouteMatch) validateQueryParameters(v *validator, p string) {
	m.checkQueryLimits(v, p)
	for i, q := range m.QueryParameters {
		qp := fmt.Sprintf("%s.query_parameters[%d]", p, i)
		switch {
		case q.Name == "":
			v.add(qp+".name", "required")
		case strings.ContainsAny(q.Name, "&=#?\r\n\x00 \t"):
			v.add(qp+".name", "%q is not a query parameter name: no '&', '=', '#', '?', spaces or control characters", q.Name)
		}
		n := 0
		for _, s := range []bool{q.Exact != "", q.Prefix != "", q.Regex != "", q.Present} {
			if s {
				n++
			}
		}
		if n != 1 {
			v.add(qp, "exactly one of exact, prefix, regex, present is required")
		}
		checkNoControl(v, qp+".exact", q.Exact)
		checkNoControl(v, qp+".prefix", q.Prefix)
		checkRegex(v, qp+".regex", q.Regex)
	}
}

func (s *Service) validateRouting(v *validator) {
	cb := s.CircuitBreakers
	if cb == nil || cb.RetryBudget == nil {
		return
	}
	rb := cb.RetryBudget
	v.checkNumber(limMinRetryConcurrency, uint64(rb.MinRetryConcurrency), "circuit_breakers.retry_budget.min_retry_concurrency")
	if p := rb.BudgetPercent; math.IsNaN(p) || p <= 0 || p > 100 {
		v.add("circuit_breakers.retry_budget.budget_percent", "want a percentage above 0 and at most 100, got %v", p)
	}
	if cb.MaxRetries != 0 {
		v.add("circuit_breakers.max_retries", "set max_retries or retry_budget, not both: Envoy ignores max_retries under a budget")
	}
}
