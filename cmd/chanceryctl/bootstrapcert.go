package main

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/chancery-xds/chancery/internal/xdsidentity"
	"github.com/chancery-xds/chancery/storage/model"
)

// certificateGroupWarning checks the bootstrap's client certificate
// against the xDS identity rule, if the file can be read here (a
// bootstrap is often written on another machine than the one that holds
// the certificate): it returns why replicas that require client
// certificates would refuse the stream, or "". It reads only the
// certificate, never the key.
func certificateGroupWarning(certFile, group string) string {
	if certFile == "" {
		return ""
	}
	b, err := os.ReadFile(certFile)
	if err != nil {
		return ""
	}
	block, rest := pem.Decode(b)
	for block != nil && block.Type != "CERTIFICATE" {
		block, rest = pem.Decode(rest)
	}
	if block == nil {
		return fmt.Sprintf("--xds-cert %s holds no PEM certificate", model.SafeText(certFile, 256))
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Sprintf("--xds-cert %s: %v", model.SafeText(certFile, 256), err)
	}
	groups := xdsidentity.Groups(cert)
	if slices.Contains(groups, group) {
		return ""
	}
	allows := "no group"
	if len(groups) > 0 {
		allows = "only " + strings.Join(groups, ", ")
	}
	return fmt.Sprintf("--xds-cert %s allows %s, not group %q: replicas that require client certificates will refuse this Envoy's stream (it needs a URI SAN %s)",
		model.SafeText(certFile, 256), allows, group, xdsidentity.URI("<trust domain>", group))
}
