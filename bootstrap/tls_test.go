package bootstrap

import (
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// upstreamTLS returns the xds cluster's TLS context, nil without one.
func upstreamTLS(t *testing.T, cfg Config) *tlsv3.UpstreamTlsContext {
	t.Helper()
	b, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := b.GetStaticResources().GetClusters()[0].GetTransportSocket()
	if ts == nil {
		return nil
	}
	var ctx tlsv3.UpstreamTlsContext
	if err := ts.GetTypedConfig().UnmarshalTo(&ctx); err != nil {
		t.Fatal(err)
	}
	return &ctx
}

// The mTLS bootstrap presents the client certificate (the one that names
// the group), verifies the replicas with the CA, speaks h2 by ALPN (gRPC
// requires it), and sends and checks the SNI: the one given, or the one
// DNS name every replica is reached by.
func TestMTLSBootstrap(t *testing.T) {
	mtls := &TLS{CAFile: "/ca.pem", CertFile: "/xds.pem", KeyFile: "/xds-key.pem"}
	for _, tc := range []struct {
		name string
		xds  []string
		sni  string
		want string
	}{
		{"IP addresses: no name", []string{"10.0.0.5:18000", "10.0.0.6:18000"}, "", ""},
		{"one name", []string{"xds.internal:18000"}, "", "xds.internal"},
		{"one name, two ports", []string{"xds.internal:18000", "xds.internal:18001"}, "", "xds.internal"},
		{"two names: no name", []string{"a.internal:18000", "b.internal:18000"}, "", ""},
		{"a name and an IP: no name", []string{"a.internal:18000", "10.0.0.5:18000"}, "", ""},
		{"given", []string{"10.0.0.5:18000"}, "xds.corp", "xds.corp"},
		{"given wins", []string{"xds.internal:18000"}, "xds.corp", "xds.corp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tlsCfg := *mtls
			tlsCfg.SNI = tc.sni
			ctx := upstreamTLS(t, Config{NodeID: "n", Group: "web", XDS: tc.xds, TLS: &tlsCfg})
			if ctx == nil {
				t.Fatal("no TLS on the xds cluster")
			}
			common := ctx.GetCommonTlsContext()
			certs := common.GetTlsCertificates()
			if len(certs) != 1 || certs[0].GetCertificateChain().GetFilename() != "/xds.pem" || certs[0].GetPrivateKey().GetFilename() != "/xds-key.pem" {
				t.Errorf("client certificate %v", certs)
			}
			if ca := common.GetValidationContext().GetTrustedCa().GetFilename(); ca != "/ca.pem" {
				t.Errorf("trusted CA %q", ca)
			}
			if alpn := common.GetAlpnProtocols(); len(alpn) != 1 || alpn[0] != "h2" {
				t.Errorf("ALPN %v, want h2", alpn)
			}
			if ctx.GetSni() != tc.want {
				t.Errorf("SNI %q, want %q", ctx.GetSni(), tc.want)
			}
			sans := common.GetValidationContext().GetMatchTypedSubjectAltNames()
			switch {
			case tc.want == "" && len(sans) != 0:
				t.Errorf("SAN matchers %v without a name", sans)
			case tc.want != "" && (len(sans) != 1 || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_DNS || sans[0].GetMatcher().GetExact() != tc.want):
				t.Errorf("SAN matchers %v, want DNS %s", sans, tc.want)
			}
		})
	}
	if tlsCfg := mtls; tlsCfg.SNI != "" {
		t.Errorf("Build changed the caller's TLS: SNI %q", tlsCfg.SNI)
	}
}
