// Package workload generates the keyspace every benchmark runs on: services
// with endpoints, one route table reaching all of them and one HTTP listener
// for the fleet's node groups (or, with a certificate, an HTTPS listener and
// the secret it presents). The same objects feed etcd (the driver) and the
// in-process rebuild benchmark, so both measure the same translation.
package workload

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// MarkerKey is the endpoint metadata key that carries a write's sequence
// number. The translator puts endpoint metadata into the endpoint's
// filter_metadata, so a client recognises a change by decoding the
// ClusterLoadAssignment it received, never by the server's version string.
const MarkerKey = "bench-seq"

// MetadataNamespace is the filter_metadata namespace under which Chancery's
// translator publishes endpoint metadata and the endpoint id ("id").
const MetadataNamespace = "chancery"

// Spec sizes one keyspace.
type Spec struct {
	Services     int      // services, each its own cluster
	EndpointsPer int      // endpoints per service
	Groups       []string // node groups the listener selects
	Reach        int      // services the route table reaches, from svc-00000; 0 means all
	ListenerPort uint32   // the listener's port, bound only by a real Envoy; 0 means 10000
	// Certificate, when set, makes the listener https, presenting it from
	// the secret CertificateSecret, which every group then receives over
	// SDS. SelfSigned makes one.
	Certificate *model.TLSCertificate
	// Policy makes the route table enforce policy: RBAC (a denied path,
	// an allowed source range) and a JWT from the provider JWTProvider at
	// the table, and a local rate limit on every route.
	Policy bool
}

// Object is one key below the prefix with its JSON value.
type Object struct {
	Ref   model.Ref
	Value []byte
}

// ServiceName is the name of service i.
func ServiceName(i int) string { return fmt.Sprintf("svc-%05d", i) }

// EndpointID is the id of endpoint j of a service.
func EndpointID(j int) string { return "ep-" + strconv.Itoa(j) }

// Groups returns n group names, group-00, group-01, ...
func Groups(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("group-%02d", i)
	}
	return out
}

// Objects returns every object of the keyspace: services, endpoints (seq 0,
// no marker), the route table, the listener and its certificate's secret
// if it has one.
func Objects(s Spec) []Object {
	out := make([]Object, 0, s.Services*(1+s.EndpointsPer)+3)
	for i := range s.Services {
		out = append(out, Service(i))
		for j := range s.EndpointsPer {
			out = append(out, Endpoint(i, j, 0))
		}
	}
	out = append(out, RouteTable(s), Listener(s))
	if s.Policy {
		out = append(out, Provider())
	}
	if s.Certificate != nil {
		out = append(out, Secret(*s.Certificate))
	}
	return out
}

// Service is service i: plain HTTP with a connect timeout, the common case.
func Service(i int) Object {
	return Object{
		Ref:   model.Ref{Kind: model.KindService, Name: ServiceName(i)},
		Value: []byte(`{"protocol":"http","lb_policy":"round_robin","connect_timeout":"1s"}`),
	}
}

// Endpoint is endpoint j of service i. A seq above zero is written into
// its metadata as the marker; the port moves with it so the change is a
// real address change too.
func Endpoint(i, j int, seq uint64) Object {
	ep := model.Endpoint{
		Address: fmt.Sprintf("10.%d.%d.%d", (i>>8)&0xff, i&0xff, j+1),
		Port:    8080,
		Zone:    "zone-" + strconv.Itoa(j%3),
	}
	if seq > 0 {
		ep.Port = uint32(1024 + seq%60000)
		ep.Metadata = map[string]string{MarkerKey: strconv.FormatUint(seq, 10)}
	}
	return Object{Ref: model.Ref{Kind: model.KindEndpoint, Name: ServiceName(i) + "/" + EndpointID(j)}, Value: mustJSON(ep)}
}

// RouteTable sends /svc-NNNNN/ to each service the spec reaches.
func RouteTable(s Spec) Object {
	n := s.Services
	if s.Reach > 0 && s.Reach < n {
		n = s.Reach
	}
	routes := make([]model.Route, n)
	for i := range n {
		name := ServiceName(i)
		routes[i] = model.Route{Match: model.RouteMatch{Prefix: "/" + name + "/"}, Service: name}
		if s.Policy {
			routes[i].Policy = &model.HTTPPolicy{RateLimit: &model.RateLimit{Requests: 100, Per: model.D(time.Second)}}
		}
	}
	rt := model.RouteTable{VirtualHosts: []model.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: routes}}}
	if s.Policy {
		allow := []model.AuthzRule{{SourceCIDRs: []string{"127.0.0.0/8", "10.0.0.0/8"}}}
		rt.Policy = &model.HTTPPolicy{
			Authorization: &model.Authorization{Deny: []model.AuthzRule{{Paths: []model.PathMatch{{Prefix: "/admin/"}}}}, Allow: &allow},
			JWT:           &model.JWTRequirement{Provider: JWTProvider},
		}
	}
	return Object{Ref: model.Ref{Kind: model.KindRouteTable, Name: "bench"}, Value: mustJSON(rt)}
}

// Listener is the listener of every group of the spec: HTTP, or HTTPS
// with the spec's certificate as its one (default) chain.
func Listener(s Spec) Object {
	l := model.Listener{Address: "127.0.0.1", Port: s.ListenerPort, Protocol: model.ListenerHTTP, RouteTable: "bench", Groups: s.Groups}
	if l.Port == 0 {
		l.Port = 10000
	}
	if s.Certificate != nil {
		l.Protocol = model.ListenerHTTPS
		l.TLS = &model.ListenerTLS{Certificates: []model.ServerCertificate{{Secret: CertificateSecret}}}
	}
	return Object{Ref: model.Ref{Kind: model.KindListener, Name: "bench"}, Value: mustJSON(l)}
}

// JWTProvider names the provider a policy table requires tokens from.
const JWTProvider = "bench"

// Provider is the JWT provider JWTProvider: an inline JWKS of one P-256
// public key.
func Provider() Object {
	jwks := `{"keys":[{"kty":"EC","crv":"P-256","kid":"bench","alg":"ES256","use":"sig",` +
		`"x":"JurWXbNGpY9I2UOSaXbo2mlODfwu_8JWyeNXjaLA5wA","y":"qFv_GhVbfcN6jtYDiNz2adO7iIjBJwKgm7MeFT-dJYc"}]}`
	p := model.JWTProvider{Issuer: "https://issuer.bench", Audiences: []string{"bench"}, JWKS: jwks}
	return Object{Ref: model.Ref{Kind: model.KindJWTProvider, Name: JWTProvider}, Value: mustJSON(p)}
}

// Secret is the tls_certificate secret CertificateSecret holding c.
func Secret(c model.TLSCertificate) Object {
	return Object{Ref: model.Ref{Kind: model.KindSecret, Name: CertificateSecret}, Value: mustJSON(model.Secret{TLSCertificate: &c})}
}

// Snapshot decodes objects into a model snapshot the way the watcher does
// (model.Snapshot.Put), for in-process benchmarks.
func Snapshot(rev int64, objs []Object) *model.Snapshot {
	snap := model.NewSnapshot(rev)
	for _, o := range objs {
		snap.Put(o.Ref, o.Value)
	}
	snap.SortRejections()
	return snap
}

// mustJSON marshals the plain structs built here (strings, numbers, string
// maps), for which encoding/json cannot fail.
func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
