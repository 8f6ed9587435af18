package health

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// prober runs one check of one endpoint. Every check opens a fresh
// connection: what matters to Envoy is whether the endpoint accepts new ones,
// and the leader holds no connection to thousands of endpoints between
// checks (its sockets stay bounded by the check concurrency).
type prober struct {
	h1  *http.Client
	h2c *http.Client
}

func newProber() *prober {
	return &prober{h1: newHTTPClient(false), h2c: newHTTPClient(true)}
}

func newHTTPClient(h2c bool) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil, // checks go straight to the endpoint, never through an environment proxy
		DialContext:            (&net.Dialer{}).DialContext,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	if h2c {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true) // prior knowledge, as Envoy talks to http2 and grpc services
		tr.Protocols = &p
	}
	return &http.Client{
		Transport: tr,
		// A redirect is an answer: its status is judged, not followed.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// check runs spec against addr (host:port) within spec.timeout; nil means
// the endpoint passed.
func (p *prober) check(ctx context.Context, spec checkSpec, addr string) error {
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	switch spec.kind {
	case "http":
		return p.checkHTTP(ctx, spec, addr)
	case "grpc":
		return checkGRPC(ctx, addr)
	default:
		return checkTCP(ctx, addr)
	}
}

func checkTCP(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return shorten(err)
	}
	if err := conn.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

func (p *prober) checkHTTP(ctx context.Context, spec checkSpec, addr string) error {
	c := p.h1
	if spec.h2c {
		c = p.h2c
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+spec.path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "chancery-health-check")
	resp, err := c.Do(req)
	if err != nil {
		return shorten(err)
	}
	defer resp.Body.Close()
	// Read a little so a server that answers before reading is not reset
	// mid-write; the connection is closed either way.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)); err != nil && ctx.Err() != nil {
		return fmt.Errorf("read body: %w", ctx.Err())
	}
	if !spec.expects(resp.StatusCode) {
		return fmt.Errorf("HTTP %d from %s", resp.StatusCode, spec.path)
	}
	return nil
}

func checkGRPC(ctx context.Context, addr string) error {
	conn, err := grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) == codes.DeadlineExceeded {
		return errors.New("timed out")
	}
	if err != nil {
		return fmt.Errorf("gRPC health: %w", err)
	}
	if st := resp.GetStatus(); st != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("gRPC health: %s", st)
	}
	return nil
}

// shorten turns a timeout into "timed out" and keeps only the network
// error of a failed request, dropping Go's framing ("Get \"http://...\": "):
// the verdict's reason should read as one fact.
func shorten(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("timed out")
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op
	}
	return err
}
