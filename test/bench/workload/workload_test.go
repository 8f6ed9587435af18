package workload

import (
	"testing"
	"time"

	"github.com/chancery-xds/chancery/translator"
)

// With a certificate, every group gets the https listener and the one
// secret it presents, and the translator rejects nothing.
func TestCertificateMakesEveryGroupHTTPSWithItsSecret(t *testing.T) {
	cert, err := SelfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Services: 3, EndpointsPer: 2, Groups: Groups(3), Certificate: &cert}
	res, err := translator.Translate(Snapshot(1, Objects(spec)))
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	if len(res.Groups) != 3 {
		t.Fatalf("%d groups, want 3", len(res.Groups))
	}
	for name, g := range res.Groups {
		if len(g.Secrets) != 1 || g.Secrets[0].GetName() != CertificateSecret {
			t.Errorf("%s: %d secrets, want one named %s", name, len(g.Secrets), CertificateSecret) // never the secret itself: it holds a key
			continue
		}
		if got := string(g.Secrets[0].GetTlsCertificate().GetCertificateChain().GetInlineBytes()); got != cert.CertificateChain {
			t.Errorf("%s: the secret does not carry the certificate", name)
		}
		if len(g.Listeners) != 1 || g.Listeners[0].GetFilterChains()[0].GetTransportSocket() == nil {
			t.Errorf("%s: %d listeners, want one terminating TLS", name, len(g.Listeners))
		}
	}

	plain, err := translator.Translate(Snapshot(1, Objects(Spec{Services: 3, EndpointsPer: 2, Groups: Groups(3)})))
	if err != nil {
		t.Fatalf("translate without a certificate: %v", err)
	}
	for name, g := range plain.Groups {
		if len(g.Secrets) != 0 {
			t.Errorf("%s without a certificate: %d secrets, want none", name, len(g.Secrets))
		}
	}
}

// With policy, the route table carries RBAC and the JWT requirement at the
// table and a rate limit on every route, and the translator rejects
// nothing: a policy the translator refused would turn the benchmark's
// routes into 503s.
func TestPolicyTableTranslatesWholly(t *testing.T) {
	res, err := translator.Translate(Snapshot(1, Objects(Spec{Services: 3, EndpointsPer: 2, Groups: Groups(2), Policy: true})))
	if err != nil {
		t.Fatalf("translate: %v", err)
	}
	for name, g := range res.Groups {
		rc := g.Routes[0]
		for _, f := range []string{"chancery.rbac.deny", "chancery.rbac.allow", "envoy.filters.http.jwt_authn"} {
			if rc.GetTypedPerFilterConfig()[f] == nil {
				t.Errorf("%s: the route table does not configure %s", name, f)
			}
		}
		for _, r := range rc.GetVirtualHosts()[0].GetRoutes() {
			if r.GetTypedPerFilterConfig()["envoy.filters.http.local_ratelimit"] == nil || r.GetRoute() == nil {
				t.Errorf("%s: route %s forwards without its rate limit", name, r.GetMatch().GetPrefix())
			}
		}
	}
}
