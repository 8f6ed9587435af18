package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Bad TLS input, each rejected on its own object naming the field, with no
// NACK and nothing else lost: a chain whose PEM does not parse, a key of
// another certificate, listeners naming those secrets or a missing one,
// and a bad key written over a secret in use (which keeps serving its last
// accepted certificate).
func TestTLSBadInput(t *testing.T) {
	g := newTLSRig(t)
	fx := setupBadInput(g)
	fx.check(g)
	g.checkNoNACK()
	g.checkServerNoLeak()
}

type badInputFixture struct {
	ca                  *harness.CA
	goodPort, livePort  int
	goodSerial, liveOld *big.Int
	unsent              map[string]int         // listener -> its port, never bound
	want                map[string]fieldReason // key -> how it is rejected
}

// fieldReason is a rejection: the field named and the start of the message.
type fieldReason struct{ field, msg string }

func (f fieldReason) re() *regexp.Regexp {
	return regexp.MustCompile(`(^|; )field ` + regexp.QuoteMeta(f.field) + `: ` + regexp.QuoteMeta(f.msg))
}

func setupBadInput(g *tlsRig) *badInputFixture {
	t := g.t
	t.Helper()
	fx := &badInputFixture{ca: harness.NewCA(t, "bad-input-ca"), goodPort: harness.FreePort(t), livePort: harness.FreePort(t), unsent: map[string]int{}}
	issue := func(name string) (chain, key string, serial *big.Int) {
		c, k := fx.ca.Issue(t, harness.CertOptions{DNSNames: []string{name}})
		return readFile(t, c), readFile(t, k), serialOf(t, c)
	}
	goodChain, goodKey, goodSerial := issue("good.example.com")
	fx.goodSerial = goodSerial
	g.putCertText("good-cert", goodChain, goodKey)
	g.putJSON("listeners/good-tls", httpsListener(fx.goodPort, map[string]any{"certificates": []any{sniCert("good-cert")}}))
	liveChain, liveKey, liveSerial := issue("live.example.com")
	fx.liveOld = liveSerial
	g.putCertText("live-cert", liveChain, liveKey)
	g.putJSON("listeners/live-tls", httpsListener(fx.livePort, map[string]any{"certificates": []any{sniCert("live-cert")}}))
	tlsProbe{port: fx.goodPort, roots: certPool(t, fx.ca)}.waitServes(t, "/", "up1", fx.goodSerial)
	tlsProbe{port: fx.livePort, roots: certPool(t, fx.ca)}.waitServes(t, "/", "up1", fx.liveOld)

	chain, key, _ := issue("garbled.example.com")
	g.putCertText("garbled", garble(chain), key)
	chain, _, _ = issue("mismatched.example.com")
	_, otherKey, _ := issue("other.example.com")
	g.putCertText("mismatched", chain, otherKey)
	newChain, _, _ := issue("live.example.com")
	_, wrongKey, _ := issue("wrong.example.com")
	g.putCertText("live-cert", newChain, wrongKey) // over the secret in use
	for name, secret := range map[string]string{"uses-garbled": "garbled", "uses-mismatched": "mismatched", "uses-missing": "absent"} {
		fx.unsent[name] = harness.FreePort(t)
		g.putJSON("listeners/"+name, httpsListener(fx.unsent[name], map[string]any{"certificates": []any{sniCert(secret)}}))
	}
	fx.want = map[string]fieldReason{
		"secrets/garbled":           {"tls_certificate.certificate_chain", `a PEM block does not parse`},
		"secrets/mismatched":        {"tls_certificate.private_key", `the private key does not match`},
		"secrets/live-cert":         {"tls_certificate.private_key", `the private key does not match`},
		"listeners/uses-garbled":    {"tls.certificates[0].secret", `secret "garbled" is rejected`},
		"listeners/uses-mismatched": {"tls.certificates[0].secret", `secret "mismatched" is rejected`},
		"listeners/uses-missing":    {"tls.certificates[0].secret", `secret "absent" not found`},
	}
	return fx
}

// garble spoils the base64 of a PEM certificate's first body line.
func garble(chain string) string {
	lines := strings.Split(chain, "\n")
	lines[1] = "*" + lines[1][1:20] + "*" + lines[1][21:]
	return strings.Join(lines, "\n")
}

func (fx *badInputFixture) check(g *tlsRig) {
	t := g.t
	t.Helper()
	harness.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		rej := g.rejections()
		for key, w := range fx.want {
			if !w.re().MatchString(rej[key]) {
				return fmt.Errorf("/debug/snapshot: %s rejected with %q, want %s", key, rej[key], w.re())
			}
		}
		for _, key := range []string{"secrets/good-cert", "listeners/good-tls", "listeners/live-tls", "listeners/main"} {
			if r, ok := rej[key]; ok {
				return fmt.Errorf("valid %s rejected: %s", key, r)
			}
		}
		return nil
	})
	harness.Eventually(t, 20*time.Second, 50*time.Millisecond, func() error {
		for key, w := range fx.want {
			st, err := rigStatus(g, key)
			if err != nil {
				return err
			}
			if st.State != storage.StatusRejected || !w.re().MatchString(st.Reason) {
				return fmt.Errorf("status/%s: %s %q, want rejected matching %s", key, st.State, st.Reason, w.re())
			}
		}
		if st, err := rigStatus(g, "secrets/live-cert"); err != nil || st.Serving == nil {
			return fmt.Errorf("status/secrets/live-cert %+v (%v): want it serving its last accepted version", st, err)
		}
		return nil
	})
	for key, w := range fx.want {
		kind, name, _ := strings.Cut(key, "/")
		out := g.ctl("get", kind, name)
		if !strings.Contains(out, "Rejected") || !strings.Contains(out, w.field) {
			t.Errorf("chanceryctl get %s %s does not show it rejected naming the field:\n%s", kind, name, out)
		}
	}

	// Everything else serves: main, the good https listener, and the
	// secret in use with its last accepted certificate.
	g.waitServing()
	roots := certPool(t, fx.ca)
	tlsProbe{port: fx.goodPort, roots: roots}.waitServes(t, "/", "up1", fx.goodSerial)
	for i := range 20 {
		ans, err := tlsProbe{port: fx.livePort, roots: roots}.get("/")
		if err != nil || ans.status != 200 || ans.leaf.SerialNumber.Cmp(fx.liveOld) != 0 {
			t.Errorf("live-tls request %d after the bad key: %d %v %s, want 200 with the last accepted certificate", i, ans.status, err, ans.serial())
		}
	}
	for name, port := range fx.unsent {
		if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
			c.Close()
			t.Errorf("listener %s (port %d) was sent to Envoy: it accepts connections", name, port)
		}
	}
}

// ctl runs chanceryctl against the rig's etcd and fails unless it exits 0.
func (g *tlsRig) ctl(args ...string) string {
	g.t.Helper()
	return harness.MustChanceryctl(g.t, append([]string{"--etcd-endpoints", g.etcd.Endpoint()}, args...)...)
}

// rigStatus reads the leader's status record of one object.
func rigStatus(g *tlsRig, key string) (storage.ObjectStatus, error) {
	var st storage.ObjectStatus
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := g.cli.Get(ctx, prefix+"/status/"+key)
	if err != nil {
		return st, err
	}
	if len(resp.Kvs) == 0 {
		return st, fmt.Errorf("no status/%s", key)
	}
	return st, json.Unmarshal(resp.Kvs[0].Value, &st)
}
