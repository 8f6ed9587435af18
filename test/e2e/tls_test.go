package e2e

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// tlsRig is a rig (etcd, one replica, one delta-ADS Envoy of group edge
// serving web on the http listener main) that remembers every private key
// it writes, so that a test can look for them where they must not be.
type tlsRig struct {
	*rig
	keys map[string][]string // secret name -> every private key PEM written to it
}

// newTLSRig is newRig with extra arguments for the replica.
func newTLSRig(t *testing.T, replicaArgs ...string) *tlsRig {
	t.Helper()
	g := &rig{t: t, etcd: harness.StartEtcd(t)}
	g.cli = g.etcd.Client(t)
	g.r = harness.StartChancery(t, harness.ChanceryOptions{ReplicaID: "a", EtcdEndpoints: []string{g.etcd.Endpoint()}, ExtraArgs: replicaArgs})
	up := harness.StartUpstream(t, "up1")
	host, port := up.Addr()
	g.port = harness.FreePort(t)
	g.put("services/web", `{"protocol":"http"}`)
	g.put("endpoints/web/up1", fmt.Sprintf(`{"address":%q,"port":%d}`, host, port))
	g.put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`)
	g.put("listeners/main", fmt.Sprintf(`{"address":"127.0.0.1","port":%d,"protocol":"http","route_table":"web","groups":["edge"]}`, g.port))
	g.envoy = harness.StartEnvoy(t, harness.EnvoyOptions{NodeID: "envoy-1", Group: "edge", XDSAddresses: []string{g.r.XDSAddress()}, Delta: true})
	g.waitServing()
	return &tlsRig{rig: g, keys: map[string][]string{}}
}

// putJSON writes key with spec marshalled.
func (g *tlsRig) putJSON(key string, spec any) {
	g.t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		g.t.Fatal(err)
	}
	g.put(key, string(b))
}

// certSecret is a tls_certificate secret of a chain and a key given as PEM text.
func certSecret(chain, key string) map[string]any {
	return map[string]any{"tls_certificate": map[string]any{"certificate_chain": chain, "private_key": key}}
}

// putCertText writes secrets/<name> as a tls_certificate of PEM texts.
func (g *tlsRig) putCertText(name, chain, key string) {
	g.t.Helper()
	g.keys[name] = append(g.keys[name], key)
	g.putJSON("secrets/"+name, certSecret(chain, key))
}

// putCert writes secrets/<name> from PEM files.
func (g *tlsRig) putCert(name, certPath, keyPath string) {
	g.t.Helper()
	g.putCertText(name, readFile(g.t, certPath), readFile(g.t, keyPath))
}

// putCA writes secrets/<name> as a validation_context of the CA.
func (g *tlsRig) putCA(name string, ca *harness.CA, sans ...string) {
	g.t.Helper()
	vc := map[string]any{"ca_bundle": readFile(g.t, ca.CertPath())}
	if len(sans) > 0 {
		vc["subject_alt_names"] = sans
	}
	g.putJSON("secrets/"+name, map[string]any{"validation_context": vc})
}

// httpsListener is an https listener of group edge on 127.0.0.1:port
// routed by the route table web.
func httpsListener(port int, tlsSpec map[string]any) map[string]any {
	return map[string]any{"address": "127.0.0.1", "port": port, "protocol": "https", "route_table": "web", "groups": []string{"edge"}, "tls": tlsSpec}
}

// sniCert is one entry of tls.certificates.
func sniCert(secret string, names ...string) map[string]any {
	c := map[string]any{"secret": secret}
	if len(names) > 0 {
		c["server_names"] = names
	}
	return c
}

func certPool(t *testing.T, cas ...*harness.CA) *x509.CertPool {
	t.Helper()
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca.Certificate())
	}
	return pool
}

func serialOf(t *testing.T, certPath string) *big.Int {
	t.Helper()
	return harness.ReadCert(t, certPath).SerialNumber
}

// tlsProbe makes requests to an Envoy port over a new TLS connection each.
type tlsProbe struct {
	port       int
	serverName string           // the SNI sent; "" sends none
	roots      *x509.CertPool   // the chain served must verify against them
	client     *tls.Certificate // presented when the server asks, if set
}

// tlsAnswer is what one request saw: the status and body, and the leaf
// certificate the server presented.
type tlsAnswer struct {
	status int
	body   string
	leaf   *x509.Certificate
}

// serial describes the served certificate for a message.
func (a tlsAnswer) serial() string {
	if a.leaf == nil {
		return "no certificate"
	}
	return fmt.Sprintf("serial %x", a.leaf.SerialNumber)
}

// config verifies the chain against roots but not the name, so that a
// test can see which certificate a server chose for a name it lacks;
// tests compare the leaf's serial, and VerifyHostname where it applies.
func (p tlsProbe) config() *tls.Config {
	cfg := &tls.Config{
		ServerName:         p.serverName,
		InsecureSkipVerify: true, // the chain is verified below, without the name
		MinVersion:         tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter})
			return err
		},
	}
	if p.client != nil {
		// Sent whatever CAs the server names: a certificate of another CA
		// must reach Envoy's verification, not be withheld by the client.
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return p.client, nil }
	}
	return cfg
}

func (p tlsProbe) get(path string) (tlsAnswer, error) {
	addr := fmt.Sprintf("127.0.0.1:%d", p.port)
	host := p.serverName
	if host == "" {
		host = "127.0.0.1" // Go sends no SNI for an IP address
	}
	tr := &http.Transport{
		TLSClientConfig:   p.config(),
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 3 * time.Second}
	resp, err := client.Get("https://" + net.JoinHostPort(host, strconv.Itoa(p.port)) + path)
	if err != nil {
		return tlsAnswer{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	ans := tlsAnswer{status: resp.StatusCode, body: string(b)}
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		ans.leaf = resp.TLS.PeerCertificates[0]
	}
	return ans, err
}

// waitServes waits until path answers 200 with body over a handshake that
// presented the certificate of serial.
func (p tlsProbe) waitServes(t *testing.T, path, body string, serial *big.Int) tlsAnswer {
	t.Helper()
	var ans tlsAnswer
	harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
		var err error
		ans, err = p.get(path)
		switch {
		case err != nil:
			return fmt.Errorf("GET %s with SNI %q: %w", path, p.serverName, err)
		case ans.status != 200 || !strings.Contains(ans.body, body):
			return fmt.Errorf("GET %s with SNI %q: %d %q, want 200 %q", path, p.serverName, ans.status, ans.body, body)
		case ans.leaf.SerialNumber.Cmp(serial) != 0:
			return fmt.Errorf("SNI %q: served certificate %s (serial %x), want serial %x", p.serverName, ans.leaf.Subject, ans.leaf.SerialNumber, serial)
		}
		return nil
	})
	return ans
}

// waitHTTP waits until a plain request to main answers status with body.
func (g *tlsRig) waitHTTP(path string, status int, body string) {
	g.t.Helper()
	harness.Eventually(g.t, 30*time.Second, 10*time.Millisecond, func() error {
		st, b, err := harness.HTTPGet(fmt.Sprintf("http://127.0.0.1:%d%s", g.port, path), "")
		if err != nil || st != status || !strings.Contains(b, body) {
			return fmt.Errorf("GET %s: %d %q %v, want %d %q", path, st, b, err, status, body)
		}
		return nil
	})
}

// envoyStats returns the counters of Envoy's /stats whose names match re.
func envoyStats(t *testing.T, e *harness.Envoy, re string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	sc := bufio.NewScanner(strings.NewReader(string(e.Get(t, "/stats?filter="+url.QueryEscape(re)))))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); ok && err == nil {
			out[k] = n
		}
	}
	return out
}

// checkNoNACK fails unless Envoy refused no listener, cluster, route or
// secret update and the replica counted no NACK.
func (g *tlsRig) checkNoNACK() {
	g.t.Helper()
	g.checkEnvoyAccepted(nil)
	for name, v := range envoyStats(g.t, g.envoy, `update_rejected$`) {
		if v != 0 {
			g.t.Errorf("Envoy %s = %d, want 0", name, v)
		}
	}
	if len(envoyStats(g.t, g.envoy, `^sds\..*update_success$`)) == 0 {
		g.t.Errorf("Envoy has no sds.*.update_success stat: did any secret arrive over SDS?")
	}
}

// curlBody runs curl against an Envoy port as an operator would, the name
// resolved to 127.0.0.1, and returns its output, verbose lines included.
func curlBody(t *testing.T, caPath, name string, port int) (out, verbose string, err error) {
	t.Helper()
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "curl", "-sS", "-v", "--max-time", "5", "--cacert", caPath,
		"--resolve", fmt.Sprintf("%s:%d:127.0.0.1", name, port), "-w", "\n%{http_code}",
		fmt.Sprintf("https://%s:%d/", name, port))
	cmd.Env = append(os.Environ(), "NO_PROXY=*")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

// An https listener with a certificate per server name and a default:
// each name gets its own certificate, any other name and no SNI at all the
// default; curl, verifying the name against the CA, gets 200.
func TestTLSHTTPSBySNI(t *testing.T) {
	g := newTLSRig(t)
	fx := setupSNI(g)
	fx.check(g)
	for _, name := range []string{"a.example.com", "b.example.com"} {
		out, verbose, err := curlBody(t, fx.ca.CertPath(), name, fx.port)
		if err != nil || !strings.HasSuffix(out, "\n200") || !strings.HasPrefix(out, "up1") {
			t.Errorf("curl https://%s:%d/: %v, output %q\n%s", name, fx.port, err, out, verbose)
		}
		if !strings.Contains(verbose, "CN="+name) {
			t.Errorf("curl https://%s: the certificate curl saw is not %s's:\n%s", name, name, verbose)
		}
	}
	g.checkNoNACK()
	g.checkServerNoLeak()
}

// sniFixture is the https listener web-tls with the certificates of
// a.example.com, b.example.com and a default.
type sniFixture struct {
	ca      *harness.CA
	port    int
	serials map[string]*big.Int // server name -> serial of its certificate
}

func setupSNI(g *tlsRig) *sniFixture {
	t := g.t
	t.Helper()
	fx := &sniFixture{ca: harness.NewCA(t, "edge-ca"), port: harness.FreePort(t), serials: map[string]*big.Int{}}
	for name, secret := range map[string]string{"a.example.com": "a-cert", "b.example.com": "b-cert", "default.example.com": "default-cert"} {
		c, k := fx.ca.Issue(t, harness.CertOptions{DNSNames: []string{name}})
		fx.serials[name] = serialOf(t, c)
		g.putCert(secret, c, k)
	}
	g.putJSON("listeners/web-tls", httpsListener(fx.port, map[string]any{"certificates": []any{
		sniCert("a-cert", "a.example.com"), sniCert("b-cert", "b.example.com"), sniCert("default-cert"),
	}}))
	return fx
}

func (fx *sniFixture) check(g *tlsRig) {
	t := g.t
	t.Helper()
	roots := certPool(t, fx.ca)
	for sni, want := range map[string]string{"a.example.com": "a.example.com", "b.example.com": "b.example.com",
		"unknown.example.com": "default.example.com", "": "default.example.com"} {
		ans := tlsProbe{port: fx.port, serverName: sni, roots: roots}.waitServes(t, "/", "up1", fx.serials[want])
		if err := ans.leaf.VerifyHostname(want); err != nil {
			t.Errorf("SNI %q: %v", sni, err)
		}
		t.Logf("SNI %q: 200 from up1 with the certificate of %s (serial %x)", sni, want, ans.leaf.SerialNumber)
	}
}

// Edge mTLS: with client_ca set, a client without a certificate, or with
// one another CA signed, is refused; one the client CA signed gets 200.
func TestTLSEdgeMTLS(t *testing.T) {
	g := newTLSRig(t)
	fx := setupEdgeMTLS(g)
	fx.check(g)
	g.checkNoNACK()
	g.checkServerNoLeak()
}

type edgeMTLSFixture struct {
	serverCA, rogueCA *harness.CA
	port              int
	serial            *big.Int
	alice, mallory    tls.Certificate
}

func setupEdgeMTLS(g *tlsRig) *edgeMTLSFixture {
	t := g.t
	t.Helper()
	fx := &edgeMTLSFixture{serverCA: harness.NewCA(t, "mtls-server-ca"), rogueCA: harness.NewCA(t, "rogue-clients-ca"), port: harness.FreePort(t)}
	clientsCA := harness.NewCA(t, "clients-ca")
	c, k := fx.serverCA.Issue(t, harness.CertOptions{DNSNames: []string{"mtls.example.com"}})
	fx.serial = serialOf(t, c)
	g.putCert("mtls-cert", c, k)
	g.putCA("clients-ca", clientsCA)
	fx.alice = loadPair(t, clientsCA, harness.CertOptions{CommonName: "alice", URIs: []string{"spiffe://corp/alice"}})
	fx.mallory = loadPair(t, fx.rogueCA, harness.CertOptions{CommonName: "mallory"})
	g.putJSON("listeners/mtls", httpsListener(fx.port, map[string]any{
		"certificates": []any{sniCert("mtls-cert")}, "client_ca": "clients-ca",
	}))
	return fx
}

func loadPair(t *testing.T, ca *harness.CA, opts harness.CertOptions) tls.Certificate {
	t.Helper()
	c, k := ca.Issue(t, opts)
	pair, err := tls.LoadX509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

func (fx *edgeMTLSFixture) check(g *tlsRig) {
	t := g.t
	t.Helper()
	roots := certPool(t, fx.serverCA)
	tlsProbe{port: fx.port, serverName: "mtls.example.com", roots: roots, client: &fx.alice}.waitServes(t, "/", "up1", fx.serial)
	for _, c := range []struct {
		who    string
		client *tls.Certificate
	}{{"no client certificate", nil}, {"a certificate of another CA", &fx.mallory}} {
		for i := range 5 {
			ans, err := tlsProbe{port: fx.port, serverName: "mtls.example.com", roots: roots, client: c.client}.get("/")
			if err == nil {
				t.Errorf("request %d with %s: %d %q, want the handshake refused", i, c.who, ans.status, ans.body)
			} else if i == 0 {
				t.Logf("with %s: %v", c.who, err)
			}
		}
	}
	noCert := sumStats(envoyStats(t, g.envoy, `ssl\.fail_verify_no_cert$`))
	badCert := sumStats(envoyStats(t, g.envoy, `ssl\.fail_verify_error$`))
	if noCert < 5 || badCert < 5 {
		t.Errorf("Envoy counted %d handshakes without a client certificate and %d with an unverified one, want 5 each", noCert, badCert)
	}
	for i := range 5 {
		if ans, err := (tlsProbe{port: fx.port, serverName: "mtls.example.com", roots: roots, client: &fx.alice}).get("/"); err != nil || ans.status != 200 {
			t.Errorf("request %d with alice's certificate: %d %v", i, ans.status, err)
		}
	}
}

func sumStats(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Upstream mTLS: Envoy verifies the endpoint's certificate with the
// service's CA and presents its client certificate, which the endpoint
// requires and echoes; without the client certificate, or with a CA that
// does not sign the endpoint, requests fail with 503 and none reaches it.
func TestTLSUpstreamMTLS(t *testing.T) {
	g := newTLSRig(t)
	fx := setupUpstreamMTLS(g)
	fx.check(g)
	g.checkNoNACK()
	g.checkServerNoLeak()
}

type upstreamFixture struct {
	up *harness.TLSUpstream
}

// wantClient is how the upstream describes Envoy's client certificate.
const wantClient = "secure client=subject=CN=envoy-edge san=uri:spiffe://corp/envoy/edge"

func setupUpstreamMTLS(g *tlsRig) *upstreamFixture {
	t := g.t
	t.Helper()
	upCA, meshCA, rogueCA := harness.NewCA(t, "upstream-ca"), harness.NewCA(t, "mesh-ca"), harness.NewCA(t, "rogue-upstream-ca")
	c, k := upCA.Issue(t, harness.CertOptions{DNSNames: []string{"web.internal"}})
	fx := &upstreamFixture{up: harness.StartTLSUpstream(t, "secure", harness.TLSServerOptions{Cert: c, Key: k, ClientCA: meshCA.CertPath()})}
	ec, ek := meshCA.Issue(t, harness.CertOptions{CommonName: "envoy-edge", URIs: []string{"spiffe://corp/envoy/edge"}})
	g.putCA("upstream-ca", upCA)
	g.putCA("rogue-ca", rogueCA)
	g.putCert("envoy-client", ec, ek)
	g.putSecure(map[string]any{"sni": "web.internal", "ca": "upstream-ca", "client_certificate": "envoy-client"})
	host, port := fx.up.Addr()
	g.putJSON("endpoints/secure/s1", map[string]any{"address": host, "port": port})
	g.put("routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[`+
		`{"match":{"prefix":"/secure"},"service":"secure"},{"match":{"prefix":"/"},"service":"web"}]}]}`)
	return fx
}

func (g *tlsRig) putSecure(tlsSpec map[string]any) {
	g.t.Helper()
	g.putJSON("services/secure", map[string]any{"protocol": "http", "tls": tlsSpec})
}

func (fx *upstreamFixture) check(g *tlsRig) {
	t := g.t
	t.Helper()
	g.waitHTTP("/secure", 200, wantClient)
	t.Logf("through Envoy: %q", wantClient)

	g.putSecure(map[string]any{"sni": "web.internal", "ca": "upstream-ca"})
	fx.wait503(g, "without a client certificate")
	g.putSecure(map[string]any{"sni": "web.internal", "ca": "upstream-ca", "client_certificate": "envoy-client"})
	g.waitHTTP("/secure", 200, wantClient)
	g.putSecure(map[string]any{"sni": "web.internal", "ca": "rogue-ca", "client_certificate": "envoy-client"})
	fx.wait503(g, "with a CA that does not sign the endpoint")
	g.putSecure(map[string]any{"sni": "web.internal", "ca": "upstream-ca", "client_certificate": "envoy-client"})
	g.waitHTTP("/secure", 200, wantClient)
	// Each change above replaced the cluster; Envoy warms a new cluster
	// until it receives its endpoints again. Endpoints not resent make it
	// wait for its initial fetch timeout (15s) and every change late.
	if v, _ := g.envoy.Stat(t, "cluster.secure.init_fetch_timeout"); v != 0 {
		t.Errorf("cluster.secure.init_fetch_timeout = %d: after a service change Envoy waited 15s for the cluster's endpoints, which were not resent", v)
	}
}

// wait503 waits until /secure answers 503, then checks that 20 more
// requests fail too and none reaches the endpoint.
func (fx *upstreamFixture) wait503(g *tlsRig, what string) {
	t := g.t
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/secure", g.port)
	harness.Eventually(t, 30*time.Second, 10*time.Millisecond, func() error {
		if st, b, err := harness.HTTPGet(url, ""); err != nil || st != 503 {
			return fmt.Errorf("%s: GET /secure: %d %q %v, want 503", what, st, b, err)
		}
		return nil
	})
	before := fx.up.Count()
	var body string
	for i := range 20 {
		st, b, err := harness.HTTPGet(url, "")
		if err != nil || st != 503 {
			t.Errorf("%s: request %d: %d %q %v, want 503", what, i, st, b, err)
		}
		body = b
	}
	if n := fx.up.Count() - before; n != 0 {
		t.Errorf("%s: %d requests reached the endpoint", what, n)
	}
	t.Logf("%s: 503 %q", what, body)
}

// TLS passthrough by SNI: a tcp listener sends each server name's
// connections, still encrypted, to its service; the client sees the
// backend's own certificate (Envoy holds none for these names) and the
// backend sees the SNI; another name goes to the default service.
func TestTLSPassthroughBySNI(t *testing.T) {
	g := newTLSRig(t)
	fx := setupPassthrough(g)
	fx.check(g)
	g.checkEnvoyAccepted(nil)
	g.checkServerNoLeak()
}

type passthroughFixture struct {
	ca      *harness.CA
	port    int
	serials map[string]*big.Int // backend -> serial of its certificate
}

func setupPassthrough(g *tlsRig) *passthroughFixture {
	t := g.t
	t.Helper()
	fx := &passthroughFixture{ca: harness.NewCA(t, "backend-ca"), port: harness.FreePort(t), serials: map[string]*big.Int{}}
	for _, n := range []string{"x", "y", "z"} {
		c, k := fx.ca.Issue(t, harness.CertOptions{DNSNames: []string{n + ".example.com"}})
		fx.serials[n] = serialOf(t, c)
		e := harness.StartTLSEcho(t, n, harness.TLSServerOptions{Cert: c, Key: k})
		host, port := e.Addr()
		g.put("services/db-"+n, `{"protocol":"tcp"}`)
		g.putJSON("endpoints/db-"+n+"/e1", map[string]any{"address": host, "port": port})
	}
	g.putJSON("listeners/pass", map[string]any{"address": "127.0.0.1", "port": fx.port, "protocol": "tcp", "groups": []string{"edge"},
		"service": "db-z", "tls_passthrough": []any{
			map[string]any{"server_names": []string{"x.example.com"}, "service": "db-x"},
			map[string]any{"server_names": []string{"y.example.com"}, "service": "db-y"},
		}})
	return fx
}

func (fx *passthroughFixture) check(g *tlsRig) {
	t := g.t
	t.Helper()
	roots := certPool(t, fx.ca)
	for sni, backend := range map[string]string{"x.example.com": "x", "y.example.com": "y", "other.example.com": "z"} {
		var line string
		harness.Eventually(t, 20*time.Second, 10*time.Millisecond, func() error {
			var leaf *x509.Certificate
			var err error
			line, leaf, err = tlsEcho(fx.port, sni, roots)
			switch {
			case err != nil:
				return fmt.Errorf("SNI %s: %w", sni, err)
			case leaf.SerialNumber.Cmp(fx.serials[backend]) != 0:
				return fmt.Errorf("SNI %s: certificate %s (serial %x), want backend %s's", sni, leaf.Subject, leaf.SerialNumber, backend)
			case line != backend+" sni="+sni+" client=none":
				return fmt.Errorf("SNI %s: backend said %q, want backend %s", sni, line, backend)
			}
			return nil
		})
		t.Logf("SNI %s: the client saw backend %s's certificate; the backend said %q", sni, backend, line)
	}
}

// tlsEcho connects to a passthrough port with the given SNI, reads the
// backend's line, checks that it echoes, and returns the line and the
// certificate the handshake presented.
func tlsEcho(port int, sni string, roots *x509.CertPool) (string, *x509.Certificate, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 2 * time.Second}, Config: tlsProbe{serverName: sni, roots: roots}.config()}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return "", nil, err
	}
	defer c.Close()
	conn := c.(*tls.Conn)
	if err := conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		return "", nil, err
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", nil, fmt.Errorf("read the backend's line: %w", err)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		return "", nil, err
	}
	if echo, err := r.ReadString('\n'); err != nil || echo != "ping\n" {
		return "", nil, fmt.Errorf("echo: %q %v", echo, err)
	}
	return strings.TrimSuffix(line, "\n"), conn.ConnectionState().PeerCertificates[0], nil
}
