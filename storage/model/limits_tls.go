package model

import "strconv"

// The TLS limits: secrets, https and passthrough listeners, upstream TLS.
const (
	limUpstreamSNI fieldLimit = iota + limRespAddValue + 1
	limUpstreamCA
	limUpstreamClientCert
	limUpstreamSANs
	limUpstreamSAN
	limCertificates
	limCertSecret
	limCertServerNames
	limCertServerName
	limClientCA
	limPassthrough
	limPassServerNames
	limPassServerName
	limPassService
	limSecretSANs
	limSecretSAN
	limTLSEnd // one past the last TLS limit: the policy files number theirs from here (limits_policy.go)
)

// The sizes of a secret's PEM texts, checked before they are parsed.
const (
	maxCertificateChain = 64 << 10  // a chain of a few certificates with long SAN lists
	maxPrivateKey       = 16 << 10  // an 8192-bit RSA key is about 6 KiB
	maxCABundle         = 512 << 10 // a system trust store is about 200 KiB
)

// exampleCA is a CA certificate the limits' example objects carry.
const exampleCA = "-----BEGIN CERTIFICATE-----\nMIIBazCCARGgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDExFsaW1pdHMg\nZXhhbXBsZSBDQTAgFw0yNjAxMDEwMDAwMDBaGA8yMTI2MDEwMTAwMDAwMFowHDEa\nMBgGA1UEAxMRbGltaXRzIGV4YW1wbGUgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMB\nBwNCAAT53eXTc2vEHtJWDfeHz3U25a8DZM2/IbMYGHHKS+ayIV7K0Hh4RpFXX0r6\nyajo6hHaCAfxaphjhLqiBI46USUao0IwQDAOBgNVHQ8BAf8EBAMCAgQwDwYDVR0T\nAQH/BAUwAwEB/zAdBgNVHQ4EFgQUf6OPLrLtjWtNZ4lGOfZUoKW6RCswCgYIKoZI\nzj0EAwIDSAAwRQIgVsZtdJXTvVGodM/LrqqUPXFHgiXyVwy2H3rToOsztA0CIQD/\nQjc0fKMkzendeLumc1FlYKXn2gIVJiDsrVCnd11k6Q==\n-----END CERTIFICATE-----"

func tlsLimits() map[fieldLimit]Limit {
	svc := func(fields string) string { return `{"protocol":"http","tls":{` + fields + `}}` }
	https := func(tls string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"https","route_table":"web","groups":["edge"],"tls":{` + tls + `}}`
	}
	pass := func(route string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"tcp","groups":["edge"],"tls_passthrough":[` + route + `]}`
	}
	vc := func(fields string) string {
		return `{"validation_context":{"ca_bundle":` + strconv.Quote(exampleCA) + `,` + fields + `}}`
	}
	const sniEnvoy = "SNI is a DNS name: at most 253 bytes"
	return map[fieldLimit]Limit{
		limUpstreamSNI: {Kind: KindService, Field: "tls.sni", Unit: UnitBytes, Max: nameMax, Fill: "s", Envoy: sniEnvoy,
			In: svc(`"ca":"ca","sni":@`)},
		limUpstreamCA:         {Kind: KindService, Field: "tls.ca", Unit: UnitBytes, Max: nameMax, Fill: "c", In: svc(`"ca":@`)},
		limUpstreamClientCert: {Kind: KindService, Field: "tls.client_certificate", Unit: UnitBytes, Max: nameMax, Fill: "k", In: svc(`"ca":"ca","client_certificate":@`)},
		limUpstreamSANs: {Kind: KindService, Field: "tls.subject_alt_names", Unit: UnitItems, Max: 64, Fill: `"s{i}"`,
			In: svc(`"ca":"ca","subject_alt_names":@`)},
		limUpstreamSAN: {Kind: KindService, Field: "tls.subject_alt_names[*]", Unit: UnitBytes, Max: 1024, Fill: "s",
			In: svc(`"ca":"ca","subject_alt_names":[@]`)},
		limCertificates: {Kind: KindListener, Field: "tls.certificates", Unit: UnitItems, Min: 1, Max: 100,
			Fill: `{"secret":"c","server_names":["h{i}.example.com"]}`, In: https(`"certificates":@`)},
		limCertSecret: {Kind: KindListener, Field: "tls.certificates[*].secret", Unit: UnitBytes, Max: nameMax, Fill: "k",
			In: https(`"certificates":[{"secret":@}]`)},
		limCertServerNames: {Kind: KindListener, Field: "tls.certificates[*].server_names", Unit: UnitItems, Max: 100, Fill: `"h{i}.example.com"`,
			In: https(`"certificates":[{"secret":"c","server_names":@}]`)},
		limCertServerName: {Kind: KindListener, Field: "tls.certificates[*].server_names[*]", Unit: UnitBytes, Max: nameMax, Fill: "h", Envoy: sniEnvoy,
			In: https(`"certificates":[{"secret":"c","server_names":[@]}]`)},
		limClientCA: {Kind: KindListener, Field: "tls.client_ca", Unit: UnitBytes, Max: nameMax, Fill: "c",
			In: https(`"certificates":[{"secret":"c"}],"client_ca":@`)},
		limPassthrough: {Kind: KindListener, Field: "tls_passthrough", Unit: UnitItems, Max: 100,
			Fill: `{"server_names":["h{i}.example.com"],"service":"s"}`, In: `{"address":"127.0.0.1","port":8080,"protocol":"tcp","groups":["edge"],"service":"s","tls_passthrough":@}`},
		limPassServerNames: {Kind: KindListener, Field: "tls_passthrough[*].server_names", Unit: UnitItems, Min: 1, Max: 100, Fill: `"h{i}.example.com"`,
			In: pass(`{"service":"s","server_names":@}`)},
		limPassServerName: {Kind: KindListener, Field: "tls_passthrough[*].server_names[*]", Unit: UnitBytes, Max: nameMax, Fill: "h", Envoy: sniEnvoy,
			In: pass(`{"service":"s","server_names":[@]}`)},
		limPassService: {Kind: KindListener, Field: "tls_passthrough[*].service", Unit: UnitBytes, Max: nameMax, Fill: "s",
			In: pass(`{"server_names":["db.example.com"],"service":@}`)},
		limSecretSANs: {Kind: KindSecret, Field: "validation_context.subject_alt_names", Unit: UnitItems, Max: 64, Fill: `"s{i}"`,
			In: vc(`"subject_alt_names":@`)},
		limSecretSAN: {Kind: KindSecret, Field: "validation_context.subject_alt_names[*]", Unit: UnitBytes, Max: 1024, Fill: "s",
			In: vc(`"subject_alt_names":[@]`)},
	}
}

func (s *Secret) checkLimits(v *validator) {
	if c := s.TLSCertificate; c != nil {
		v.checkSize(maxCertificateChain, len(c.CertificateChain), "tls_certificate.certificate_chain")
		v.checkSize(maxPrivateKey, len(c.PrivateKey), "tls_certificate.private_key")
	}
	if c := s.ValidationContext; c != nil {
		v.checkSize(maxCABundle, len(c.CABundle), "validation_context.ca_bundle")
		v.checkLen(limSecretSANs, len(c.SubjectAltNames), "validation_context.subject_alt_names")
		for i, san := range c.SubjectAltNames {
			v.checkLen(limSecretSAN, len(san), "validation_context.subject_alt_names[", strconv.Itoa(i), "]")
		}
	}
}

// checkSize reports a PEM text longer than max bytes.
func (v *validator) checkSize(max, n int, field string) {
	if n > max {
		v.add(field, "at most %d bytes, got %d", max, n)
	}
}

func (t *UpstreamTLS) checkLimits(v *validator) {
	v.checkLen(limUpstreamSNI, len(t.SNI), "tls.sni")
	v.checkLen(limUpstreamCA, len(t.CA), "tls.ca")
	v.checkLen(limUpstreamClientCert, len(t.ClientCertificate), "tls.client_certificate")
	v.checkLen(limUpstreamSANs, len(t.SubjectAltNames), "tls.subject_alt_names")
	for i, san := range t.SubjectAltNames {
		v.checkLen(limUpstreamSAN, len(san), "tls.subject_alt_names[", strconv.Itoa(i), "]")
	}
}

func (l *Listener) checkTLSLimits(v *validator) {
	if t := l.TLS; t != nil {
		v.checkLen(limCertificates, len(t.Certificates), "tls.certificates")
		for i, c := range t.Certificates {
			f := "tls.certificates[" + strconv.Itoa(i) + "]"
			v.checkLen(limCertSecret, len(c.Secret), f, ".secret")
			v.checkLen(limCertServerNames, len(c.ServerNames), f, ".server_names")
			for j, n := range c.ServerNames {
				v.checkLen(limCertServerName, len(n), f, ".server_names[", strconv.Itoa(j), "]")
			}
		}
		v.checkLen(limClientCA, len(t.ClientCA), "tls.client_ca")
	}
	v.checkLen(limPassthrough, len(l.TLSPassthrough), "tls_passthrough")
	for i, r := range l.TLSPassthrough {
		f := "tls_passthrough[" + strconv.Itoa(i) + "]"
		v.checkLen(limPassServerNames, len(r.ServerNames), f, ".server_names")
		for j, n := range r.ServerNames {
			v.checkLen(limPassServerName, len(n), f, ".server_names[", strconv.Itoa(j), "]")
		}
		v.checkLen(limPassService, len(r.Service), f, ".service")
	}
}
