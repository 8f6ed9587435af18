package workload

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// CertificateSecret is the name of the secret an https bench listener
// presents.
const CertificateSecret = "bench-cert"

// CertificateName is the DNS name the bench certificate is issued for.
const CertificateName = "bench.example.com"

// SelfSigned makes a self-signed ECDSA P-256 server certificate for
// CertificateName, valid from an hour ago for a year: what a benchmark
// run needs to serve one real certificate, made fresh so no private key
// lives in the repository.
func SelfSigned(now time.Time) (model.TLSCertificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return model.TLSCertificate{}, fmt.Errorf("bench certificate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: CertificateName},
		DNSNames:     []string{CertificateName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return model.TLSCertificate{}, fmt.Errorf("bench certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return model.TLSCertificate{}, fmt.Errorf("bench certificate key: %w", err)
	}
	return model.TLSCertificate{
		CertificateChain: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		PrivateKey:       string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})),
	}, nil
}
