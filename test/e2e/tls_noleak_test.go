package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// keyLine is one line of a private key's PEM body that carries secret
// bytes, and where it comes from.
type keyLine struct {
	secret string
	index  int // the line's number in the PEM body
	text   string
}

// secretLines lists the PEM body lines of every private key written that
// hold private bytes. An EC key's DER ends with its public point, also in
// the certificate (which is shown): a line of the point alone is skipped.
func (g *tlsRig) secretLines() []keyLine {
	var out []keyLine
	for _, name := range slices.Sorted(maps.Keys(g.keys)) {
		for _, key := range g.keys[name] {
			out = append(out, privateLines(name, key)...)
		}
	}
	return out
}

func privateLines(name, key string) []keyLine {
	var body []string
	for _, l := range strings.Split(key, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "-----") {
			body = append(body, l)
		}
	}
	pubFrom, pubTo := publicRange(key)
	var out []keyLine
	for i, l := range body {
		from, to := i*48, i*48+len(l)*3/4 // 64 base64 characters are 48 bytes
		if len(l) < 16 || from >= pubFrom && to <= pubTo {
			continue
		}
		out = append(out, keyLine{secret: name, index: i, text: l})
	}
	return out
}

// publicRange is where an EC key's DER holds its public point; (0, 0) if
// the key is no EC key this test wrote.
func publicRange(key string) (from, to int) {
	b, _ := pem.Decode([]byte(key))
	if b == nil {
		return 0, 0
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return 0, 0
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return 0, 0
	}
	pub, err := ec.PublicKey.ECDH()
	if err != nil {
		return 0, 0
	}
	i := bytes.Index(b.Bytes, pub.Bytes())
	if i < 0 {
		return 0, 0
	}
	return i, i + len(pub.Bytes())
}

// findLeaks reports every source whose text holds a private key line,
// naming the secret and the line's number, never the line.
func (g *tlsRig) findLeaks(sources map[string]string) {
	g.t.Helper()
	lines := g.secretLines()
	if len(lines) == 0 {
		g.t.Log("no private key was written to etcd: nothing to look for")
		return
	}
	for _, src := range slices.Sorted(maps.Keys(sources)) {
		leaked := map[string]int{} // secret -> lines of its keys found
		for _, l := range lines {
			if strings.Contains(sources[src], l.text) {
				leaked[l.secret]++
			}
		}
		if len(leaked) > 0 {
			var what []string
			for _, name := range slices.Sorted(maps.Keys(leaked)) {
				what = append(what, fmt.Sprintf("%s (%d lines)", name, leaked[name]))
			}
			g.t.Errorf("LEAK: %s holds private key lines of %s", src, strings.Join(what, ", "))
		}
	}
	g.t.Logf("looked for %d private key lines in %d sources", len(lines), len(sources))
}

// serverSources is what the replica shows: its log, its debug and metrics
// endpoints, and every key it writes to etcd (status/, proxies/ and the
// rest outside the model).
func (g *tlsRig) serverSources() map[string]string {
	g.t.Helper()
	src := map[string]string{
		"chancery log":               readFile(g.t, g.r.LogPath()),
		"/debug/snapshot":            string(g.r.Get(g.t, "/debug/snapshot")),
		"/debug/snapshot?group=edge": string(g.r.Get(g.t, "/debug/snapshot?group=edge")),
		"/debug/proxies":             string(g.r.Get(g.t, "/debug/proxies")),
		"/metrics":                   string(g.r.Get(g.t, "/metrics")),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := g.cli.Get(ctx, prefix+"/", clientv3.WithPrefix())
	if err != nil {
		g.t.Fatal(err)
	}
	for _, kv := range resp.Kvs {
		k := string(kv.Key)
		if strings.HasPrefix(k, prefix+"/secrets/") {
			continue // where the keys belong
		}
		src["etcd "+k] = string(kv.Key) + "\n" + string(kv.Value)
	}
	for _, want := range []string{"status/", "proxies/"} {
		if !hasSourcePrefix(src, "etcd "+prefix+"/"+want) {
			g.t.Logf("etcd holds no %s key yet", want)
		}
	}
	return src
}

func hasSourcePrefix(src map[string]string, p string) bool {
	for k := range src {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	return false
}

// checkServerNoLeak looks for every private key written in what the
// replica shows and writes.
func (g *tlsRig) checkServerNoLeak() {
	g.t.Helper()
	g.findLeaks(g.serverSources())
}

// cliSources runs the chanceryctl commands that show secrets, or would
// change them, and returns what each printed (stdout and stderr).
func (g *tlsRig) cliSources(ca *harness.CA) map[string]string {
	g.t.Helper()
	src := map[string]string{}
	run := func(args ...string) {
		out, errOut, code := harness.Chanceryctl(g.t, append([]string{"--etcd-endpoints", g.etcd.Endpoint()}, args...)...)
		src["chanceryctl "+strings.Join(args, " ")] = out + "\n" + errOut
		if code > 2 {
			g.t.Errorf("chanceryctl %s: status %d: %s", strings.Join(args, " "), code, errOut)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(g.keys)) {
		for _, o := range []string{"table", "yaml", "json"} {
			run("get", "secrets", name, "-o", o)
		}
	}
	for _, args := range [][]string{{"get", "secrets"}, {"get", "secrets", "-o", "yaml"}, {"get", "secrets", "-o", "json"}, {"get", "all", "-o", "yaml"}, {"status"}} {
		run(args...)
	}
	// A manifest that changes a-cert's key, valid and invalid: diff and
	// validate print both sides or their findings.
	dir := g.t.TempDir()
	c, k := ca.Issue(g.t, harness.CertOptions{DNSNames: []string{"a.example.com"}})
	_, otherKey := ca.Issue(g.t, harness.CertOptions{DNSNames: []string{"a.example.com"}})
	for file, key := range map[string]string{"valid.yaml": readFile(g.t, k), "mismatched.yaml": readFile(g.t, otherKey)} {
		g.keys["manifest "+file] = append(g.keys["manifest "+file], key)
		doc, err := json.Marshal(map[string]any{"kind": "Secret", "name": "a-cert", "spec": certSecret(readFile(g.t, c), key)})
		if err != nil {
			g.t.Fatal(err)
		}
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, doc, 0o600); err != nil {
			g.t.Fatal(err)
		}
		run("diff", "-f", path)
		run("validate", "-f", path)
	}
	if out := src["chanceryctl diff -f "+filepath.Join(dir, "valid.yaml")]; !strings.Contains(out, "certificate_chain") {
		g.t.Errorf("chanceryctl diff of a changed secret shows no diff of it:\n%.2000s", out)
	}
	return src
}

// After every TLS feature has run on one replica (logging at debug level):
// no private key line is in the replica's log, its debug endpoints, its
// metrics, the status/ and proxies/ keys, or anything chanceryctl prints
// about secrets, a diff of a changed key included.
func TestTLSNoLeak(t *testing.T) {
	g := newTLSRig(t, "--log-level", "debug")
	sni := setupSNI(g)
	mtls := setupEdgeMTLS(g)
	up := setupUpstreamMTLS(g)
	pass := setupPassthrough(g)
	sni.check(g)
	mtls.check(g)
	up.check(g)
	pass.check(g)
	bad := setupBadInput(g)
	bad.check(g)
	for range 3 { // rotations of a-cert
		c, k := sni.ca.Issue(t, harness.CertOptions{DNSNames: []string{"a.example.com"}})
		g.putCert("a-cert", c, k)
		tlsProbe{port: sni.port, serverName: "a.example.com", roots: certPool(t, sni.ca)}.waitServes(t, "/", "up1", serialOf(t, c))
	}
	g.checkNoNACK()

	// The replica records its proxies every 500ms: look once Envoy's
	// record holds what was sent last.
	harness.Eventually(t, 10*time.Second, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := g.cli.Get(ctx, prefix+"/proxies/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || resp.Count == 0 {
			return fmt.Errorf("no proxies/ record yet (%v)", err)
		}
		return nil
	})
	time.Sleep(time.Second)
	src := g.serverSources()
	for k, v := range g.cliSources(sni.ca) {
		src[k] = v
	}
	g.findLeaks(src)
	if t.Failed() {
		t.Logf("sources looked in: %s", strings.Join(slices.Sorted(maps.Keys(src)), ", "))
	}
}
