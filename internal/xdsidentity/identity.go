// Package xdsidentity is the rule by which a client certificate names the
// node groups an xDS stream may claim (docs/security.md, "xDS channel: TLS
// and identity"): one URI SAN spiffe://<trust domain>/group/<group> per
// group, in any trust domain. The replicas apply it; chanceryctl checks a
// bootstrap's certificate against it.
package xdsidentity

import (
	"crypto/x509"
	"slices"
	"strings"

	"github.com/chancery-xds/chancery/internal/names"
)

// groupPathPrefix is the path of a URI SAN that names a node group.
const groupPathPrefix = "/group/"

// Groups returns the node groups a certificate's URI SANs allow, in their
// order, each once. A SAN allows a group only in exactly the form
// spiffe://<trust domain>/group/<group>, with a group that is a valid
// object name (a name a listener can select); any other URI allows nothing.
func Groups(cert *x509.Certificate) []string {
	var out []string
	for _, u := range cert.URIs {
		if u.Scheme != "spiffe" || u.Host == "" || u.Port() != "" || u.User != nil || u.Opaque != "" ||
			u.RawPath != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
			continue
		}
		group, ok := strings.CutPrefix(u.Path, groupPathPrefix)
		if ok && names.Valid(group) && !slices.Contains(out, group) {
			out = append(out, group)
		}
	}
	return out
}

// URI is the URI SAN that allows group in trustDomain.
func URI(trustDomain, group string) string {
	return "spiffe://" + trustDomain + groupPathPrefix + group
}
