package model

// Upstream protocols a Service speaks.
const (
	ProtocolHTTP  = "http"  // HTTP/1.1 to the endpoints
	ProtocolHTTP2 = "http2" // HTTP/2 (h2c or over TLS) to the endpoints
	ProtocolGRPC  = "grpc"  // HTTP/2, as gRPC needs
	ProtocolTCP   = "tcp"   // plain TCP, for tcp listeners
)

// Load-balancing policies.
const (
	LBRoundRobin   = "round_robin"
	LBLeastRequest = "least_request"
	LBRingHash     = "ring_hash"
	LBRandom       = "random"
	LBMaglev       = "maglev" // consistent hashing, as ring_hash, with a fixed-size table
)

// Service is a set of endpoints Envoy balances across: one Envoy cluster.
// Key: services/<name>.
type Service struct {
	Protocol         string            `json:"protocol"`
	LBPolicy         string            `json:"lb_policy,omitempty"`       // default round_robin
	ConnectTimeout   Duration          `json:"connect_timeout,omitempty"` // default 1s
	CircuitBreakers  *CircuitBreakers  `json:"circuit_breakers,omitempty"`
	OutlierDetection *OutlierDetection `json:"outlier_detection,omitempty"`
	HealthCheck      *HealthCheck      `json:"health_check,omitempty"`
	TLS              *UpstreamTLS      `json:"tls,omitempty"`
	// Locality chooses zone-aware failover across the endpoints' zones.
	Locality *Locality `json:"locality,omitempty"`
}

// UpstreamTLS is how Envoy speaks TLS to the service's endpoints.
type UpstreamTLS struct {
	SNI string `json:"sni,omitempty"` // server name sent, and checked when no subject_alt_names
	// CA names a validation_context secret: the CAs that sign the
	// endpoints' certificates.
	CA string `json:"ca"`
	// ClientCertificate names a tls_certificate secret Envoy presents
	// (mTLS to the endpoints).
	ClientCertificate string   `json:"client_certificate,omitempty"`
	SubjectAltNames   []string `json:"subject_alt_names,omitempty"` // one must be in the endpoint's certificate
}

func (t *UpstreamTLS) validate(v *validator) {
	if t.SNI != "" && !ValidServerName(t.SNI, false) {
		v.add("tls.sni", "%q is not a server name: want a DNS name such as web.internal", t.SNI)
	}
	if t.CA == "" {
		v.add("tls.ca", "required: a validation_context secret that signs the endpoints' certificates")
	}
	checkSecretRef(v, "tls.ca", t.CA, false)
	checkSecretRef(v, "tls.client_certificate", t.ClientCertificate, false)
	checkSANs(v, "tls.subject_alt_names", t.SubjectAltNames)
}

// CircuitBreakers caps what Envoy sends to the whole service at once.
// Zero means Envoy's default for that threshold.
type CircuitBreakers struct {
	MaxConnections     uint32 `json:"max_connections,omitempty"`
	MaxPendingRequests uint32 `json:"max_pending_requests,omitempty"`
	MaxRequests        uint32 `json:"max_requests,omitempty"`
	MaxRetries         uint32 `json:"max_retries,omitempty"`
	// RetryBudget caps retries as a share of the requests in flight.
	RetryBudget *RetryBudget `json:"retry_budget,omitempty"`
}

// OutlierDetection ejects endpoints that fail passively observed requests.
type OutlierDetection struct {
	Consecutive5xx     uint32   `json:"consecutive_5xx,omitempty"`
	Interval           Duration `json:"interval,omitempty"`
	BaseEjectionTime   Duration `json:"base_ejection_time,omitempty"`
	MaxEjectionPercent uint32   `json:"max_ejection_percent,omitempty"`
}

// HealthCheck is the active check the elected leader runs on every endpoint.
type HealthCheck struct {
	Type               string   `json:"type"`           // http, tcp or grpc
	Path               string   `json:"path,omitempty"` // http only
	ExpectedStatuses   []uint32 `json:"expected_statuses,omitempty"`
	Interval           Duration `json:"interval,omitempty"`
	Timeout            Duration `json:"timeout,omitempty"`
	HealthyThreshold   uint32   `json:"healthy_threshold,omitempty"`
	UnhealthyThreshold uint32   `json:"unhealthy_threshold,omitempty"`
}

// Validate checks every field and reports all problems at once.
func (s *Service) Validate() error {
	v := &validator{}
	s.checkLimits(v) // every size and count, from Limits (limits_check.go)
	switch s.Protocol {
	case ProtocolHTTP, ProtocolHTTP2, ProtocolGRPC, ProtocolTCP:
	case "":
		v.add("protocol", "required: one of http, http2, grpc, tcp")
	default:
		v.add("protocol", "unknown protocol %q: want one of http, http2, grpc, tcp", s.Protocol)
	}
	switch s.LBPolicy {
	case "", LBRoundRobin, LBLeastRequest, LBRingHash, LBRandom, LBMaglev:
	default:
		v.add("lb_policy", "unknown policy %q: want one of round_robin, least_request, ring_hash, random, maglev", s.LBPolicy)
	}
	s.ConnectTimeout.check(v, "connect_timeout")
	if od := s.OutlierDetection; od != nil {
		od.Interval.check(v, "outlier_detection.interval")
		od.BaseEjectionTime.check(v, "outlier_detection.base_ejection_time")
	}
	if hc := s.HealthCheck; hc != nil {
		hc.validate(v, s.Protocol)
	}
	if s.TLS != nil {
		s.TLS.validate(v)
	}
	s.validateLocality(v)
	s.validateRouting(v)
	return v.err()
}

func (hc *HealthCheck) validate(v *validator, protocol string) {
	switch hc.Type {
	case "http":
		if protocol == ProtocolTCP {
			v.add("health_check.type", "http checks need an http, http2 or grpc service")
		}
		if hc.Path == "" || hc.Path[0] != '/' {
			v.add("health_check.path", "an http check needs a path starting with '/', got %q", hc.Path)
		}
	case "tcp", "grpc":
		if hc.Path != "" {
			v.add("health_check.path", "only http checks take a path")
		}
	default:
		v.add("health_check.type", "want one of http, tcp, grpc, got %q", hc.Type)
	}
	checkNoControl(v, "health_check.path", hc.Path) // it goes into the check's request line
	hc.Interval.check(v, "health_check.interval")
	hc.Timeout.check(v, "health_check.timeout")
	if !hc.Interval.IsZero() && !hc.Timeout.IsZero() && hc.Timeout.Std() > hc.Interval.Std() {
		v.add("health_check.timeout", "must not exceed interval (%s > %s)", hc.Timeout.Std(), hc.Interval.Std())
	}
}
