package clustertest

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// HTTPTarget is an HTTP endpoint whose answer to GET /healthz the test
// sets in Status.
type HTTPTarget struct {
	srv    *httptest.Server
	Status atomic.Int32
}

// StartHTTPTarget starts an HTTP endpoint answering 200; it stops when the
// test ends.
func StartHTTPTarget(t *testing.T) *HTTPTarget {
	h := &HTTPTarget{}
	h.Status.Store(http.StatusOK)
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(h.Status.Load()))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// Addr is the endpoint's host:port.
func (h *HTTPTarget) Addr() string { return h.srv.Listener.Addr().String() }

// TCPTarget accepts and closes connections until closed; Reopen listens on
// the same port again.
type TCPTarget struct {
	t    *testing.T
	Addr string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

// StartTCPTarget starts a TCP endpoint; it stops when the test ends.
func StartTCPTarget(t *testing.T) *TCPTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tt := &TCPTarget{t: t, Addr: ln.Addr().String()}
	tt.serve(ln)
	t.Cleanup(tt.Close)
	return tt
}

func (tt *TCPTarget) serve(ln net.Listener) {
	tt.mu.Lock()
	tt.ln = ln
	tt.mu.Unlock()
	tt.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

// Close stops listening: connections are refused.
func (tt *TCPTarget) Close() {
	tt.mu.Lock()
	ln := tt.ln
	tt.ln = nil
	tt.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	tt.wg.Wait()
}

// Reopen listens again on the address closed.
func (tt *TCPTarget) Reopen() {
	tt.t.Helper()
	var ln net.Listener
	Eventually(tt.t, 5*time.Second, func() error {
		var err error
		ln, err = net.Listen("tcp", tt.Addr)
		return err
	})
	tt.serve(ln)
}

// GRPCTarget is a gRPC server with the standard health service.
type GRPCTarget struct {
	Addr   string
	health *health.Server
}

// StartGRPCTarget starts a gRPC endpoint; it stops when the test ends.
func StartGRPCTarget(t *testing.T) *GRPCTarget {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &GRPCTarget{Addr: ln.Addr().String(), health: health.NewServer()}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, g.health)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil {
			t.Errorf("grpc target: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	return g
}

// Set makes the health service answer SERVING, or NOT_SERVING.
func (g *GRPCTarget) Set(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	g.health.SetServingStatus("", st)
}
