package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/chancery-xds/chancery/storage/model"
)

// secretValue is a tls_certificate secret whose self-signed certificate
// expires at notAfter.
func secretValue(t *testing.T, notAfter time.Time) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "t"},
		NotBefore: notAfter.Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{"tls_certificate": map[string]string{
		"certificate_chain": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		"private_key":       string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8})),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func expiryMetric(series map[string]time.Time) string {
	var b strings.Builder
	b.WriteString("# HELP chancery_secret_expiry_timestamp_seconds Unix time at which the earliest certificate of each served secret expires (its not_after).\n")
	b.WriteString("# TYPE chancery_secret_expiry_timestamp_seconds gauge\n")
	for _, name := range []string{"a", "b", "c"} { // label order, as Gather sorts
		if at, ok := series[name]; ok {
			fmt.Fprintf(&b, "chancery_secret_expiry_timestamp_seconds{secret=%q} %d\n", name, at.Unix())
		}
	}
	return b.String()
}

// Every served secret has a series with its expiry, an expired one too; a
// secret the translator refuses has none; a deleted secret's series goes,
// and a rotation moves the value.
func TestSecretExpiryMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	se := newSecretExpiry(reg)
	soon := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	past := time.Now().Add(-24 * time.Hour).UTC().Truncate(time.Second)
	later := soon.Add(90 * 24 * time.Hour)
	ref := func(n string) model.Ref { return model.Ref{Kind: model.KindSecret, Name: n} }

	a, b, c := secretValue(t, soon), secretValue(t, past), secretValue(t, later)
	snap := model.NewSnapshot(5)
	snap.Put(ref("a"), a)
	snap.Put(ref("b"), b)
	snap.Put(ref("c"), c)
	se.observe(snap, []model.Rejection{{Ref: ref("c"), Err: errors.New("not sent")}})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expiryMetric(map[string]time.Time{"a": soon, "b": past}))); err != nil {
		t.Fatalf("first rebuild: %v", err)
	}

	// b deleted, c sent, a rotated.
	snap = model.NewSnapshot(6)
	snap.Put(ref("a"), c)
	snap.Put(ref("c"), c)
	se.observe(snap, nil)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(expiryMetric(map[string]time.Time{"a": later, "c": later}))); err != nil {
		t.Fatalf("second rebuild: %v", err)
	}

	// A rejected live value over a secret serves its last accepted
	// version: its expiry stays.
	snap.Rejected = []model.Rejection{{Ref: ref("a"), Err: errors.New("bad"), Serving: &model.Accepted{Revision: 6, For: 7}}}
	se.observe(snap, snap.Rejected)
	if n := testutil.CollectAndCount(se.gauge); n != 2 {
		t.Errorf("with a's fallback served: %d series, want 2", n)
	}
	se.observe(model.NewSnapshot(8), nil)
	if n := testutil.CollectAndCount(se.gauge); n != 0 {
		t.Errorf("no secrets: %d series, want 0", n)
	}
}
