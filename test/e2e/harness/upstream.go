package harness

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// Upstream is an in-process HTTP server standing in for a service endpoint: it
// answers every request with 200 and its name as the body, and counts requests.
type Upstream struct {
	t     testing.TB
	name  string
	addr  string // 127.0.0.1:port
	port  int
	count atomic.Int64
	srv   *http.Server
	done  chan struct{} // closed when the current Serve returns
}

// StartUpstream starts an Upstream on a free loopback port; it is closed when
// the test ends.
func StartUpstream(t testing.TB, name string) *Upstream {
	t.Helper()
	u := &Upstream{t: t, name: name}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream %s: %v", name, err)
	}
	u.addr, u.port = ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
	u.serve(ln)
	t.Cleanup(u.Close)
	return u
}

func (u *Upstream) serve(ln net.Listener) {
	u.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			u.count.Add(1)
			w.Header().Set("Content-Type", "text/plain")
			w.Header().Set("X-Upstream", u.name)
			if _, err := io.WriteString(w, u.name); err != nil {
				// The client went away; its request is counted all the same.
				return
			}
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	u.done = make(chan struct{})
	srv, done := u.srv, u.done
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			u.t.Errorf("upstream %s: %v", u.name, err)
		}
	}()
}

// Name returns the name the Upstream answers with.
func (u *Upstream) Name() string { return u.name }

// Addr returns the loopback host and port the Upstream listens on.
func (u *Upstream) Addr() (host string, port int) { return "127.0.0.1", u.port }

// URL returns http://127.0.0.1:port/.
func (u *Upstream) URL() string { return "http://" + u.addr + "/" }

// Count returns how many requests the Upstream has answered since it started.
func (u *Upstream) Count() int64 { return u.count.Load() }

// Close stops listening and drops open connections; a closed Upstream refuses
// connections until Restart.
func (u *Upstream) Close() {
	if u.srv == nil {
		return
	}
	if err := u.srv.Close(); err != nil {
		u.t.Errorf("close upstream %s: %v", u.name, err)
	}
	<-u.done
	u.srv = nil
}

// Restart listens again on the same port after Close.
func (u *Upstream) Restart() {
	u.t.Helper()
	if u.srv != nil {
		u.t.Fatalf("upstream %s: Restart while running", u.name)
	}
	var ln net.Listener
	Eventually(u.t, 5*time.Second, 50*time.Millisecond, func() error {
		var err error
		ln, err = net.Listen("tcp", u.addr)
		return err
	})
	u.serve(ln)
}
