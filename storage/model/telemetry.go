package model

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Access log formats.
const (
	AccessLogText = "text" // a format string: Envoy's default one unless text is set
	AccessLogJSON = "json" // one JSON object per line, of the chosen fields
)

// AccessLog is one place a listener writes a line per request (per
// connection for a tcp listener).
type AccessLog struct {
	// Path is where Envoy writes: /dev/stdout, /dev/stderr or an absolute
	// file path, opened by Envoy (as Envoy's user) when it takes the listener.
	Path   string `json:"path"`
	Format string `json:"format,omitempty"` // text (default) or json
	// Text is a text format: literal text and Envoy command operators
	// (%RESPONSE_CODE%, %REQ(x-request-id)%, "%%" for a '%'); a line ends
	// with a newline, added when missing. Default Envoy's format.
	Text string `json:"text,omitempty"`
	// Fields are a json log's keys, each with a format as in text; a value
	// that is one operator alone keeps its type (%RESPONSE_CODE% is a number).
	Fields map[string]string `json:"fields,omitempty"`
	// Status keeps only the requests whose response code is in a range.
	Status *StatusFilter `json:"status,omitempty"`
}

// StatusFilter is a range of response codes, either end open when unset.
type StatusFilter struct {
	Min uint32 `json:"min,omitempty"`
	Max uint32 `json:"max,omitempty"`
}

// Tracing sends a listener's spans to an OpenTelemetry collector.
type Tracing struct {
	// Service is the collector: a Chancery service speaking gRPC (OTLP).
	Service string `json:"service"`
	// ServiceName is the service.name the spans carry; default the
	// listener's name.
	ServiceName string `json:"service_name,omitempty"`
	// Sampling is the percentage of requests traced, more than 0 and at
	// most 100; default 100.
	Sampling *float64 `json:"sampling,omitempty"`
}

// SamplingPercent is the share of requests traced, the default applied.
func (t *Tracing) SamplingPercent() float64 {
	if t.Sampling == nil {
		return 100
	}
	return *t.Sampling
}

// MinSampling is the smallest sampling percentage: one request in a
// million, the precision sampling is sent with.
const MinSampling = 0.0001

func (l *Listener) validateTelemetry(v *validator) {
	l.checkTelemetryLimits(v)
	checkStatPrefix(v, "stat_prefix", l.StatPrefix)
	tcp := l.Protocol == ListenerTCP
	for i := range l.AccessLogs {
		l.AccessLogs[i].validate(v, "access_logs["+strconv.Itoa(i)+"]", tcp)
	}
	if l.Tracing == nil {
		return
	}
	if tcp {
		v.add("tracing", "tracing is for http and https listeners: a tcp listener has no requests to trace")
	}
	l.Tracing.validate(v)
}

func (r *Route) validateTelemetry(v *validator, p string) {
	v.checkLen(limRouteStatPrefix, len(r.StatPrefix), p, ".stat_prefix")
	checkStatPrefix(v, p+".stat_prefix", r.StatPrefix)
}

// statSegmentRE is one segment of a stat name: Envoy joins segments with
// '.', and its default tag extraction reads a listener's or a route's
// prefix as the text up to the next '.'.
var statSegmentRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func checkStatPrefix(v *validator, field, s string) {
	if s != "" && !statSegmentRE.MatchString(s) {
		v.add(field, "want one stat name segment of letters, digits, '_' and '-' (no '.'), got %q", s)
	}
}

func (a *AccessLog) validate(v *validator, p string, tcp bool) {
	a.validatePath(v, p+".path")
	switch a.Format {
	case "", AccessLogText:
		if len(a.Fields) > 0 {
			v.add(p+".fields", "fields are for format json; a text log's line is its text")
		}
		checkFormat(v, p+".text", a.Text, true)
	case AccessLogJSON:
		if a.Text != "" {
			v.add(p+".text", "text is for format text; a json log's line is its fields")
		}
		if len(a.Fields) == 0 {
			v.add(p+".fields", "required for format json: at least one key, e.g. {\"status\": \"%%RESPONSE_CODE%%\"}")
		}
		for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
			if k == "" || strings.ContainsFunc(k, isControl) {
				v.add(p+".fields", "key %q: want a non-empty key without control characters", k)
			}
			f := p + ".fields[" + strconv.QuoteToASCII(k) + "]"
			if a.Fields[k] == "" {
				v.add(f, "want a command operator such as %%RESPONSE_CODE%%, got an empty value")
			}
			checkFormat(v, f, a.Fields[k], false)
		}
	default:
		v.add(p+".format", "unknown format %q: want text or json", a.Format)
	}
	if s := a.Status; s != nil {
		switch {
		case tcp:
			v.add(p+".status", "a tcp listener's log has a line per connection, with no response code to filter on")
		case s.Min == 0 && s.Max == 0:
			v.add(p+".status", "want min, max or both, e.g. {\"min\": 400}")
		case s.Min != 0 && s.Max != 0 && s.Min > s.Max:
			v.add(p+".status", "min %d is above max %d", s.Min, s.Max)
		}
	}
}

func (a *AccessLog) validatePath(v *validator, f string) {
	switch path := a.Path; {
	case path == "":
		v.add(f, "required: /dev/stdout, /dev/stderr or an absolute file path")
	case path[0] != '/':
		v.add(f, "want an absolute path such as /var/log/envoy/access.log (or /dev/stdout), got %q", path)
	case strings.ContainsFunc(path, isControl):
		v.add(f, "must not contain control characters")
	case strings.HasSuffix(path, "/"):
		v.add(f, "want a file, got the directory %q", path)
	case slices.ContainsFunc(strings.Split(path, "/"), func(s string) bool { return s == "." || s == ".." }):
		v.add(f, "want a path without . or .. segments, got %q", path)
	}
}

func (t *Tracing) validate(v *validator) {
	switch {
	case t.Service == "":
		v.add("tracing.service", "required: the service of the OpenTelemetry collector (gRPC)")
	case !ValidName(t.Service):
		v.add("tracing.service", "%q is not a valid service name", t.Service)
	}
	if strings.ContainsFunc(t.ServiceName, isControl) {
		v.add("tracing.service_name", "must not contain control characters")
	}
	if p := t.Sampling; p != nil && !(*p >= MinSampling && *p <= 100) {
		v.add("tracing.sampling", "want a percentage of requests, %v to 100, got %v", MinSampling, *p)
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// operatorRE is Envoy's grammar of one command operator: a name, an
// optional argument in parentheses (holding no ')'), an optional maximum
// length.
var operatorRE = regexp.MustCompile(`^%([A-Z0-9_]+)(?:\(([^)]*)\))?(?::([0-9]+))?%`)

// checkFormat checks a format string as Envoy parses it: "%%" is a '%',
// any other '%' starts a command operator of accessLogOperators. A text
// log's format may end with the newline that ends its line.
func checkFormat(v *validator, field, s string, text bool) {
	body := s
	if text {
		body = strings.TrimSuffix(s, "\n")
	}
	if strings.ContainsFunc(body, isControl) {
		v.add(field, "must not contain control characters (a text format may end with a newline)")
		return
	}
	for i := 0; i < len(body); {
		j := strings.IndexByte(body[i:], '%')
		if j < 0 {
			return
		}
		i += j
		if strings.HasPrefix(body[i:], "%%") {
			i += 2
			continue
		}
		m := operatorRE.FindStringSubmatch(body[i:])
		if m == nil {
			v.add(field, "at byte %d: want a command operator such as %%RESPONSE_CODE%% or %%REQ(x-request-id)%%, or %%%% for a '%%'", i)
			return
		}
		if msg := checkOperator(m[1], strings.Contains(m[0], "("), m[2], m[3]); msg != "" {
			v.add(field, "%s: %s", m[0], msg)
			return
		}
		i += len(m[0])
	}
}

// An operator's argument: none, an optional time format, a header name
// (with an alternative after '?'), or a metadata or filter state key.
type operatorArg int

const (
	argNone operatorArg = iota
	argTime
	argHeader
	argKey
)

// accessLogOperators are the command operators Chancery lets through, each
// one Envoy knows, with the argument it takes. ENVIRONMENT is left out on
// purpose: it would write Envoy's environment, secrets included, to logs.
var accessLogOperators = func() map[string]operatorArg {
	m := map[string]operatorArg{
		"START_TIME": argTime,
		"REQ":        argHeader, "RESP": argHeader, "TRAILER": argHeader,
		"DYNAMIC_METADATA": argKey, "FILTER_STATE": argKey,
	}
	for _, name := range strings.Fields(`
		PROTOCOL UPSTREAM_PROTOCOL RESPONSE_CODE RESPONSE_CODE_DETAILS CONNECTION_TERMINATION_DETAILS
		RESPONSE_FLAGS RESPONSE_FLAGS_LONG BYTES_RECEIVED BYTES_SENT
		UPSTREAM_WIRE_BYTES_SENT UPSTREAM_WIRE_BYTES_RECEIVED DOWNSTREAM_WIRE_BYTES_SENT DOWNSTREAM_WIRE_BYTES_RECEIVED
		REQUEST_HEADERS_BYTES RESPONSE_HEADERS_BYTES
		DURATION REQUEST_DURATION REQUEST_TX_DURATION RESPONSE_DURATION RESPONSE_TX_DURATION
		UPSTREAM_REQUEST_ATTEMPT_COUNT UPSTREAM_HOST UPSTREAM_CLUSTER UPSTREAM_LOCAL_ADDRESS UPSTREAM_REMOTE_ADDRESS
		UPSTREAM_TRANSPORT_FAILURE_REASON
		DOWNSTREAM_REMOTE_ADDRESS DOWNSTREAM_REMOTE_ADDRESS_WITHOUT_PORT DOWNSTREAM_REMOTE_PORT
		DOWNSTREAM_DIRECT_REMOTE_ADDRESS DOWNSTREAM_LOCAL_ADDRESS DOWNSTREAM_LOCAL_ADDRESS_WITHOUT_PORT DOWNSTREAM_LOCAL_PORT
		REQUESTED_SERVER_NAME ROUTE_NAME VIRTUAL_CLUSTER_NAME CONNECTION_ID STREAM_ID UNIQUE_ID TRACE_ID HOSTNAME ACCESS_LOG_TYPE
		DOWNSTREAM_TLS_VERSION DOWNSTREAM_TLS_CIPHER DOWNSTREAM_TLS_SESSION_ID DOWNSTREAM_PEER_SUBJECT DOWNSTREAM_PEER_ISSUER
		DOWNSTREAM_PEER_URI_SAN DOWNSTREAM_PEER_FINGERPRINT_256 DOWNSTREAM_LOCAL_SUBJECT DOWNSTREAM_LOCAL_URI_SAN
		UPSTREAM_TLS_VERSION UPSTREAM_TLS_CIPHER`) {
		m[name] = argNone
	}
	return m
}()

// metadataKeyRE is a metadata namespace and key path, or a filter state
// key: dotted names joined by ':'.
var metadataKeyRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*$`)

// maxOperatorLength bounds an operator's ":N" truncation.
const maxOperatorLength = 65536

// checkOperator checks one operator's name, argument and length; hasArg
// tells "()" from no parentheses.
func checkOperator(name string, hasArg bool, arg, length string) string {
	kind, ok := accessLogOperators[name]
	if !ok {
		return "not a command operator Chancery knows: want one of Envoy's such as RESPONSE_CODE, REQ(name), DURATION, UPSTREAM_HOST, START_TIME (ENVIRONMENT is refused)"
	}
	if length != "" {
		n, err := strconv.Atoi(length)
		switch {
		case kind != argHeader && kind != argKey:
			return "only REQ, RESP, TRAILER, DYNAMIC_METADATA and FILTER_STATE take a length"
		case err != nil || n < 1 || n > maxOperatorLength:
			return fmt.Sprintf("want a length of 1 to %d", maxOperatorLength)
		}
	}
	switch kind {
	case argNone:
		if hasArg {
			return "takes no argument"
		}
	case argTime:
		// Any time format: Envoy takes strftime's and its own %f, %s.
	case argHeader:
		names := strings.Split(arg, "?")
		if !hasArg || len(names) > 2 || slices.ContainsFunc(names, func(n string) bool { return !validHeaderName(n) }) {
			return "want a header name, or two as name?alternative, e.g. " + name + "(x-request-id)"
		}
	case argKey:
		if !hasArg || !metadataKeyRE.MatchString(arg) {
			return "want a key of letters, digits, '.', '_' and '-', parts joined by ':', e.g. " + name + "(envoy.lb:canary)"
		}
		if name == "FILTER_STATE" && strings.Count(arg, ":") > 0 {
			_, how, _ := strings.Cut(arg, ":")
			if how != "PLAIN" && how != "TYPED" {
				return "want FILTER_STATE(key), FILTER_STATE(key:PLAIN) or FILTER_STATE(key:TYPED)"
			}
		}
	}
	return ""
}
