package main

import (
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// bootstrap warns when the client certificate, read where it is, does not
// name the group the bootstrap claims; a certificate that names it, or one
// that is not there to read, gets no warning. The bootstrap is written
// either way.
func TestBootstrapWarnsOfACertificateForAnotherGroup(t *testing.T) {
	ca := harness.NewCA(t, "xds-clients")
	web, webKey := ca.Issue(t, harness.CertOptions{CommonName: "web-1", URIs: []string{"spiffe://corp/group/web", "spiffe://corp/group/api"}})
	other, otherKey := ca.Issue(t, harness.CertOptions{CommonName: "db-1", URIs: []string{"spiffe://corp/group/db", "spiffe://corp/db"}})
	none, noneKey := ca.Issue(t, harness.CertOptions{CommonName: "bare"})
	for _, tc := range []struct {
		name, cert, key, group, warning string
	}{
		{"names the group", web, webKey, "web", ""},
		{"names it among others", web, webKey, "api", ""},
		{"names another group", other, otherKey, "web", `allows only db, not group "web"`},
		{"names no group", none, noneKey, "web", `allows no group, not group "web"`},
		{"not readable here", "/nonexistent/xds.pem", "/nonexistent/xds-key.pem", "web", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRun(t, nil, "", "bootstrap", "--node-id", "n1", "--group", tc.group, "--xds", "127.0.0.1:18000",
				"--xds-ca", ca.CertPath(), "--xds-cert", tc.cert, "--xds-key", tc.key)
			if !strings.Contains(r.stdout, "envoy.transport_sockets.tls") || !strings.Contains(r.stdout, tc.cert) {
				t.Errorf("no mTLS bootstrap:\n%s", r.stdout)
			}
			switch {
			case tc.warning == "" && r.stderr != "":
				t.Errorf("stderr %q, want nothing", r.stderr)
			case tc.warning != "" && (!strings.HasPrefix(r.stderr, "warning: ") || !strings.Contains(r.stderr, tc.warning) ||
				!strings.Contains(r.stderr, "spiffe://<trust domain>/group/"+tc.group)):
				t.Errorf("stderr %q, want a warning with %q", r.stderr, tc.warning)
			}
			if strings.Contains(r.stderr, "PRIVATE KEY") || strings.Contains(r.stdout, "PRIVATE KEY") {
				t.Error("key material in the output")
			}
		})
	}
}
