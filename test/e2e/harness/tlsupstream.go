package harness

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TLSServerOptions is the identity of a TLS upstream or echo server.
type TLSServerOptions struct {
	// Cert and Key are PEM files: the chain the server presents, leaf
	// first, and the leaf's private key.
	Cert, Key string
	// ClientCA, when set, is a PEM file of CAs: the server then requires
	// a client certificate they sign.
	ClientCA string
}

func (o TLSServerOptions) config() (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(o.Cert, o.Key)
	if err != nil {
		return nil, fmt.Errorf("load key pair %s: %w", o.Cert, err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	if o.ClientCA != "" {
		pool, err := CertPool(o.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// CertPool reads a PEM file of CA certificates.
func CertPool(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s holds no certificate", path)
	}
	return pool, nil
}

// PeerIdentity describes a client certificate as a server saw it:
// "subject=CN=x san=dns:a,uri:spiffe://..."; "none" without one.
func PeerIdentity(state tls.ConnectionState) string {
	if len(state.PeerCertificates) == 0 {
		return "none"
	}
	c := state.PeerCertificates[0]
	var sans []string
	for _, d := range c.DNSNames {
		sans = append(sans, "dns:"+d)
	}
	for _, u := range c.URIs {
		sans = append(sans, "uri:"+u.String())
	}
	return fmt.Sprintf("subject=%s san=%s", c.Subject.String(), strings.Join(sans, ","))
}

// TLSUpstream is an in-process HTTPS server standing in for a service
// endpoint that speaks TLS: it answers every request with 200 and a body
// "<name> client=<PeerIdentity>", so a test sees whether, and with which
// certificate, the client (Envoy) authenticated.
type TLSUpstream struct {
	t       testing.TB
	name    string
	port    int
	count   atomic.Int64
	srv     *http.Server
	done    chan struct{}
	mu      sync.Mutex
	refused []string // the first few handshake errors
}

// StartTLSUpstream starts a TLSUpstream on a free loopback port; it is
// closed when the test ends.
func StartTLSUpstream(t testing.TB, name string, opts TLSServerOptions) *TLSUpstream {
	t.Helper()
	cfg, err := opts.config()
	if err != nil {
		t.Fatalf("tls upstream %s: %v", name, err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tls upstream %s: %v", name, err)
	}
	u := &TLSUpstream{t: t, name: name, port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	u.srv = &http.Server{
		Handler:           http.HandlerFunc(u.answer),
		TLSConfig:         cfg,
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          newHandshakeLog(u.noteRefused),
	}
	go func() {
		defer close(u.done)
		if err := u.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("tls upstream %s: %v", name, err)
		}
	}()
	t.Cleanup(u.Close)
	return u
}

func (u *TLSUpstream) answer(w http.ResponseWriter, r *http.Request) {
	u.count.Add(1)
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Upstream", u.name)
	id := "none"
	if r.TLS != nil {
		id = PeerIdentity(*r.TLS)
	}
	// The client may have gone away; the request is counted all the same.
	_, _ = io.WriteString(w, u.name+" client="+id)
}

func (u *TLSUpstream) noteRefused(line string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.refused) < 10 {
		u.refused = append(u.refused, line)
	}
}

// Refused returns the first handshake errors the server logged, such as
// a client that presented no certificate.
func (u *TLSUpstream) Refused() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.refused...)
}

// Name returns the name the TLSUpstream answers with.
func (u *TLSUpstream) Name() string { return u.name }

// Addr returns the loopback host and port the TLSUpstream listens on.
func (u *TLSUpstream) Addr() (host string, port int) { return "127.0.0.1", u.port }

// Count returns how many requests the TLSUpstream has answered.
func (u *TLSUpstream) Count() int64 { return u.count.Load() }

// Close stops the server and drops open connections.
func (u *TLSUpstream) Close() {
	if u.srv == nil {
		return
	}
	if err := u.srv.Close(); err != nil {
		u.t.Errorf("close tls upstream %s: %v", u.name, err)
	}
	<-u.done
	u.srv = nil
}

// lineWriter passes each write (one log line) to a function.
type lineWriter func(string)

func (w lineWriter) Write(p []byte) (int, error) {
	w(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newHandshakeLog is an http.Server error log that keeps what it logs
// (handshake failures, mostly) for the test instead of printing it.
func newHandshakeLog(keep func(string)) *log.Logger {
	return log.New(lineWriter(keep), "", 0)
}

// TLSEcho is a raw TLS server standing in for a backend reached by TLS
// passthrough: after the handshake it writes one line,
// "<name> sni=<server name it saw> client=<PeerIdentity>\n", then echoes
// what it reads until the client closes.
type TLSEcho struct {
	t    testing.TB
	name string
	ln   net.Listener
	wg   sync.WaitGroup
	seen atomic.Int64
}

// StartTLSEcho starts a TLSEcho on a free loopback port; it is closed when
// the test ends.
func StartTLSEcho(t testing.TB, name string, opts TLSServerOptions) *TLSEcho {
	t.Helper()
	cfg, err := opts.config()
	if err != nil {
		t.Fatalf("tls echo %s: %v", name, err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatalf("tls echo %s: %v", name, err)
	}
	e := &TLSEcho{t: t, name: name, ln: ln}
	e.wg.Add(1)
	go e.accept()
	t.Cleanup(e.Close)
	return e
}

func (e *TLSEcho) accept() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			return // closed
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.serve(c.(*tls.Conn))
		}()
	}
}

func (e *TLSEcho) serve(c *tls.Conn) {
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return
	}
	if err := c.Handshake(); err != nil {
		return // the client gave up or did not trust us: its error is the test's
	}
	e.seen.Add(1)
	st := c.ConnectionState()
	if _, err := fmt.Fprintf(c, "%s sni=%s client=%s\n", e.name, st.ServerName, PeerIdentity(st)); err != nil {
		return
	}
	// Echo until the client closes; the copy's error is the close itself.
	_, _ = io.Copy(c, bufio.NewReader(c))
}

// Name returns the name the TLSEcho reports.
func (e *TLSEcho) Name() string { return e.name }

// Addr returns the loopback host and port the TLSEcho listens on.
func (e *TLSEcho) Addr() (host string, port int) {
	return "127.0.0.1", e.ln.Addr().(*net.TCPAddr).Port
}

// Handshakes returns how many TLS handshakes the TLSEcho completed.
func (e *TLSEcho) Handshakes() int64 { return e.seen.Load() }

// Close stops listening and waits for open connections to end (each ends
// within its 10s deadline).
func (e *TLSEcho) Close() {
	if err := e.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		e.t.Errorf("close tls echo %s: %v", e.name, err)
	}
	e.wg.Wait()
}
