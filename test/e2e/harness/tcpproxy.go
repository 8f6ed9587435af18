package harness

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TCPProxy forwards loopback TCP connections to a target. Cut severs every
// connection and refuses new ones until Restore: a network partition between
// a process and, say, etcd, without stopping either.
type TCPProxy struct {
	t      testing.TB
	target string
	ln     net.Listener
	wg     sync.WaitGroup // the accept loop and every forwarding goroutine

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]struct{} // both sides of every forwarded connection
}

// StartTCPProxy listens on a free loopback port and forwards to target
// (host:port); it is closed when the test ends.
func StartTCPProxy(t testing.TB, target string) *TCPProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("tcp proxy to %s: %v", target, err)
	}
	p := &TCPProxy{t: t, target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the address to connect to instead of the target, 127.0.0.1:port.
func (p *TCPProxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *TCPProxy) Target() string { return p.target }

// Cut closes every forwarded connection and, until Restore, closes each new
// connection as soon as it is accepted.
func (p *TCPProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	p.closeAllLocked()
}

// Restore forwards new connections again after Cut.
func (p *TCPProxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// Close stops listening, closes every connection and waits for the proxy's
// goroutines to end.
func (p *TCPProxy) Close() {
	if err := p.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		p.t.Errorf("close tcp proxy %s: %v", p.Addr(), err)
	}
	p.Cut()
	p.wg.Wait()
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed by Close
		}
		if !p.track(c) {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.forward(c)
	}
}

// track records an open connection, unless the proxy is cut.
func (p *TCPProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *TCPProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
		c.Close()
	}
}

func (p *TCPProxy) closeAllLocked() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *TCPProxy) forward(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 2*time.Second)
	if err != nil {
		// The target is down: the client sees its connection closed, as it
		// would see a refusal.
		p.untrack(client)
		return
	}
	if !p.track(server) {
		p.untrack(client, server)
		return
	}
	var both sync.WaitGroup
	both.Add(2)
	go pipe(&both, server, client)
	go pipe(&both, client, server)
	both.Wait()
	p.untrack(client, server)
}

// pipe copies src to dst until src ends, then passes the end on as a half
// close, so a peer that closes its sending side still gets the answer.
func pipe(wg *sync.WaitGroup, dst, src net.Conn) {
	defer wg.Done()
	if _, err := io.Copy(dst, src); err != nil {
		// A cut or a reset: close both ways so the other pipe ends too.
		dst.Close()
		src.Close()
		return
	}
	if tcp, ok := dst.(*net.TCPConn); ok {
		if err := tcp.CloseWrite(); err != nil {
			dst.Close()
		}
	}
}
