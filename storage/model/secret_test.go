package model_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// testCert is a certificate made for a test, with its PEM texts.
type testCert struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM string
	keyPEM  string // PKCS#8 unless made otherwise
}

// certOptions shape a test certificate.
type certOptions struct {
	cn       string
	dns      []string
	ca       bool
	rsa      bool // an RSA key (PKCS#1 PEM) instead of ECDSA P-256 (PKCS#8)
	notAfter time.Time
}

// newCert makes a certificate signed by parent (self-signed if nil).
func newCert(t *testing.T, parent *testCert, o certOptions) *testCert {
	t.Helper()
	var key crypto.Signer
	var err error
	if o.rsa {
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	} else {
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	if err != nil {
		t.Fatalf("generate key: %v", err)
	}
	if o.notAfter.IsZero() {
		o.notAfter = time.Now().Add(365 * 24 * time.Hour).Truncate(time.Second)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: o.cn},
		DNSNames:     o.dns,
		NotBefore:    o.notAfter.Add(-2 * 365 * 24 * time.Hour),
		NotAfter:     o.notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if o.ca {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	}
	signer, issuer := key, tmpl
	if parent != nil {
		signer, issuer = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, issuer, key.Public(), signer)
	if err != nil {
		t.Fatalf("create certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	c := &testCert{cert: cert, key: key, certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
	if k, ok := key.(*rsa.PrivateKey); ok {
		c.keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}))
	} else {
		p8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatalf("marshal key: %v", err)
		}
		c.keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	}
	return c
}

func tlsSecretJSON(chain, key string) string {
	b, _ := json.Marshal(map[string]any{"tls_certificate": map[string]string{"certificate_chain": chain, "private_key": key}})
	return string(b)
}

func caSecretJSON(bundle string, sans ...string) string {
	vc := map[string]any{"ca_bundle": bundle}
	if len(sans) > 0 {
		vc["subject_alt_names"] = sans
	}
	b, _ := json.Marshal(map[string]any{"validation_context": vc})
	return string(b)
}

// keyLines are the base64 lines of PEM private keys that public (the
// certificates) does not hold too: a PKCS#8 EC key ends in its public key,
// which a certificate shows. No error may hold one.
func keyLines(public string, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, l := range strings.Split(k, "\n") {
			if len(l) >= 8 && !strings.HasPrefix(l, "-----") && !strings.Contains(public, l) {
				out = append(out, l)
			}
		}
	}
	return out
}

func secretRef(name string) model.Ref { return model.Ref{Kind: model.KindSecret, Name: name} }

func TestSecretValidation(t *testing.T) {
	ca := newCert(t, nil, certOptions{cn: "test CA", ca: true})
	leaf := newCert(t, ca, certOptions{cn: "web", dns: []string{"web.example.com"}})
	other := newCert(t, ca, certOptions{cn: "other", dns: []string{"other.example.com"}})
	rsaLeaf := newCert(t, ca, certOptions{cn: "rsa", dns: []string{"rsa.example.com"}, rsa: true})
	expired := newCert(t, ca, certOptions{cn: "old", dns: []string{"old.example.com"}, notAfter: time.Now().Add(-48 * time.Hour).Truncate(time.Second)})
	chain := leaf.certPEM + ca.certPEM
	// openssl ecparam -genkey writes the curve's parameters before the key.
	ecParams := "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
	secretKeys := []string{leaf.keyPEM, other.keyPEM, rsaLeaf.keyPEM, expired.keyPEM, ca.keyPEM}
	public := chain + other.certPEM + rsaLeaf.certPEM + expired.certPEM

	cases := []struct {
		name     string
		json     string
		field    string    // the field every error must name; "" for a valid secret
		want     string    // a substring of the error
		notAfter time.Time // for a valid secret
	}{
		{name: "valid ECDSA tls_certificate", json: tlsSecretJSON(chain, leaf.keyPEM), notAfter: earliestOf(leaf, ca)},
		{name: "valid RSA tls_certificate", json: tlsSecretJSON(rsaLeaf.certPEM, rsaLeaf.keyPEM), notAfter: rsaLeaf.cert.NotAfter},
		{name: "key after EC PARAMETERS", json: tlsSecretJSON(leaf.certPEM, ecParams+leaf.keyPEM), notAfter: leaf.cert.NotAfter},
		{name: "valid validation_context", json: caSecretJSON(ca.certPEM, "spiffe://corp/web", "web.internal"), notAfter: ca.cert.NotAfter},
		{name: "expired certificate accepted", json: tlsSecretJSON(expired.certPEM, expired.keyPEM), notAfter: expired.cert.NotAfter},
		{name: "garbled PEM chain", json: tlsSecretJSON("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n", leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "does not parse"},
		{name: "certificate that is not DER", json: tlsSecretJSON("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "certificate 0 does not parse"},
		{name: "chain with trailing junk", json: tlsSecretJSON(chain+"trailing junk\n", leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "not PEM after the last certificate"},
		{name: "garbled first certificate of two", json: tlsSecretJSON(garbled(leaf.certPEM)+ca.certPEM, leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "a PEM block does not parse"},
		{name: "text before the chain", json: tlsSecretJSON("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"+chain, leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "text that is not PEM before PEM block 0"},
		{name: "text between certificates", json: tlsSecretJSON(leaf.certPEM+"between\n"+ca.certPEM, leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "text that is not PEM before PEM block 1"},
		{name: "BEGIN without END before a certificate", json: tlsSecretJSON("-----BEGIN CERTIFICATE-----\nAAAA\n"+chain, leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "a PEM block does not parse"},
		{name: "garbled CA among two", json: caSecretJSON(ca.certPEM + garbled(other.certPEM)),
			field: "validation_context.ca_bundle", want: "a PEM block does not parse"},
		{name: "chain not PEM", json: tlsSecretJSON("hello", leaf.keyPEM),
			field: "tls_certificate.certificate_chain", want: "no PEM certificate found"},
		{name: "empty chain", json: tlsSecretJSON("", leaf.keyPEM), field: "tls_certificate.certificate_chain", want: "required"},
		{name: "mismatched key", json: tlsSecretJSON(chain, other.keyPEM),
			field: "tls_certificate.private_key", want: "does not match"},
		{name: "RSA key for an ECDSA certificate", json: tlsSecretJSON(chain, rsaLeaf.keyPEM),
			field: "tls_certificate.private_key", want: "does not match"},
		{name: "mismatched key after EC PARAMETERS", json: tlsSecretJSON(chain, ecParams+other.keyPEM),
			field: "tls_certificate.private_key", want: "does not match"},
		{name: "leaf not first", json: tlsSecretJSON(ca.certPEM+leaf.certPEM, leaf.keyPEM),
			field: "tls_certificate.private_key", want: "first certificate"},
		{name: "key not PEM", json: tlsSecretJSON(chain, "not a key"), field: "tls_certificate.private_key", want: "does not parse"},
		{name: "key PEM with junk", json: tlsSecretJSON(chain, leaf.keyPEM+"junk"), field: "tls_certificate.private_key", want: "does not parse"},
		{name: "key truncated", json: tlsSecretJSON(chain, truncatedKey(leaf.keyPEM)), field: "tls_certificate.private_key", want: "does not parse"},
		{name: "certificate as key", json: tlsSecretJSON(chain, leaf.certPEM), field: "tls_certificate.private_key", want: "want a PEM private key"},
		{name: "redacted placeholder as key", json: tlsSecretJSON(chain, model.Redacted), field: "tls_certificate.private_key", want: "placeholder"},
		{name: "empty key", json: tlsSecretJSON(chain, ""), field: "tls_certificate.private_key", want: "required"},
		{name: "CA bundle with no certificate", json: caSecretJSON("-----BEGIN CERTIFICATE-----\ngarbage"),
			field: "validation_context.ca_bundle", want: "does not parse"},
		{name: "PRIVATE KEY block in ca_bundle", json: caSecretJSON(ca.certPEM + leaf.keyPEM),
			field: "validation_context.ca_bundle", want: `"PRIVATE KEY", want CERTIFICATE`},
		{name: "only a key in ca_bundle", json: caSecretJSON(rsaLeaf.keyPEM),
			field: "validation_context.ca_bundle", want: `"RSA PRIVATE KEY", want CERTIFICATE`},
		{name: "empty ca_bundle", json: caSecretJSON(""), field: "validation_context.ca_bundle", want: "required"},
		{name: "empty SAN", json: caSecretJSON(ca.certPEM, ""), field: "validation_context.subject_alt_names[0]", want: "must not be empty"},
		{name: "duplicate SAN", json: caSecretJSON(ca.certPEM, "a", "a"), field: "validation_context.subject_alt_names[1]", want: "duplicate"},
		{name: "oversized key", json: tlsSecretJSON(chain, strings.Repeat("k", 17<<10)), field: "tls_certificate.private_key", want: "at most 16384 bytes"},
		{name: "unknown field", json: `{"tls_certificate":{"certificate_chain":"","private_key":"","password":"x"}}`,
			field: "tls_certificate.password", want: "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			obj, err := model.Decode(secretRef("s"), []byte(c.json))
			checkNoSecretIn(t, err, keyLines(public, secretKeys...))
			if c.field == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				s := obj.(*model.Secret)
				if !s.NotAfter().Equal(c.notAfter) {
					t.Errorf("NotAfter %v, want %v", s.NotAfter(), c.notAfter)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted, want an error at %s", c.field)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q, want it to say %q", err, c.want)
			}
			checkFields(t, err, c.field)
		})
	}
}

// TestSecretShape covers what names no single field: both kinds of secret,
// or neither.
func TestSecretShape(t *testing.T) {
	ca := newCert(t, nil, certOptions{cn: "CA", ca: true})
	both := `{"tls_certificate":{"certificate_chain":` + quote(ca.certPEM) + `,"private_key":` + quote(ca.keyPEM) +
		`},"validation_context":{"ca_bundle":` + quote(ca.certPEM) + `}}`
	for name, c := range map[string]struct{ json, want string }{
		"both":    {both, "either tls_certificate or validation_context, not both"},
		"neither": {`{}`, "want tls_certificate (certificate_chain and private_key) or validation_context (ca_bundle)"},
	} {
		_, err := model.Decode(secretRef("s"), []byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
		checkNoSecretIn(t, err, keyLines(ca.certPEM, ca.keyPEM))
	}
}

func TestSecretTypeAndRedacted(t *testing.T) {
	leaf := newCert(t, nil, certOptions{cn: "web"})
	obj, err := model.Decode(secretRef("web"), []byte(tlsSecretJSON(leaf.certPEM, leaf.keyPEM)))
	if err != nil {
		t.Fatal(err)
	}
	s := obj.(*model.Secret)
	if s.Type() != model.SecretTLSCertificate {
		t.Errorf("Type %q", s.Type())
	}
	r := s.Redacted()
	if r.TLSCertificate.PrivateKey != model.Redacted || r.TLSCertificate.CertificateChain != leaf.certPEM {
		t.Errorf("redacted %+v", r.TLSCertificate)
	}
	if s.TLSCertificate.PrivateKey != leaf.keyPEM {
		t.Error("Redacted changed the original's key")
	}
	if !r.NotAfter().Equal(s.NotAfter()) {
		t.Errorf("redacted NotAfter %v, want %v", r.NotAfter(), s.NotAfter())
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range keyLines(leaf.certPEM, leaf.keyPEM) {
		if strings.Contains(string(b), l) {
			t.Fatalf("the redacted secret's JSON shows the key")
		}
	}

	ca := newCert(t, nil, certOptions{cn: "CA", ca: true})
	obj, err = model.Decode(secretRef("ca"), []byte(caSecretJSON(ca.certPEM, "web.internal")))
	if err != nil {
		t.Fatal(err)
	}
	vc := obj.(*model.Secret)
	if vc.Type() != model.SecretValidationContext || vc.Redacted().ValidationContext.CABundle != ca.certPEM {
		t.Errorf("validation context %q redacted as %+v", vc.Type(), vc.Redacted().ValidationContext)
	}
}

// checkFields fails unless err is field errors, each at field.
func checkFields(t *testing.T, err error, field string) {
	t.Helper()
	var fes model.FieldErrors
	var fe *model.FieldError
	switch {
	case errors.As(err, &fes):
		for _, e := range fes {
			if e.Field != field {
				t.Errorf("error at field %q (%v), want %q", e.Field, e, field)
			}
		}
	case errors.As(err, &fe):
		if fe.Field != field {
			t.Errorf("error at field %q (%v), want %q", fe.Field, fe, field)
		}
	default:
		t.Errorf("error %v names no field, want %q", err, field)
	}
}

func checkNoSecretIn(t *testing.T, err error, lines []string) {
	t.Helper()
	if err == nil {
		return
	}
	for _, l := range lines {
		if strings.Contains(err.Error(), l) {
			t.Fatalf("the error shows a line of a private key")
		}
	}
}

func earliestOf(certs ...*testCert) time.Time {
	t := certs[0].cert.NotAfter
	for _, c := range certs[1:] {
		if c.cert.NotAfter.Before(t) {
			t = c.cert.NotAfter
		}
	}
	return t
}

// truncatedKey keeps a PEM key's armour and the first half of its body:
// base64 that decodes, DER that does not parse.
func truncatedKey(keyPEM string) string {
	b, _ := pem.Decode([]byte(keyPEM))
	return string(pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes[:len(b.Bytes)/2]}))
}

// garbled spoils the base64 of a PEM certificate's first body line.
func garbled(certPEM string) string {
	lines := strings.Split(certPEM, "\n")
	lines[1] = "*" + lines[1][1:]
	return strings.Join(lines, "\n")
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
