package harness

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// maxFlips bounds a flapping HealthUpstream: it stops toggling by itself.
const maxFlips = 10_000

// HealthUpstream is an in-process HTTP endpoint whose health the test
// controls. GET on its health path answers 200 while it says healthy and
// 503 while it does not; every other path answers 200 with its name, so
// traffic sent to it succeeds whatever its health says (an endpoint that
// asks to be taken out of rotation, not a dead one).
type HealthUpstream struct {
	t       testing.TB
	name    string
	path    string
	port    int
	healthy atomic.Bool
	checks  atomic.Int64 // requests on the health path
	srv     *http.Server
	done    chan struct{} // closed when Serve returns

	flapStop chan struct{} // closed to end the flapping loop
	flapDone chan struct{} // closed when it has ended

	mu    sync.Mutex
	flips []Flip
}

// Flip is one change of a HealthUpstream's health answer.
type Flip struct {
	At      time.Time
	Healthy bool // the answer from At on
}

// StartHealthUpstream starts a healthy HealthUpstream on a free loopback
// port, its health answered on path; it is closed when the test ends.
func StartHealthUpstream(t testing.TB, name, path string) *HealthUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("upstream %s: %v", name, err)
	}
	u := &HealthUpstream{t: t, name: name, path: path, port: ln.Addr().(*net.TCPAddr).Port, done: make(chan struct{})}
	u.healthy.Store(true)
	u.srv = &http.Server{Handler: http.HandlerFunc(u.serveHTTP), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		defer close(u.done)
		if err := u.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("upstream %s: %v", name, err)
		}
	}()
	t.Cleanup(u.close)
	return u
}

func (u *HealthUpstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Upstream", u.name)
	if r.URL.Path == u.path {
		u.checks.Add(1)
		if !u.healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}
	if _, err := io.WriteString(w, u.name); err != nil {
		return // the client went away
	}
}

// Name returns the name the upstream answers with.
func (u *HealthUpstream) Name() string { return u.name }

// Addr returns the loopback host and port the upstream listens on.
func (u *HealthUpstream) Addr() (host string, port int) { return "127.0.0.1", u.port }

// Checks returns how many requests its health path has answered.
func (u *HealthUpstream) Checks() int64 { return u.checks.Load() }

// Healthy reports what its health path answers now.
func (u *HealthUpstream) Healthy() bool { return u.healthy.Load() }

// SetHealthy sets what its health path answers from now on; a change is
// recorded in Flips.
func (u *HealthUpstream) SetHealthy(healthy bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.healthy.Swap(healthy) != healthy {
		u.flips = append(u.flips, Flip{At: time.Now(), Healthy: healthy})
	}
}

// Flap toggles the health answer every period, the first time one period
// from now, until StopFlap, the test's end or maxFlips toggles.
func (u *HealthUpstream) Flap(period time.Duration) {
	u.t.Helper()
	if u.flapStop != nil {
		u.t.Fatalf("upstream %s: Flap while flapping", u.name)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	u.flapStop, u.flapDone = stop, done
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for range maxFlips {
			select {
			case <-stop:
				return
			case <-tick.C:
				u.SetHealthy(!u.Healthy())
			}
		}
	}()
}

// StopFlap ends the flapping and waits for it; the answer stays as it is.
func (u *HealthUpstream) StopFlap() {
	if u.flapStop == nil {
		return
	}
	close(u.flapStop)
	<-u.flapDone
	u.flapStop = nil
}

// Flips returns every change of the health answer so far, in order.
func (u *HealthUpstream) Flips() []Flip {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Flip(nil), u.flips...)
}

func (u *HealthUpstream) close() {
	u.StopFlap()
	if err := u.srv.Close(); err != nil {
		u.t.Errorf("close upstream %s: %v", u.name, err)
	}
	<-u.done
}
