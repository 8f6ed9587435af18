package main

import (
	"crypto/tls"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// The xDS TLS flags come from the command line or CHANCERY_XDS_*; a
// certificate needs its key and the other way round, and a client CA
// needs both.
func TestXDSTLSFlags(t *testing.T) {
	c, err := parseServeFlags(nil, envOf(map[string]string{
		"CHANCERY_XDS_TLS_CERT": "/c.pem", "CHANCERY_XDS_TLS_KEY": "/k.pem", "CHANCERY_XDS_CLIENT_CA": "/ca.pem",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.xdsTLSCert != "/c.pem" || c.xdsTLSKey != "/k.pem" || c.xdsClientCA != "/ca.pem" || !c.requiresClientCertificates() {
		t.Errorf("from the environment: %+v", c.xdsTLSFlags)
	}
	c, err = parseServeFlags([]string{"--xds-tls-cert", "/c.pem", "--xds-tls-key", "/k.pem"}, envOf(nil))
	if err != nil || c.requiresClientCertificates() {
		t.Errorf("TLS without a client CA: %v, client certificates required %v", err, c != nil && c.requiresClientCertificates())
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--xds-tls-cert", "/c.pem"}, "--xds-tls-cert needs --xds-tls-key"},
		{[]string{"--xds-tls-key", "/k.pem"}, "--xds-tls-key needs --xds-tls-cert"},
		{[]string{"--xds-client-ca", "/ca.pem"}, "--xds-client-ca needs --xds-tls-cert and --xds-tls-key"},
		{[]string{"--xds-client-ca", "/ca.pem", "--xds-tls-key", "/k.pem"}, "--xds-tls-key needs --xds-tls-cert"},
	} {
		if _, err := parseServeFlags(tc.args, envOf(nil)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// Files that do not load stop the start with an error that names the
// flags; on a running port, a change that does not load is logged once
// as a warning, counted, and the last good files stay in service; one
// that loads is logged and counted too. No line holds key material.
func TestXDSServerTLSLogsEachReloadOnce(t *testing.T) {
	ca := harness.NewCA(t, "xds-ca")
	good, goodKey := ca.Issue(t, harness.CertOptions{DNSNames: []string{"xds.test"}})
	wrong, wrongKey := ca.Issue(t, harness.CertOptions{DNSNames: []string{"xds.test"}, MismatchedKey: true})
	_, err := xdsServerTLS(&xdsTLSFlags{xdsTLSCert: wrong, xdsTLSKey: wrongKey}, zap.NewNop(), prometheus.NewRegistry())
	if err == nil || !strings.HasPrefix(err.Error(), "--xds-tls-cert, --xds-tls-key, --xds-client-ca: ") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("a mismatched pair at start: %v", err)
	}
	if opts, err := xdsServerTLS(&xdsTLSFlags{}, zap.NewNop(), prometheus.NewRegistry()); err != nil || opts != nil {
		t.Fatalf("without TLS flags: %v %v, want no options", opts, err)
	}

	dir := t.TempDir()
	cert, key := dir+"/xds.pem", dir+"/xds-key.pem"
	when := time.Now().Add(-time.Hour)
	install := func(src, dst string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
		when = when.Add(time.Second)
		if err := os.Chtimes(dst, when, when); err != nil {
			t.Fatal(err)
		}
	}
	install(good, cert)
	install(goodKey, key)
	core, logs := observer.New(zapcore.InfoLevel)
	reg := prometheus.NewRegistry()
	opts, err := xdsServerTLS(&xdsTLSFlags{xdsTLSCert: cert, xdsTLSKey: key}, zap.New(core), reg)
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(opts...)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }() // returns when stopped below
	defer g.Stop()
	handshake := func() {
		conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: ca.Pool(), ServerName: "xds.test", NextProtos: []string{"h2"}})
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		conn.Close()
	}
	handshake()
	install(wrong, cert)
	install(wrongKey, key)
	for range 3 {
		handshake() // the last good pair still serves
	}
	install(good, cert)
	install(goodKey, key)
	handshake()

	if n := logs.FilterMessageSnippet("do not load").Len(); n != 1 {
		t.Errorf("%d warnings of files that do not load, want 1", n)
	}
	if n := logs.FilterMessage("xDS TLS files reloaded").Len(); n != 1 {
		t.Errorf("%d reloads logged, want 1 (the good files back)", n)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, "PRIVATE KEY") {
				t.Errorf("log %q field %s holds key material", e.Message, k)
			}
		}
	}
	for result, want := range map[string]float64{"ok": 1, "error": 1} {
		if got := reloadCount(t, reg, result); got != want {
			t.Errorf("chancery_xds_tls_reloads_total{result=%q} %v, want %v", result, got, want)
		}
	}
}

// reloadCount is chancery_xds_tls_reloads_total{result}.
func reloadCount(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "chancery_xds_tls_reloads_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if m.GetLabel()[0].GetValue() == result {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no chancery_xds_tls_reloads_total{result=%q}", result)
	return 0
}
