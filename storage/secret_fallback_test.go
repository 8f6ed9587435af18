package storage_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

// selfSigned is a tls_certificate secret's JSON: a fresh self-signed
// certificate and its key.
func selfSigned(t *testing.T, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
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
	return string(b)
}

// A rejected write over a secret serves its last accepted version from
// etcd's history. The leader's status record for a secret holds no value
// (no private key in status/), so once the history is compacted nothing
// stands in, on a watcher, ReadContents and SnapshotOf alike, and nothing
// breaks for want of the value.
func TestSecretFallsBackOnHistoryOnly(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ref := model.Ref{Kind: model.KindSecret, Name: "web-cert"}
	ks := storage.NewKeyspace(prefix)
	good := put(t, cli, ref.String(), selfSigned(t, "web"))
	bad := put(t, cli, ref.String(), `{"tls_certificate":{"certificate_chain":"x","private_key":"y"}}`)

	_, snaps := startWatcher(t, cli, time.Millisecond)
	first, _ := snaps.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if rj, ok := first.RejectionOf(ref); first.Secrets["web-cert"] == nil || !ok || rj.Serving == nil || rj.Serving.Revision != good {
		t.Fatalf("from history: served %v, rejection %+v, want revision %d served", first.Secrets["web-cert"], rj, good)
	}

	// What the leader records for a secret: the revisions, no value.
	record, err := json.Marshal(storage.ObjectStatus{State: storage.StatusRejected, Reason: "r",
		Serving: &storage.ServingRecord{Revision: good, For: bad}})
	if err != nil {
		t.Fatal(err)
	}
	statusKey := "status/" + ref.String()
	put(t, cli, statusKey, string(record))
	if _, err := cli.Compact(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	marker := put(t, cli, "services/marker", `{"protocol":"http"}`)
	snaps.waitFor(t, 0, func(s *model.Snapshot) bool { return s.Revision >= marker })

	_, fresh := startWatcher(t, cli, time.Millisecond)
	snap, _ := fresh.waitFor(t, 0, func(*model.Snapshot) bool { return true })
	if rj, ok := snap.RejectionOf(ref); !ok || rj.Serving != nil || snap.Secrets["web-cert"] != nil {
		t.Errorf("compacted, a record without value: served %v, rejection %+v; want rejected, nothing served", snap.Secrets["web-cert"], rj)
	}

	cur, err := storage.ReadContents(context.Background(), cli, ks)
	if err != nil {
		t.Fatalf("ReadContents: %v", err)
	}
	if st := cur.Objects[ref]; st == nil || st.Serving != nil {
		t.Errorf("ReadContents: %+v, want the live value, nothing served", st)
	}

	resp, err := cli.Get(context.Background(), prefix+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	kvs := append([]*mvccpb.KeyValue(nil), resp.Kvs...)
	if s := storage.SnapshotOf(ks, resp.Header.Revision, kvs); s.Secrets["web-cert"] != nil {
		t.Errorf("SnapshotOf serves %v from a record without value", s.Secrets["web-cert"])
	}
}

// A record that holds a value differs from one that does not, so that a
// secret's value recorded by an older leader is rewritten away; and a
// secret whose expiry changed is rewritten too.
func TestObjectStatusSame(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	rec := func(v string) *storage.ServingRecord {
		return &storage.ServingRecord{Revision: 2, For: 3, Value: json.RawMessage(v)}
	}
	cases := []struct {
		a, b storage.ObjectStatus
		same bool
	}{
		{storage.ObjectStatus{State: "rejected", Serving: rec(`{}`)}, storage.ObjectStatus{State: "rejected", Serving: rec(`{"a":1}`), Revision: 9}, true},
		{storage.ObjectStatus{State: "rejected", Serving: rec(`{}`)}, storage.ObjectStatus{State: "rejected", Serving: rec("")}, false},
		{storage.ObjectStatus{State: "accepted", NotAfter: at}, storage.ObjectStatus{State: "accepted", NotAfter: at.Local()}, true},
		{storage.ObjectStatus{State: "accepted", NotAfter: at}, storage.ObjectStatus{State: "accepted", NotAfter: at.Add(time.Hour)}, false},
		{storage.ObjectStatus{State: "accepted", NotAfter: at}, storage.ObjectStatus{State: "accepted"}, false},
	}
	for i, c := range cases {
		if got := c.a.Same(c.b); got != c.same {
			t.Errorf("case %d: Same %v, want %v", i, got, c.same)
		}
		b, err := json.Marshal(c.a)
		if err != nil {
			t.Fatal(err)
		}
		var back storage.ObjectStatus
		if err := json.Unmarshal(b, &back); err != nil || !back.Same(c.a) {
			t.Errorf("case %d: %s reads back as %+v (%v)", i, b, back, err)
		}
	}
	b, _ := json.Marshal(storage.ObjectStatus{State: "rejected", Serving: rec("")})
	if string(b) != `{"state":"rejected","revision":0,"serving":{"revision":2,"for":3}}` {
		t.Errorf("a record without value encodes as %s", b)
	}
}
