package objectstatus_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/internal/clustertest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// certSecret is a tls_certificate secret's JSON with a fresh self-signed
// certificate expiring at notAfter, and its key's PEM.
func certSecret(t *testing.T, notAfter time.Time) (value, keyPEM string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "web"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM = string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))
	b, err := json.Marshal(map[string]any{"tls_certificate": map[string]string{
		"certificate_chain": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"private_key":       keyPEM,
	}})
	if err != nil {
		t.Fatal(err)
	}
	return string(b), keyPEM
}

// An accepted secret's status carries its expiry, rewritten on rotation; a
// rejected write over it is recorded with the revision served in its place
// but without the value: no private key is copied into status/.
func TestSecretStatus(t *testing.T) {
	e, cli := etcdtest.Start(t)
	first := time.Now().Add(30 * 24 * time.Hour).UTC().Truncate(time.Second)
	value, key := certSecret(t, first)
	good := clustertest.Put(t, cli, "secrets/web-cert", value)
	clustertest.StartNode(t, e, "a", clustertest.NodeOptions{})

	record := func() (storage.ObjectStatus, string, error) {
		var st storage.ObjectStatus
		x := clustertest.GetPrefix(t, cli, "status/")["secrets/web-cert"]
		if x == nil {
			return st, "", fmt.Errorf("no status/secrets/web-cert")
		}
		return st, x.Value, json.Unmarshal([]byte(x.Value), &st)
	}
	wantExpiry := func(at time.Time) {
		t.Helper()
		clustertest.Eventually(t, 10*time.Second, func() error {
			st, _, err := record()
			switch {
			case err != nil:
				return err
			case st.State != storage.StatusAccepted || !st.NotAfter.Equal(at):
				return fmt.Errorf("status %+v, want accepted, not_after %v", st, at)
			}
			return nil
		})
	}
	wantExpiry(first)

	second := first.Add(24 * time.Hour)
	value, key2 := certSecret(t, second)
	good = clustertest.Put(t, cli, "secrets/web-cert", value)
	wantExpiry(second)

	bad := clustertest.Put(t, cli, "secrets/web-cert", `{"tls_certificate":{"certificate_chain":"x","private_key":`+quoteJSON(key)+`}}`)
	clustertest.Eventually(t, 10*time.Second, func() error {
		st, raw, err := record()
		switch {
		case err != nil:
			return err
		case st.State != storage.StatusRejected || st.Serving == nil:
			return fmt.Errorf("status %+v, want rejected with the version served", st)
		case st.Serving.Revision != good || st.Serving.For != bad || len(st.Serving.Value) != 0:
			return fmt.Errorf("serving %+v, want revision %d for %d without value", st.Serving, good, bad)
		case strings.Contains(raw, "private_key") || strings.Contains(raw, "BEGIN"):
			return fmt.Errorf("status record shows secret material")
		}
		return nil
	})
	for name, x := range clustertest.GetPrefix(t, cli, "status/") {
		for _, k := range []string{key, key2} {
			for _, line := range strings.Split(k, "\n") {
				if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(x.Value, line) {
					t.Fatalf("status/%s shows a private key", name)
				}
			}
		}
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
