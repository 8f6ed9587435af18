package model

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"time"

	"github.com/chancery-xds/chancery/internal/safetext"
)

// Secret is TLS material Envoy gets over SDS: either a certificate with
// its private key (a listener's or a client's identity) or a validation
// context (the CAs that sign the peer's certificate). Key: secrets/<name>.
type Secret struct {
	TLSCertificate    *TLSCertificate    `json:"tls_certificate,omitempty"`
	ValidationContext *ValidationContext `json:"validation_context,omitempty"`

	notAfter time.Time // earliest expiry of its certificates, set by Validate
}

// TLSCertificate is a PEM certificate chain, leaf first, and the PEM
// private key of the leaf.
type TLSCertificate struct {
	CertificateChain string `json:"certificate_chain"`
	PrivateKey       string `json:"private_key"`
}

// ValidationContext is a PEM bundle of CA certificates and, optionally,
// the subject alternative names a peer's certificate must carry one of.
type ValidationContext struct {
	CABundle        string   `json:"ca_bundle"`
	SubjectAltNames []string `json:"subject_alt_names,omitempty"`
}

// Redacted is the placeholder that replaces a private key wherever a
// secret is shown.
const Redacted = safetext.Redacted

// Secret kinds, as Type reports them.
const (
	SecretTLSCertificate    = "tls_certificate"
	SecretValidationContext = "validation_context"
)

// Type is "tls_certificate" or "validation_context".
func (s *Secret) Type() string {
	if s.TLSCertificate != nil {
		return SecretTLSCertificate
	}
	return SecretValidationContext
}

// NotAfter is the earliest expiry among the secret's certificates (zero
// before Validate succeeded). Expiry is reported, never a rejection.
func (s *Secret) NotAfter() time.Time { return s.notAfter }

// Redacted is a copy of s fit to show: its private key is replaced by
// Redacted.
func (s *Secret) Redacted() *Secret {
	c := *s
	if s.TLSCertificate != nil {
		tc := *s.TLSCertificate
		if tc.PrivateKey != "" {
			tc.PrivateKey = Redacted
		}
		c.TLSCertificate = &tc
	}
	return &c
}

// Validate checks every field and reports all problems at once. No error
// quotes a field's content: a private key must never reach a log.
func (s *Secret) Validate() error {
	v := &validator{}
	s.checkLimits(v)
	switch {
	case s.TLSCertificate != nil && s.ValidationContext != nil:
		v.add("", "a secret holds either tls_certificate or validation_context, not both")
	case s.TLSCertificate != nil:
		s.notAfter = s.TLSCertificate.validate(v)
	case s.ValidationContext != nil:
		s.notAfter = s.ValidationContext.validate(v)
	default:
		v.add("", "want tls_certificate (certificate_chain and private_key) or validation_context (ca_bundle)")
	}
	return v.err()
}

func (c *TLSCertificate) validate(v *validator) time.Time {
	before := len(v.errs)
	certs := parseCerts(v, "tls_certificate.certificate_chain", c.CertificateChain)
	chainOK := len(v.errs) == before // else the key cannot be paired: which certificate is first is unknown
	if c.PrivateKey == "" {
		v.add("tls_certificate.private_key", "required: the PEM private key of the chain's first certificate")
		return earliest(certs)
	}
	if c.PrivateKey == Redacted {
		v.add("tls_certificate.private_key", "is the placeholder %q that output shows in place of a key, not a key", Redacted)
		return earliest(certs)
	}
	if !onlyPEM(c.PrivateKey) {
		v.add("tls_certificate.private_key", "want one PEM private key; it does not parse")
		return earliest(certs)
	}
	if len(certs) == 0 || !chainOK {
		return earliest(certs)
	}
	if _, err := tls.X509KeyPair([]byte(c.CertificateChain), []byte(c.PrivateKey)); err != nil {
		v.add("tls_certificate.private_key", "%s", keyPairProblem(c.PrivateKey))
	}
	return earliest(certs)
}

func (c *ValidationContext) validate(v *validator) time.Time {
	certs := parseCerts(v, "validation_context.ca_bundle", c.CABundle)
	checkSANs(v, "validation_context.subject_alt_names", c.SubjectAltNames)
	return earliest(certs)
}

// checkSANs checks subject alternative names a peer must carry one of.
func checkSANs(v *validator, field string, sans []string) {
	seen := map[string]bool{}
	for i, san := range sans {
		f := fmt.Sprintf("%s[%d]", field, i)
		switch {
		case san == "":
			v.add(f, "must not be empty")
		case seen[san]:
			v.add(f, "duplicate name %q", san)
		}
		seen[san] = true
	}
}

// keyPairProblem says why a key that parses as PEM does not make a pair
// with the chain, without quoting either.
func keyPairProblem(key string) string {
	// The first key block, as tls.X509KeyPair finds it: openssl's
	// "EC PARAMETERS" may come before it.
	b, rest := pem.Decode([]byte(key))
	for b != nil && !bytes.HasSuffix([]byte(b.Type), []byte("PRIVATE KEY")) {
		b, rest = pem.Decode(rest)
	}
	if b == nil {
		return "want a PEM private key (PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block)"
	}
	if _, err := x509.ParsePKCS8PrivateKey(b.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(b.Bytes); err != nil {
			if _, err := x509.ParseECPrivateKey(b.Bytes); err != nil {
				return "the private key does not parse"
			}
		}
	}
	return "the private key does not match the public key of the chain's first certificate"
}

// parseCerts parses a PEM bundle of certificates, reporting at field what
// does not parse; it returns the certificates that do. Only PEM blocks
// and space between them are accepted: pem.Decode alone would skip text
// before a block and a block that does not parse, which Envoy does not.
func parseCerts(v *validator, field, text string) []*x509.Certificate {
	if text == "" {
		v.add(field, "required: PEM certificates")
		return nil
	}
	var certs []*x509.Certificate
	rest := []byte(text)
	for i := 0; ; i++ {
		b, next, problem := nextBlock(rest, i)
		if problem != "" {
			v.add(field, "%s", problem)
		}
		if next == nil {
			return certs
		}
		rest = next
		if b == nil {
			continue
		}
		if b.Type != "CERTIFICATE" {
			v.add(field, "PEM block %d is a %q, want CERTIFICATE", i, b.Type)
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			v.add(field, "certificate %d does not parse: %v", i, err)
			continue
		}
		certs = append(certs, c)
	}
}

// nextBlock reads PEM block i from the start of text: the block (nil if
// it does not parse), the text after it (nil when there is no block left
// to read) and what is wrong, if anything.
func nextBlock(text []byte, i int) (*pem.Block, []byte, string) {
	text = bytes.TrimLeft(text, " \t\r\n")
	begin := bytes.Index(text, []byte("-----BEGIN"))
	switch {
	case len(text) == 0:
		return nil, nil, ""
	case begin < 0 && i == 0:
		return nil, nil, "no PEM certificate found"
	case begin < 0:
		return nil, nil, "text that is not PEM after the last certificate"
	}
	problem := ""
	if begin > 0 {
		problem = fmt.Sprintf("text that is not PEM before PEM block %d", i)
	}
	text = text[begin:]
	end := bytes.Index(text, []byte("-----END"))
	if end < 0 {
		return nil, nil, "a PEM block does not parse (bad base64, or no END line)"
	}
	n := len(text)
	if eol := bytes.IndexByte(text[end:], '\n'); eol >= 0 {
		n = end + eol + 1
	}
	b, _ := pem.Decode(text[:n])
	if b == nil || bytes.Count(text[:n], []byte("-----BEGIN")) > 1 {
		return nil, text[n:], "a PEM block does not parse (bad base64, or no END line)"
	}
	return b, text[n:], problem
}

// onlyPEM reports whether text is PEM blocks and nothing else.
func onlyPEM(text string) bool {
	rest := []byte(text)
	n := 0
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return n > 0 && len(bytes.TrimSpace(rest)) == 0
		}
		n++
	}
}

func earliest(certs []*x509.Certificate) time.Time {
	var t time.Time
	for _, c := range certs {
		if t.IsZero() || c.NotAfter.Before(t) {
			t = c.NotAfter
		}
	}
	return t
}
