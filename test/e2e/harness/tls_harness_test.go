package harness

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A TLSUpstream that requires client certificates answers with the
// client's identity, and refuses a client without one.
func TestTLSUpstreamShowsClientCertificate(t *testing.T) {
	serverCA, clientCA := NewCA(t, "server-ca"), NewCA(t, "client-ca")
	c, k := serverCA.Issue(t, CertOptions{DNSNames: []string{"web.internal"}})
	u := StartTLSUpstream(t, "secure", TLSServerOptions{Cert: c, Key: k, ClientCA: clientCA.CertPath()})
	cc, ck := clientCA.Issue(t, CertOptions{CommonName: "envoy", URIs: []string{"spiffe://corp/envoy"}})
	pair, err := tls.LoadX509KeyPair(cc, ck)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(serverCA.Certificate())
	get := func(certs []tls.Certificate) (string, error) {
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "web.internal", Certificates: certs}, DisableKeepAlives: true}
		defer tr.CloseIdleConnections()
		_, port := u.Addr()
		resp, err := (&http.Client{Transport: tr, Timeout: 3 * time.Second}).Get("https://127.0.0.1:" + strconv.Itoa(port) + "/")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	body, err := get([]tls.Certificate{pair})
	if want := "secure client=subject=CN=envoy san=uri:spiffe://corp/envoy"; err != nil || body != want {
		t.Errorf("with a client certificate: %q %v, want %q", body, err, want)
	}
	if body, err := get(nil); err == nil {
		t.Errorf("without a client certificate: %q, want a refused handshake", body)
	}
	if u.Count() != 1 {
		t.Errorf("count %d, want 1", u.Count())
	}
}

// A TLSEcho reports its name and the SNI, then echoes.
func TestTLSEchoReportsSNI(t *testing.T) {
	ca := NewCA(t, "echo-ca")
	c, k := ca.Issue(t, CertOptions{DNSNames: []string{"db.example.com"}})
	e := StartTLSEcho(t, "db", TLSServerOptions{Cert: c, Key: k})
	roots := x509.NewCertPool()
	roots.AddCert(ca.Certificate())
	_, port := e.Addr()
	conn, err := tls.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port), &tls.Config{RootCAs: roots, ServerName: "db.example.com"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(3 * time.Second)); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if want := "db sni=db.example.com client=none\n"; err != nil || line != want {
		t.Errorf("first line %q %v, want %q", line, err, want)
	}
	if _, err := io.WriteString(conn, "ping\n"); err != nil {
		t.Fatal(err)
	}
	if echo, err := r.ReadString('\n'); err != nil || strings.TrimSpace(echo) != "ping" {
		t.Errorf("echo %q %v", echo, err)
	}
	if got := ReadCert(t, c).SerialNumber; got.Cmp(conn.ConnectionState().PeerCertificates[0].SerialNumber) != 0 {
		t.Errorf("served serial %x, issued %x", conn.ConnectionState().PeerCertificates[0].SerialNumber, got)
	}
}
