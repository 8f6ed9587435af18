package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// CA is a certificate authority for one test: a self-signed ECDSA P-256
// CA certificate, written as PEM under t.TempDir(), that issues leaf
// certificates.
type CA struct {
	name     string
	dir      string
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certPath string
	seq      atomic.Int64
}

// NewCA makes a CA whose subject is CN=name and writes its certificate to
// <tempdir>/<name>-ca.pem (CertPath).
func NewCA(t testing.TB, name string) *CA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatalf("CA %s: %v", name, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("CA %s: %v", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("CA %s: %v", name, err)
	}
	ca := &CA{name: name, dir: t.TempDir(), cert: cert, key: key}
	ca.certPath = filepath.Join(ca.dir, name+"-ca.pem")
	writePEM(t, ca.certPath, "CERTIFICATE", der)
	return ca
}

// Name returns the CA's common name.
func (ca *CA) Name() string { return ca.name }

// CertPath returns the PEM file of the CA's certificate: a CA bundle.
func (ca *CA) CertPath() string { return ca.certPath }

// Certificate returns the CA's certificate.
func (ca *CA) Certificate() *x509.Certificate { return ca.cert }

// CertOptions is what a leaf certificate says.
type CertOptions struct {
	// CommonName is the subject's CN; empty means the first DNS name.
	CommonName string
	// DNSNames and URIs are the subject alternative names
	// (URIs such as spiffe://corp/web).
	DNSNames []string
	URIs     []string
	// IPAddresses are IP subject alternative names, such as 127.0.0.1 for
	// a server reached by address (etcd's client URL).
	IPAddresses []net.IP
	// Validity is how long from now the certificate is valid; zero means 24h.
	Validity time.Duration
	// Expired issues a certificate whose validity ended an hour ago
	// (Validity is then ignored).
	Expired bool
	// Usage is what the certificate may authenticate; the zero value is
	// both a server and a client.
	Usage CertUsage
	// MismatchedKey writes, as the key, a fresh key that is not the
	// certificate's: a pair that does not load.
	MismatchedKey bool
}

// CertUsage is the extended key usage of a leaf certificate.
type CertUsage int

// The usages Issue knows.
const (
	ServerAndClient CertUsage = iota // serverAuth and clientAuth
	ServerOnly                       // serverAuth: refused as a client certificate
	ClientOnly                       // clientAuth: refused as a server certificate
)

func (u CertUsage) extKeyUsage() []x509.ExtKeyUsage {
	switch u {
	case ServerOnly:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	case ClientOnly:
		return []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	return []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
}

// Issue signs a new leaf certificate (a fresh key, a random serial, usable
// as server and client certificate unless opts.Usage says otherwise) and
// writes it and its PKCS#8 key as PEM under the CA's directory; it returns
// their paths. Each call writes new files, so issuing the same names again
// rotates.
func (ca *CA) Issue(t testing.TB, opts CertOptions) (certPath, keyPath string) {
	t.Helper()
	cn := opts.CommonName
	if cn == "" && len(opts.DNSNames) > 0 {
		cn = opts.DNSNames[0]
	}
	if opts.Validity == 0 {
		opts.Validity = 24 * time.Hour
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(t),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     opts.DNSNames,
		IPAddresses:  opts.IPAddresses,
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(opts.Validity),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: opts.Usage.extKeyUsage(),
	}
	if opts.Expired {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-48*time.Hour), time.Now().Add(-time.Hour)
	}
	for _, s := range opts.URIs {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("CA %s: URI SAN %q: %v", ca.name, s, err)
		}
		tmpl.URIs = append(tmpl.URIs, u)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader)
	if err != nil {
		t.Fatalf("CA %s: %v", ca.name, err)
	}
	der, err := x509.CreateCertificate(cryptorand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatalf("CA %s: issue %q: %v", ca.name, cn, err)
	}
	if opts.MismatchedKey {
		if key, err = ecdsa.GenerateKey(elliptic.P256(), cryptorand.Reader); err != nil {
			t.Fatalf("CA %s: %v", ca.name, err)
		}
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatalf("CA %s: %v", ca.name, err)
	}
	base := fmt.Sprintf("%s-%d", fileSafe(cn), ca.seq.Add(1))
	certPath, keyPath = filepath.Join(ca.dir, base+".pem"), filepath.Join(ca.dir, base+"-key.pem")
	writePEM(t, certPath, "CERTIFICATE", der)
	writePEM(t, keyPath, "PRIVATE KEY", keyDER)
	return certPath, keyPath
}

// LoadPair loads a certificate and key that Issue wrote, for a Go TLS
// client or server.
func LoadPair(t testing.TB, certPath, keyPath string) tls.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		t.Fatalf("load %s: %v", certPath, err)
	}
	return pair
}

// Pool is a certificate pool holding the CA's certificate, for a Go TLS
// client's RootCAs or a server's ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// ReadCert parses the first certificate of a PEM file.
func ReadCert(t testing.TB, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("%s holds no PEM block", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return c
}

func randomSerial(t testing.TB) *big.Int {
	n, err := cryptorand.Int(cryptorand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// fileSafe keeps the letters, digits, dots and dashes of a name.
func fileSafe(s string) string {
	out := []rune{}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			out = append(out, r)
		default:
			out = append(out, '_')
		}
	}
	if len(out) == 0 {
		return "cert"
	}
	return string(out)
}
