package main

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
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// pemFiles is a certificate and its key written as PEM files.
type pemFiles struct {
	cert, key       string // paths
	certPEM, keyPEM string
	notAfter        time.Time
}

// writeCert writes a certificate for names (DNS names, or URIs with a
// scheme) expiring at notAfter, signed by ca (self-signed and a CA if nil),
// with its key, into dir.
func writeCert(t *testing.T, dir, base string, ca *pemFiles, notAfter time.Time, names ...string) *pemFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: base},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	for _, n := range names {
		if u, err := url.Parse(n); err == nil && u.Scheme != "" {
			tmpl.URIs = append(tmpl.URIs, u)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	parent, signer := tmpl, any(key)
	if ca == nil {
		tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.KeyUsage = true, true, x509.KeyUsageCertSign
	} else {
		parent, signer = parseCertPEM(t, ca.certPEM), parseKeyPEM(t, ca.keyPEM)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		t.Fatal(err)
	}
	p8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	f := &pemFiles{cert: filepath.Join(dir, base+".pem"), key: filepath.Join(dir, base+"-key.pem"), notAfter: notAfter,
		certPEM: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		keyPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p8}))}
	writeFile(t, f.cert, f.certPEM)
	writeFile(t, f.key, f.keyPEM)
	return f
}

func parseCertPEM(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func parseKeyPEM(t *testing.T, s string) any {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// checkNoKey fails if out holds a line of a key that its certificate does
// not hold too (a PKCS#8 EC key ends in its public key).
func checkNoKey(t *testing.T, where, out string, certs ...*pemFiles) {
	t.Helper()
	for _, c := range certs {
		for _, l := range strings.Split(c.keyPEM, "\n") {
			if len(l) >= 8 && !strings.HasPrefix(l, "-----") && !strings.Contains(c.certPEM, l) && strings.Contains(out, l) {
				t.Fatalf("%s shows the private key of %s:\n%s", where, c.cert, out)
			}
		}
	}
}

// withKeysRedacted is specs with each secret's private key as get shows it.
func withKeysRedacted(t *testing.T, specs map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for ref, spec := range specs {
		out[ref] = spec
		if !strings.HasPrefix(ref, "secrets/") {
			continue
		}
		b, err := storage.CanonicalValue(redactSecret([]byte(spec), nil))
		if err != nil {
			t.Fatal(err)
		}
		out[ref] = string(b)
	}
	return out
}

func etcdValue(t *testing.T, cli *clientv3.Client, key string) string {
	t.Helper()
	resp, err := cli.Get(context.Background(), "/chancery/v1/"+key)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) == 0 {
		return ""
	}
	return string(resp.Kvs[0].Value)
}

// secret tls and secret ca write what the files hold, after checking it;
// get shows type, expiry and names, and never the key, in any format.
func TestSecretCommands(t *testing.T) {
	env, cli := startEtcd(t)
	dir := t.TempDir()
	year := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	ca := writeCert(t, dir, "corp-ca", nil, year.Add(24*time.Hour))
	web := writeCert(t, dir, "web", ca, year, "web.example.com", "spiffe://corp/web")
	other := writeCert(t, dir, "other", ca, year, "other.example.com")
	old := writeCert(t, dir, "old", ca, time.Now().Add(-time.Hour).UTC().Truncate(time.Second), "old.example.com")
	all := []*pemFiles{ca, web, other, old}

	r := mustRun(t, env, "", "secret", "tls", "web-cert", "--cert", web.cert, "--key", web.key)
	if !strings.Contains(r.stdout, "secrets/web-cert created") {
		t.Errorf("secret tls: %s", r.stdout)
	}
	var stored model.Secret
	if err := json.Unmarshal([]byte(etcdValue(t, cli, "secrets/web-cert")), &stored); err != nil || stored.TLSCertificate == nil ||
		stored.TLSCertificate.PrivateKey != web.keyPEM || stored.TLSCertificate.CertificateChain != web.certPEM {
		t.Fatalf("secrets/web-cert does not hold the files (%v)", err)
	}
	mustRun(t, env, "", "secret", "ca", "corp-ca", "--ca", ca.cert, "--san", "spiffe://corp/web", "--san", "web.internal")
	r = mustRun(t, env, "", "secret", "tls", "old-cert", "--cert", old.cert, "--key", old.key)
	if !strings.Contains(r.stderr, "warning: secrets/old-cert: a certificate expired at") {
		t.Errorf("no warning for an expired certificate: %q", r.stderr)
	}

	table := mustRun(t, env, "", "get", "secrets")
	for _, want := range []string{
		"web-cert  Accepted  tls_certificate, expires " + year.Format(time.RFC3339) + ", names web.example.com,spiffe://corp/web",
		"corp-ca   Accepted  validation_context, expires " + ca.notAfter.Format(time.RFC3339) + ", 1 CA (corp-ca), peer names spiffe://corp/web,web.internal",
		"old-cert  Accepted  tls_certificate, EXPIRED " + old.notAfter.Format(time.RFC3339) + ", names old.example.com",
	} {
		if !strings.Contains(table.stdout, want) {
			t.Errorf("get secrets lacks %q:\n%s", want, table.stdout)
		}
	}
	out := table.stdout
	for _, args := range [][]string{{"get", "secrets", "-o", "yaml"}, {"get", "all", "-o", "json"}, {"get", "secret", "web-cert", "-o", "json"}} {
		r := mustRun(t, env, "", args...)
		if !strings.Contains(r.stdout, model.Redacted) || !strings.Contains(r.stdout, "BEGIN CERTIFICATE") {
			t.Errorf("%v: want the chain and the key redacted:\n%s", args, r.stdout)
		}
		out += r.stdout + r.stderr
	}
	checkNoKey(t, "get", out, all...)

	// Refusals name the field or the file, show no key, write nothing.
	before := revision(t, cli)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"secret", "tls", "web-cert", "--cert", web.cert, "--key", other.key}, "field tls_certificate.private_key: the private key does not match"},
		{[]string{"secret", "tls", "web-cert", "--cert", web.key, "--key", web.key}, `field tls_certificate.certificate_chain: PEM block 0 is a "PRIVATE KEY", want CERTIFICATE`},
		{[]string{"secret", "tls", "web-cert", "--cert", web.cert, "--key", filepath.Join(dir, "absent.pem")}, "--key " + filepath.Join(dir, "absent.pem") + ": no such file or directory"},
		{[]string{"secret", "ca", "corp-ca", "--ca", web.key}, `field validation_context.ca_bundle: PEM block 0 is a "PRIVATE KEY"`},
		{[]string{"secret", "tls", "bad/name", "--cert", web.cert, "--key", web.key}, "must not contain '/'"},
		{[]string{"secret", "tls", "web-cert", "--cert", web.cert}, "--cert and --key are required"},
	} {
		r := ctl(t, env, "", c.args...)
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: status %d, stderr %q, want %q", c.args, r.code, r.stderr, c.want)
		}
		checkNoKey(t, strings.Join(c.args, " "), r.stdout+r.stderr, all...)
	}
	if now := revision(t, cli); now != before {
		t.Errorf("refused writes moved etcd from revision %d to %d", before, now)
	}

	// Deleting a secret a listener uses is refused, naming the listener.
	mustRun(t, env, "kind: RouteTable\nname: web\nspec: {virtual_hosts: [{name: all, domains: ['*'], routes: [{match: {prefix: /}, direct_response: {status: 200}}]}]}\n"+
		"---\nkind: Listener\nname: edge\nspec: {port: 8443, protocol: https, route_table: web, groups: [edge], tls: {certificates: [{secret: web-cert}]}}\n",
		"apply", "-f", "-")
	r = ctl(t, env, "", "delete", "secret", "web-cert")
	if r.code != exitFailure || !strings.Contains(r.stderr, "listeners/edge") {
		t.Errorf("delete of a secret in use: status %d, %q", r.code, r.stderr)
	}
	checkNoKey(t, "delete", r.stdout+r.stderr, all...)
}

// apply reads the PEM files a Secret document names, relative to the
// document's file; one it cannot read is an error naming the document and
// the field. get's output applies again, the redacted key standing for
// the one etcd holds; diff shows a changed key as changed, never the key.
func TestApplySecretDocuments(t *testing.T) {
	env, cli := startEtcd(t)
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	year := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	ca := writeCert(t, certs, "ca", nil, year)
	web := writeCert(t, certs, "web", ca, year, "web.example.com")
	next := writeCert(t, certs, "web-next", ca, year.Add(24*time.Hour), "web.example.com")
	all := []*pemFiles{ca, web, next}
	doc := func(cert, key string) string {
		return "kind: Secret\nname: web-cert\nspec:\n  tls_certificate:\n    certificate_chain_file: " + cert + "\n    private_key_file: " + key + "\n" +
			"---\nkind: Secret\nname: ca\nspec:\n  validation_context:\n    ca_bundle_file: certs/ca.pem\n    subject_alt_names: [web.internal]\n"
	}
	file := filepath.Join(dir, "secrets.yaml")
	writeFile(t, file, doc("certs/web.pem", "certs/web-key.pem"))
	r := mustRun(t, env, "", "apply", "-f", file)
	if strings.Count(r.stdout, " created\n") != 2 {
		t.Fatalf("apply: %s", r.stdout)
	}
	if !strings.Contains(etcdValue(t, cli, "secrets/web-cert"), `"private_key":`+quoteJSON(web.keyPEM)) {
		t.Fatal("secrets/web-cert does not hold the key file")
	}
	out := r.stdout + r.stderr

	writeFile(t, file, doc("certs/web.pem", "certs/nope-key.pem"))
	r = ctl(t, env, "", "apply", "-f", file)
	want := file + ": document 1 (secrets/web-cert, line 1): field tls_certificate.private_key_file (line 6): read " + filepath.Join(certs, "nope-key.pem") + ": no such file or directory"
	if r.code != exitFailure || !strings.Contains(r.stderr, want) {
		t.Errorf("unreadable file: status %d, stderr %q, want %q", r.code, r.stderr, want)
	}

	// get -o yaml applies again: the redacted key keeps the stored one.
	got := mustRun(t, env, "", "get", "secrets", "-o", "yaml")
	again := mustRun(t, env, got.stdout, "apply", "-f", "-")
	if strings.Count(again.stdout, " unchanged\n") != 2 {
		t.Errorf("apply of get -o yaml: %s", again.stdout)
	}
	out += got.stdout + again.stdout + again.stderr
	r = ctl(t, env, "kind: Secret\nname: fresh\nspec: {tls_certificate: {certificate_chain: "+quoteJSON(web.certPEM)+", private_key: '<redacted>'}}\n", "apply", "-f", "-")
	if r.code != exitFailure || !strings.Contains(r.stderr, `field tls_certificate.private_key (line 3): "<redacted>" stands for the key etcd holds, and etcd holds none for secrets/fresh`) {
		t.Errorf("a placeholder with no stored key: status %d, %q", r.code, r.stderr)
	}

	// diff of a rotation: the chain differs, the key shows as changed.
	writeFile(t, file, doc("certs/web-next.pem", "certs/web-next-key.pem"))
	d := ctl(t, env, "", "diff", "-f", file)
	if d.code != exitFailure || !strings.Contains(d.stdout, "-  private_key: "+model.Redacted) || !strings.Contains(d.stdout, "+  private_key: "+redactedChanged) {
		t.Errorf("diff of a rotation: status %d:\n%s%s", d.code, d.stdout, d.stderr)
	}
	// Only the chain changes: no key line differs.
	writeFile(t, file, doc("certs/web.pem", "certs/web-key.pem"))
	mustRun(t, env, "", "apply", "-f", file)
	writeFile(t, certs+"/both.pem", web.certPEM+ca.certPEM)
	writeFile(t, file, doc("certs/both.pem", "certs/web-key.pem"))
	d2 := ctl(t, env, "", "diff", "-f", file)
	if d2.code != exitFailure || !strings.Contains(d2.stdout, "+    -----BEGIN CERTIFICATE-----") || strings.Contains(d2.stdout, "+  private_key") {
		t.Errorf("diff of a chain change:\n%s%s", d2.stdout, d2.stderr)
	}
	out += d.stdout + d.stderr + d2.stdout + d2.stderr
	v := mustRun(t, env, "", "validate", "-f", file)
	out += v.stdout + v.stderr
	checkNoKey(t, "apply, get, diff and validate", out, all...)
}

// get and diff hide everything of a secret the model rejects but the
// certificates: a key pasted into the chain, an unknown field, a value
// that is not JSON.
func TestRejectedSecretsShowNoKey(t *testing.T) {
	env, cli := startEtcd(t)
	dir := t.TempDir()
	web := writeCert(t, dir, "web", nil, time.Now().Add(time.Hour), "web.example.com")
	for key, value := range map[string]string{
		"secrets/pasted":  `{"tls_certificate":{"certificate_chain":` + quoteJSON(web.certPEM+web.keyPEM) + `,"private_key":` + quoteJSON(web.keyPEM) + `}}`,
		"secrets/unknown": `{"tls_certificate":{"certificate_chain":` + quoteJSON(web.certPEM) + `,"privat_key":` + quoteJSON(web.keyPEM) + `}}`,
		"secrets/raw":     web.keyPEM,
		"secrets/junk":    `{"validation_context":{"ca_bundle":` + quoteJSON("junk "+web.keyPEM+web.certPEM) + `},"key":` + quoteJSON(web.keyPEM) + `}`,
	} {
		if _, err := cli.Put(context.Background(), "/chancery/v1/"+key, value); err != nil {
			t.Fatal(err)
		}
	}
	out := ""
	for _, args := range [][]string{{"get", "secrets"}, {"get", "secrets", "-o", "yaml"}, {"get", "all", "-o", "json"}, {"status"}} {
		r := ctl(t, env, "", args...)
		out += r.stdout + r.stderr
	}
	if strings.Count(out, "Rejected") < 4 || !strings.Contains(out, "BEGIN CERTIFICATE") {
		t.Errorf("want four rejected secrets, their certificates shown:\n%s", out)
	}
	checkNoKey(t, "get of rejected secrets", out, web)
}

// status lists when each accepted secret expires, as the leader recorded.
func TestStatusShowsSecretExpiry(t *testing.T) {
	env, cli := startEtcd(t)
	at := time.Date(2031, 2, 3, 4, 5, 6, 0, time.UTC)
	past := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, na := range map[string]time.Time{"web-cert": at, "old-cert": past} {
		b, _ := json.Marshal(storage.ObjectStatus{State: storage.StatusAccepted, Revision: 1, NotAfter: na})
		if _, err := cli.Put(context.Background(), "/chancery/v1/status/secrets/"+name, string(b)); err != nil {
			t.Fatal(err)
		}
	}
	r := mustRun(t, env, "", "status")
	for _, want := range []string{"SECRET    EXPIRES", "old-cert  2020-01-01T00:00:00Z  EXPIRED", "web-cert  2031-02-03T04:05:06Z"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, r.stdout)
		}
	}
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
