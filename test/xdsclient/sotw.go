package xdsclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"
)

// SotWHeld is what a state-of-the-world client holds of one type: the
// version it last accepted and the names it is subscribed to.
type SotWHeld struct {
	Version string
	Names   []string // nil for the wildcard types (clusters, listeners)
}

// SotWResponse is one state-of-the-world response as received.
type SotWResponse struct {
	TypeURL   string
	Version   string
	Resources []*anypb.Any
	Received  time.Time // after the ACK was sent
}

// SotWOptions configure a state-of-the-world client.
type SotWOptions struct {
	NodeID, Group string
	// Conn, when set, carries the stream instead of a connection of the
	// client's own, so that many clients can share one; Close leaves it open.
	Conn grpc.ClientConnInterface
	// Initial is what the client claims to hold already, type URL -> held,
	// sent as version_info and resource names on the first requests, as
	// Envoy does when it reconnects.
	Initial map[string]SotWHeld
	// OnResponse, when set, is called on the receiving goroutine with every
	// response after it was ACKed, and Responses stays empty.
	OnResponse func(SotWResponse)
	// DependentNames derives the names of the endpoints (from clusters) or
	// routes (from listeners) to subscribe to; nil means DependentNames.
	DependentNames func(typeURL string, resources []*anypb.Any) ([]string, error)
	// SecretNames, when set, derives the secrets the listeners name, and
	// the client subscribes to them on the stream as Envoy does over SDS;
	// nil subscribes to no secrets.
	SecretNames func(listeners []*anypb.Any) ([]string, error)
}

// SotWClient is one state-of-the-world ADS stream that subscribes as Envoy
// does: clusters and listeners by wildcard, then the endpoints of the EDS
// clusters and the route configurations the listeners name. It ACKs every
// response.
type SotWClient struct {
	conn      *grpc.ClientConn // nil when shared
	stream    discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	cancel    context.CancelFunc
	opts      SotWOptions
	responses chan SotWResponse
	done      chan struct{}
	err       error // why the stream ended; set before done closes

	mu     sync.Mutex
	held   map[string]SotWHeld // type URL -> held
	nonces map[string]string   // type URL -> nonce of the last response, read only by the receiver
}

// DialSotW opens a state-of-the-world ADS stream to addr (or on opts.Conn)
// and subscribes to clusters and listeners, and to whatever opts.Initial
// holds of endpoints and routes.
func DialSotW(addr string, opts SotWOptions) (*SotWClient, error) {
	if opts.DependentNames == nil {
		opts.DependentNames = DependentNames
	}
	c := &SotWClient{opts: opts, done: make(chan struct{}), held: map[string]SotWHeld{}, nonces: map[string]string{}}
	conn := opts.Conn
	if conn == nil {
		own, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30)))
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		c.conn, conn = own, own
	}
	if opts.OnResponse == nil {
		c.responses = make(chan SotWResponse, 64)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open ADS stream to %s: %w", addr, err)
	}
	c.stream = stream
	node := &corev3.Node{Id: opts.NodeID, Cluster: opts.Group}
	for _, typ := range slices.Concat(Types, []string{resourcev3.SecretType}) {
		h, ok := opts.Initial[typ]
		if !ok && isNamed(typ) {
			continue // named types are subscribed once clusters and listeners name them
		}
		c.held[typ] = SotWHeld{Version: h.Version, Names: slices.Clone(h.Names)}
		req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, VersionInfo: h.Version, ResourceNames: h.Names}
		node = nil // the node goes on the first message only, as Envoy sends it
		if err := stream.Send(req); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe %s: %w", typ, endStatus(err, func() error { _, err := stream.Recv(); return err }))
		}
	}
	go c.receive()
	return c, nil
}

func (c *SotWClient) receive() {
	defer close(c.done)
	if c.responses != nil {
		defer close(c.responses)
	}
	for {
		resp, err := c.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				c.err = err
			}
			return
		}
		if err := c.accept(resp); err != nil {
			c.err = err
			return
		}
		r := SotWResponse{TypeURL: resp.GetTypeUrl(), Version: resp.GetVersionInfo(), Resources: resp.GetResources(), Received: time.Now()}
		if c.opts.OnResponse != nil {
			c.opts.OnResponse(r)
		} else {
			c.responses <- r
		}
	}
}

// accept records a response, subscribes to the names it makes necessary and
// ACKs it. Like Envoy, it sends the new subscription before the ACK.
func (c *SotWClient) accept(resp *discoveryv3.DiscoveryResponse) error {
	typ := resp.GetTypeUrl()
	c.nonces[typ] = resp.GetNonce()
	dependent := ""
	switch typ {
	case resourcev3.ClusterType:
		dependent = resourcev3.EndpointType
	case resourcev3.ListenerType:
		dependent = resourcev3.RouteType
	}
	c.mu.Lock()
	names := c.held[typ].Names
	if isNamed(typ) {
		c.held[typ] = SotWHeld{Version: resp.GetVersionInfo(), Names: names}
	} else {
		c.held[typ] = SotWHeld{Version: resp.GetVersionInfo()}
	}
	c.mu.Unlock()
	if dependent != "" {
		want, err := c.opts.DependentNames(typ, resp.GetResources())
		if err != nil {
			return fmt.Errorf("%s: %w", typ, err)
		}
		if err := c.subscribe(dependent, want); err != nil {
			return err
		}
	}
	if typ == resourcev3.ListenerType && c.opts.SecretNames != nil {
		if err := c.subscribeSecrets(resp.GetResources()); err != nil {
			return err
		}
	}
	ack := &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: names}
	if err := c.stream.Send(ack); err != nil {
		return fmt.Errorf("ack %s: %w", typ, err)
	}
	return nil
}

// isNamed says whether typ is subscribed to by name, not by wildcard.
func isNamed(typ string) bool {
	return typ == resourcev3.EndpointType || typ == resourcev3.RouteType || typ == resourcev3.SecretType
}

// subscribeSecrets subscribes to the secrets the listeners name; not
// before they name one, as a first request without names is a wildcard.
func (c *SotWClient) subscribeSecrets(listeners []*anypb.Any) error {
	names, err := c.opts.SecretNames(listeners)
	if err != nil {
		return fmt.Errorf("%s: secret names: %w", resourcev3.ListenerType, err)
	}
	c.mu.Lock()
	_, subscribed := c.held[resourcev3.SecretType]
	c.mu.Unlock()
	if !subscribed && len(names) == 0 {
		return nil
	}
	return c.subscribe(resourcev3.SecretType, names)
}

// subscribe sends a request for typ when the names it needs changed.
func (c *SotWClient) subscribe(typ string, names []string) error {
	sort.Strings(names)
	names = slices.Compact(names)
	c.mu.Lock()
	h, ok := c.held[typ]
	if ok && slices.Equal(h.Names, names) {
		c.mu.Unlock()
		return nil
	}
	h.Names = names
	c.held[typ] = h
	c.mu.Unlock()
	req := &discoveryv3.DiscoveryRequest{TypeUrl: typ, VersionInfo: h.Version, ResponseNonce: c.nonces[typ], ResourceNames: names}
	if err := c.stream.Send(req); err != nil {
		return fmt.Errorf("subscribe %s: %w", typ, err)
	}
	return nil
}

// Held returns what the client holds: type URL -> version and names.
func (c *SotWClient) Held() map[string]SotWHeld {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]SotWHeld, len(c.held))
	for typ, h := range c.held {
		out[typ] = SotWHeld{Version: h.Version, Names: slices.Clone(h.Names)}
	}
	return out
}

// Responses delivers every response after it was ACKed, unless
// OnResponse is set. It is closed when the stream ends.
func (c *SotWClient) Responses() <-chan SotWResponse { return c.responses }

// Done is closed when the stream has ended; Err then says why.
func (c *SotWClient) Done() <-chan struct{} { return c.done }

// Err is why the stream ended (nil for a clean end); read it after Done.
func (c *SotWClient) Err() error { return c.err }

// Close ends the stream, and the connection unless it was shared.
func (c *SotWClient) Close() {
	if c.cancel != nil {
		c.cancel()
	}
	if c.conn != nil {
		c.conn.Close()
	}
}

// DependentNames decodes a clusters or listeners response and returns what
// Envoy would subscribe to next: the EDS clusters' service names, or the
// route configurations the listeners' HTTP connection managers name.
func DependentNames(typeURL string, resources []*anypb.Any) ([]string, error) {
	var out []string
	for _, a := range resources {
		var names []string
		var err error
		switch typeURL {
		case resourcev3.ClusterType:
			names, err = ClusterEDSName(a)
		case resourcev3.ListenerType:
			names, err = ListenerRouteNames(a)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, names...)
	}
	sort.Strings(out)
	return slices.Compact(out), nil
}

// ClusterEDSName returns the name under which an EDS cluster's endpoints
// are requested (its service_name, else its name), or nothing for a cluster
// of another discovery type.
func ClusterEDSName(a *anypb.Any) ([]string, error) {
	var c clusterv3.Cluster
	if err := a.UnmarshalTo(&c); err != nil {
		return nil, fmt.Errorf("decode cluster: %w", err)
	}
	if c.GetType() != clusterv3.Cluster_EDS {
		return nil, nil
	}
	if n := c.GetEdsClusterConfig().GetServiceName(); n != "" {
		return []string{n}, nil
	}
	return []string{c.GetName()}, nil
}

// ListenerRouteNames returns the route configurations a listener's HTTP
// connection managers fetch over RDS.
func ListenerRouteNames(a *anypb.Any) ([]string, error) {
	var l listenerv3.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return nil, fmt.Errorf("decode listener: %w", err)
	}
	var out []string
	for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
		for _, f := range fc.GetFilters() {
			tc := f.GetTypedConfig()
			if tc == nil || !tc.MessageIs(&hcmv3.HttpConnectionManager{}) {
				continue
			}
			var hcm hcmv3.HttpConnectionManager
			if err := tc.UnmarshalTo(&hcm); err != nil {
				return nil, fmt.Errorf("listener %s: decode connection manager: %w", l.GetName(), err)
			}
			if n := hcm.GetRds().GetRouteConfigName(); n != "" {
				out = append(out, n)
			}
		}
	}
	return out, nil
}
