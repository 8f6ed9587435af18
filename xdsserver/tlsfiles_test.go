package xdsserver_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/test/xdsclient"
	"github.com/chancery-xds/chancery/translator/output"
	"github.com/chancery-xds/chancery/xdsserver"
)

// xdsName is the DNS name of the test replicas' certificates.
const xdsName = "xds.test"

// tlsReplica publishes res on a new server that serves TLS from files, on
// loopback.
func tlsReplica(t *testing.T, res *output.Resources, files *xdsserver.TLSFiles, cfg xdsserver.Config) (*xdsserver.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv := xdsserver.New(ctx, cfg)
	if err := srv.Publish(res); err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(append(xdsserver.ServerOptions(xdsserver.GRPCConfig{}), grpc.Creds(files.Credentials()))...)
	srv.Register(g)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }() // returns when stopped below
	t.Cleanup(func() { g.Stop(); cancel() })
	return srv, l.Addr().String()
}

// clientTLS trusts serverCA for the replica's certificate and presents
// certs, if any.
func clientTLS(serverCA *harness.CA, certs ...tls.Certificate) credentials.TransportCredentials {
	return credentials.NewTLS(&tls.Config{RootCAs: serverCA.Pool(), ServerName: xdsName, Certificates: certs, MinVersion: tls.VersionTLS12})
}

// tlsFileSet is a certificate, key and client CA at fixed paths, replaced
// in place as an operator rotating them would.
type tlsFileSet struct {
	t              *testing.T
	cert, key, ca  string
	stamp          time.Time
	mu             sync.Mutex
	reloads, fails []error
}

func newTLSFileSet(t *testing.T) *tlsFileSet {
	dir := t.TempDir()
	return &tlsFileSet{t: t, cert: filepath.Join(dir, "xds.pem"), key: filepath.Join(dir, "xds-key.pem"), ca: filepath.Join(dir, "clients-ca.pem"),
		stamp: time.Now().Add(-time.Hour)}
}

// install copies src over dst with a modification time of its own: a
// rotation is seen whatever the file system's time resolution.
func (fs *tlsFileSet) install(src, dst string) {
	fs.t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		fs.t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		fs.t.Fatal(err)
	}
	fs.stamp = fs.stamp.Add(time.Second)
	if err := os.Chtimes(dst, fs.stamp, fs.stamp); err != nil {
		fs.t.Fatal(err)
	}
}

func (fs *tlsFileSet) pair(cert, key string) {
	fs.install(cert, fs.cert)
	fs.install(key, fs.key)
}

func (fs *tlsFileSet) onReload(err error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err != nil {
		fs.fails = append(fs.fails, err)
	} else {
		fs.reloads = append(fs.reloads, err)
	}
}

// told returns how many reloads and failed reloads were told.
func (fs *tlsFileSet) told() (reloads, fails int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.reloads), len(fs.fails)
}

func (fs *tlsFileSet) lastFailure() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.fails[len(fs.fails)-1]
}

// servedSerial makes one TLS handshake with the replica and returns the
// serial of the certificate it presented.
func servedSerial(t *testing.T, addr string, roots *x509.CertPool) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: xdsName, NextProtos: []string{"h2"}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS handshake with the replica: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber
}

// A certificate and key replaced on disk are served from the next
// handshake on, without a restart; files that do not load (a key of
// another certificate, an expired certificate, a missing key) leave the
// last good pair in service and are told once, without their content;
// good files after them are served again.
func TestTLSFilesAreReadAgainWhenTheyChange(t *testing.T) {
	ca := harness.NewCA(t, "xds-ca")
	issue := func(opts harness.CertOptions) (string, string, *big.Int) {
		opts.DNSNames = []string{xdsName}
		c, k := ca.Issue(t, opts)
		return c, k, harness.ReadCert(t, c).SerialNumber
	}
	fs := newTLSFileSet(t)
	certA, keyA, serialA := issue(harness.CertOptions{})
	fs.pair(certA, keyA)
	files, err := xdsserver.LoadTLSFiles(xdsserver.TLSFilesConfig{CertFile: fs.cert, KeyFile: fs.key, OnReload: fs.onReload})
	if err != nil {
		t.Fatal(err)
	}
	if files.RequiresClientCertificates() {
		t.Error("client certificates required without a client CA")
	}
	_, addr := tlsReplica(t, translate(t, 1, nil), files, xdsserver.Config{})
	roots := ca.Pool()
	if got := servedSerial(t, addr, roots); got.Cmp(serialA) != 0 {
		t.Fatalf("serving serial %v, want the first certificate's %v", got, serialA)
	}
	c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "n", Group: "edge", TLS: clientTLS(ca)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if r, open := <-c.Responses(); !open {
		t.Fatalf("no response over TLS: %v", c.Err())
	} else if len(r.Resources) == 0 {
		t.Errorf("first response over TLS holds no %s", r.TypeURL)
	}

	certB, keyB, serialB := issue(harness.CertOptions{})
	fs.pair(certB, keyB)
	if got := servedSerial(t, addr, roots); got.Cmp(serialB) != 0 {
		t.Fatalf("after the rotation: serving serial %v, want the new certificate's %v", got, serialB)
	}
	if reloads, fails := fs.told(); reloads != 1 || fails != 0 {
		t.Fatalf("told %d reloads and %d failures, want 1 and 0", reloads, fails)
	}

	certC, keyC, _ := issue(harness.CertOptions{MismatchedKey: true})
	certD, keyD, _ := issue(harness.CertOptions{Expired: true})
	keyText, err := os.ReadFile(keyC)
	if err != nil {
		t.Fatal(err)
	}
	for i, bad := range []struct {
		name      string
		install   func()
		mentioned string
	}{
		{"a key of another certificate", func() { fs.pair(certC, keyC) }, "private key does not match public key"},
		{"an expired certificate", func() { fs.pair(certD, keyD) }, "expired at"},
		{"a missing key", func() {
			if err := os.Remove(fs.key); err != nil {
				t.Fatal(err)
			}
		}, fs.key},
	} {
		bad.install()
		for range 3 {
			if got := servedSerial(t, addr, roots); got.Cmp(serialB) != 0 {
				t.Fatalf("with %s: serving serial %v, want the last good one %v", bad.name, got, serialB)
			}
		}
		reloads, fails := fs.told()
		if reloads != 1 || fails != i+1 {
			t.Fatalf("with %s: told %d reloads and %d failures, want 1 and %d (once per version of the files)", bad.name, reloads, fails, i+1)
		}
		msg := fs.lastFailure().Error()
		if !strings.Contains(msg, bad.mentioned) || strings.Contains(msg, "PRIVATE KEY") || strings.Contains(msg, strings.Split(string(keyText), "\n")[1][:20]) {
			t.Errorf("with %s: told %q, want it to say %q and hold nothing of the files", bad.name, msg, bad.mentioned)
		}
	}

	certE, keyE, serialE := issue(harness.CertOptions{})
	fs.pair(certE, keyE)
	if got := servedSerial(t, addr, roots); got.Cmp(serialE) != 0 {
		t.Fatalf("after good files again: serving serial %v, want %v", got, serialE)
	}
	if reloads, _ := fs.told(); reloads != 2 {
		t.Errorf("told %d reloads, want 2", reloads)
	}
}

// A replaced client CA bundle decides from the next handshake on which
// client certificates are accepted.
func TestTLSClientCAIsReadAgainWhenItChanges(t *testing.T) {
	serverCA, oldClients, newClients := harness.NewCA(t, "xds-ca"), harness.NewCA(t, "old-clients"), harness.NewCA(t, "new-clients")
	fs := newTLSFileSet(t)
	c, k := serverCA.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}, Usage: harness.ServerOnly})
	fs.pair(c, k)
	fs.install(oldClients.CertPath(), fs.ca)
	files, err := xdsserver.LoadTLSFiles(xdsserver.TLSFilesConfig{CertFile: fs.cert, KeyFile: fs.key, ClientCAFile: fs.ca, OnReload: fs.onReload})
	if err != nil {
		t.Fatal(err)
	}
	if !files.RequiresClientCertificates() {
		t.Fatal("no client certificates required with a client CA")
	}
	_, addr := tlsReplica(t, translate(t, 1, nil), files, xdsserver.Config{ClientCertGroups: true})
	edge := harness.CertOptions{CommonName: "edge-1", URIs: []string{"spiffe://corp/group/edge"}, Usage: harness.ClientOnly}
	oc, ok := oldClients.Issue(t, edge)
	nc, nk := newClients.Issue(t, edge)
	oldPair, newPair := harness.LoadPair(t, oc, ok), harness.LoadPair(t, nc, nk)
	syncs := func(pair tls.Certificate) error {
		c, err := xdsclient.Dial(addr, xdsclient.Options{NodeID: "edge-1", Group: "edge", TLS: clientTLS(serverCA, pair)})
		if err != nil {
			return err
		}
		defer c.Close()
		if _, open := <-c.Responses(); !open {
			return c.Err()
		}
		return nil
	}
	if err := syncs(oldPair); err != nil {
		t.Fatalf("a client of the old CA before the change: %v", err)
	}
	if err := syncs(newPair); err == nil {
		t.Fatal("a client of the new CA was served before the change")
	}
	fs.install(newClients.CertPath(), fs.ca)
	if err := syncs(newPair); err != nil {
		t.Fatalf("a client of the new CA after the change: %v", err)
	}
	if err := syncs(oldPair); err == nil {
		t.Fatal("a client of the old CA was still served after the change")
	}
	if reloads, fails := fs.told(); reloads != 1 || fails != 0 {
		t.Errorf("told %d reloads and %d failures, want 1 and 0", reloads, fails)
	}
}

// Files that do not load at start are an error that names them, and says
// nothing of what they hold.
func TestLoadTLSFilesRefusesBadFiles(t *testing.T) {
	ca := harness.NewCA(t, "xds-ca")
	good, goodKey := ca.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}})
	wrong, wrongKey := ca.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}, MismatchedKey: true})
	expired, expiredKey := ca.Issue(t, harness.CertOptions{DNSNames: []string{xdsName}, Expired: true})
	notPEM := filepath.Join(t.TempDir(), "not-a-bundle.pem")
	if err := os.WriteFile(notPEM, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  xdsserver.TLSFilesConfig
		want string
	}{
		{"no key", xdsserver.TLSFilesConfig{CertFile: good}, "both a certificate and a key"},
		{"no certificate", xdsserver.TLSFilesConfig{KeyFile: goodKey}, "both a certificate and a key"},
		{"a key of another certificate", xdsserver.TLSFilesConfig{CertFile: wrong, KeyFile: wrongKey}, "does not match"},
		{"an expired certificate", xdsserver.TLSFilesConfig{CertFile: expired, KeyFile: expiredKey}, "expired at"},
		{"a missing file", xdsserver.TLSFilesConfig{CertFile: good, KeyFile: goodKey + ".gone"}, goodKey + ".gone"},
		{"a client CA bundle of no certificate", xdsserver.TLSFilesConfig{CertFile: good, KeyFile: goodKey, ClientCAFile: notPEM}, "holds no PEM certificate"},
		{"a client CA bundle swapped for the key", xdsserver.TLSFilesConfig{CertFile: good, KeyFile: goodKey, ClientCAFile: goodKey}, "holds no PEM certificate"},
	} {
		_, err := xdsserver.LoadTLSFiles(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: %v, want an error that says %q", tc.name, err, tc.want)
		}
	}
}
