// Package xdsclient is a real delta ADS client for tests and benchmarks: it
// subscribes to every type Chancery serves, ACKs (or, on request, NACKs)
// each response and records what arrived.
package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// Types are the xDS types the client subscribes to, in Envoy's order.
var Types = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}

// Response is one delta response as received.
type Response struct {
	TypeURL   string
	Resources map[string]*discoveryv3.Resource // name -> resource
	Removed   []string
	Received  time.Time
}

// Options configure a client.
type Options struct {
	NodeID, Group string
	// Initial is what the client claims to hold already: type URL -> name ->
	// version, sent as initial_resource_versions, as Envoy does on reconnect.
	Initial map[string]map[string]string
	// Nack lists type URLs whose responses are rejected with NackMessage.
	Nack        map[string]bool
	NackMessage string
	// TLS, if set, are the credentials the client dials with (TLS, mTLS);
	// nil dials in plaintext.
	TLS credentials.TransportCredentials
}

// Client is one delta ADS stream.
type Client struct {
	conn      *grpc.ClientConn
	stream    discoveryv3.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	cancel    context.CancelFunc
	opts      Options
	responses chan Response
	err       error // why the stream ended; set before responses closes

	mu   sync.Mutex
	held map[string]map[string]string // type URL -> name -> version
}

// Dial opens a delta ADS stream to addr and subscribes to every type.
func Dial(addr string, opts Options) (*Client, error) {
	creds := opts.TLS
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).DeltaAggregatedResources(ctx)
	if err != nil {
		cancel()
		conn.Close()
		return nil, fmt.Errorf("open delta ADS stream to %s: %w", addr, err)
	}
	c := &Client{
		conn: conn, stream: stream, cancel: cancel, opts: opts,
		responses: make(chan Response, 1024),
		held:      map[string]map[string]string{},
	}
	node := &corev3.Node{Id: opts.NodeID, Cluster: opts.Group}
	for _, typ := range Types {
		held := map[string]string{}
		for name, v := range opts.Initial[typ] {
			held[name] = v
		}
		c.held[typ] = held
		req := &discoveryv3.DeltaDiscoveryRequest{Node: node, TypeUrl: typ, InitialResourceVersions: opts.Initial[typ]}
		node = nil // the node goes on the first message only, as Envoy sends it
		if err := stream.Send(req); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe %s: %w", typ, endStatus(err, func() error { _, err := stream.Recv(); return err }))
		}
	}
	go c.receive()
	return c, nil
}

func (c *Client) receive() {
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			close(c.responses)
			return
		}
		r := Response{TypeURL: resp.GetTypeUrl(), Resources: map[string]*discoveryv3.Resource{}, Removed: resp.GetRemovedResources(), Received: time.Now()}
		for _, res := range resp.GetResources() {
			r.Resources[res.GetName()] = res
		}
		ack := &discoveryv3.DeltaDiscoveryRequest{TypeUrl: resp.GetTypeUrl(), ResponseNonce: resp.GetNonce()}
		if c.opts.Nack[resp.GetTypeUrl()] {
			ack.ErrorDetail = &status.Status{Code: 3, Message: c.opts.NackMessage}
		} else {
			c.hold(r)
		}
		if err := c.stream.Send(ack); err != nil {
			c.err = fmt.Errorf("ack: %w", err)
			close(c.responses)
			return
		}
		c.responses <- r
	}
}

func (c *Client) hold(r Response) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for name, res := range r.Resources {
		c.held[r.TypeURL][name] = res.GetVersion()
	}
	for _, name := range r.Removed {
		delete(c.held[r.TypeURL], name)
	}
}

// Held returns what the client holds: type URL -> name -> version.
func (c *Client) Held() map[string]map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]map[string]string, len(c.held))
	for typ, m := range c.held {
		out[typ] = make(map[string]string, len(m))
		for k, v := range m {
			out[typ][k] = v
		}
	}
	return out
}

// Responses delivers every response, after it was ACKed or NACKed. It is
// closed when the stream ends.
func (c *Client) Responses() <-chan Response { return c.responses }

// WaitFor reads responses until ok is true of what the client holds, or the
// timeout passes.
func (c *Client) WaitFor(timeout time.Duration, ok func(held map[string]map[string]string) bool) error {
	deadline := time.After(timeout)
	for !ok(c.Held()) {
		select {
		case _, open := <-c.responses:
			if !open {
				return errors.New("stream ended while waiting")
			}
		case <-deadline:
			return fmt.Errorf("condition not met within %s; holding %v", timeout, c.Held())
		}
	}
	return nil
}

// Err is why the stream ended (nil for a clean end); read it only after
// Responses is closed.
func (c *Client) Err() error { return c.err }

// Close ends the stream and the connection.
func (c *Client) Close() {
	c.cancel()
	c.conn.Close()
}

// endStatus turns a failed send into why the stream ended: a send only says
// EOF, the server's status arrives on the next receive.
func endStatus(sendErr error, recv func() error) error {
	if err := recv(); err != nil {
		return err
	}
	return sendErr
}
