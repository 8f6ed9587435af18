package main

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/chancery-xds/chancery/internal/bufpool"
	"github.com/chancery-xds/chancery/test/xdsclient"
)

// typeIndex numbers the served types for the fleet's counters.
var typeIndex = map[string]int{
	resourcev3.ClusterType: 0, resourcev3.EndpointType: 1, resourcev3.ListenerType: 2, resourcev3.RouteType: 3,
	resourcev3.SecretType: 4,
}

// typeNames are the short names of the counters, in typeIndex order.
var typeNames = []string{"clusters", "endpoints", "listeners", "routes", "secrets"}

// numTypes is how many types the fleet counts.
const numTypes = 5

// baseTypes has a bit for each type every client must hold to be synced:
// all but secrets, which it needs only when its listeners name some.
const (
	baseTypes  = 1<<4 - 1
	secretsBit = 1 << 4
)

// fleet is every simulated Envoy of this process and what they counted.
type fleet struct {
	cfg     config
	addrs   atomic.Pointer[[]string] // xDS addresses; the driver may add one (POST /xds)
	ledger  *ledger
	decoder *decoder
	names   names // resource names, numbered for the clients' versions
	clients []*client

	poolMu sync.Mutex
	pool   map[string][]xdsConn // address -> connections, shared with -clients-per-conn

	responses, resources [numTypes]atomic.Int64
	resetAt              atomic.Int64
	connected, synced    atomic.Int64
	streams, streamErrs  atomic.Int64
	lastErr              atomic.Pointer[string]
}

// client is one simulated Envoy: a node id, a group, one stream at a time,
// and what it holds across reconnects. Only its own goroutine (or the one
// receiving on its current stream) touches its state.
type client struct {
	f             *fleet
	idx           int
	nodeID, group string

	last        []uint64   // key index (dense, from the ledger) -> highest seq seen
	batch       []delivery // one response's deliveries, reused
	seen        int        // bit per type received at least once (secrets: with one at least)
	wantSecrets bool       // the listeners name secrets: synced only once it holds them too
	got         int64      // responses received, all streams
	syncedNs    int64      // when every type it needs had arrived; MaxInt64 before

	// delta: what to claim on reconnect and what to subscribe to
	held [numTypes]versions             // by typeIndex: version by name number (f.names)
	deps map[string]map[string][]string // by named type: name of a cluster/listener -> names it needs
	subs map[string][]string            // endpoints/routes/secrets: subscribed names, sorted
	// state of the world: what to claim on reconnect
	sotwHeld map[string]xdsclient.SotWHeld
}

func (f *fleet) newClient(i int) *client {
	return &client{
		f: f, idx: i,
		nodeID:   f.cfg.nodePrefix + "-" + strconv.Itoa(i),
		group:    f.cfg.groups[i%len(f.cfg.groups)],
		syncedNs: math.MaxInt64,
		deps:     map[string]map[string][]string{},
		subs:     map[string][]string{},
	}
}

// run keeps one stream open, moving to the next address after a failure
// and backing off as Envoy does: a random wait below a base that doubles
// with each failure in a row.
func (c *client) run(ctx context.Context) {
	failures := 0
	for attempt := 0; ctx.Err() == nil; attempt++ {
		addr := "" // etcd watchers have no xDS address
		if addrs := *c.f.addrs.Load(); len(addrs) > 0 {
			addr = addrs[attempt%len(addrs)]
		}
		before := c.got
		err := c.session(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stream closed by the server")
		}
		c.f.streamErrs.Add(1)
		msg := err.Error()
		c.f.lastErr.Store(&msg)
		if c.got > before {
			failures = 0 // the stream worked: start over, as Envoy resets its backoff
		}
		ceiling := min(c.f.cfg.backoff<<min(failures, 16), c.f.cfg.backoffMax)
		failures++
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(rand.Int64N(int64(ceiling) + 1))):
		}
	}
}

func (c *client) session(ctx context.Context, addr string) error {
	if c.f.cfg.mode == "etcd" {
		return c.etcdSession(ctx)
	}
	conn, err := c.f.conn(addr, c.idx)
	if err != nil {
		return err
	}
	if c.f.cfg.mode == "sotw" {
		return c.sotwSession(ctx, conn)
	}
	return c.deltaSession(ctx, conn)
}

// sotwSession runs one state-of-the-world stream until it ends.
func (c *client) sotwSession(ctx context.Context, conn grpc.ClientConnInterface) error {
	sc, err := xdsclient.DialSotW("", xdsclient.SotWOptions{
		NodeID: c.nodeID, Group: c.group, Conn: conn, Initial: c.sotwHeld,
		DependentNames: c.f.decoder.dependentNames,
		SecretNames: func(listeners []*anypb.Any) ([]string, error) {
			names, err := c.f.decoder.secretNames(listeners)
			c.wantSecrets = len(names) > 0 // on the receiving goroutine, before OnResponse
			return names, err
		},
		OnResponse: func(r xdsclient.SotWResponse) {
			c.observe(r.TypeURL, r.Resources, r.Received.UnixNano())
		},
	})
	if err != nil {
		return err
	}
	c.f.streams.Add(1)
	c.f.connected.Add(1)
	defer c.f.connected.Add(-1)
	select {
	case <-sc.Done():
	case <-ctx.Done():
		sc.Close()
		<-sc.Done()
	}
	c.sotwHeld = sc.Held()
	return sc.Err()
}

// observe counts one ACKed response and delivers the markers it carries.
func (c *client) observe(typeURL string, resources []*anypb.Any, atNs int64) {
	ti, ok := typeIndex[typeURL]
	if !ok {
		return
	}
	c.got++
	c.f.responses[ti].Add(1)
	c.f.resources[ti].Add(int64(len(resources)))
	switch typeURL {
	case resourcev3.EndpointType:
		for _, a := range resources {
			c.collect(c.f.decoder.decode(typeURL, a).markers, atNs)
		}
		c.flush()
	case resourcev3.SecretType:
		if len(resources) == 0 {
			return // no secret in it (a removal): nothing held yet
		}
	}
	c.markSeen(1<<ti, atNs)
}

func (c *client) markSeen(bits int, atNs int64) {
	c.seen |= bits
	want := baseTypes
	if c.wantSecrets {
		want |= secretsBit
	}
	if c.seen&want == want && c.syncedNs == math.MaxInt64 {
		c.syncedNs = atNs
		c.f.synced.Add(1)
	}
}

// deliver hands the ledger the keys whose seq moved in ms.
func (c *client) deliver(ms []marker, atNs int64) {
	c.collect(ms, atNs)
	c.flush()
}

// flush hands the ledger what collect gathered, at once: a response's
// deliveries cost one pass under the ledger's lock.
func (c *client) flush() {
	if len(c.batch) > 0 {
		c.f.ledger.deliver(c.idx, c.batch)
	}
	c.batch = c.batch[:0]
}

// collect gathers the keys whose seq moved in ms.
func (c *client) collect(ms []marker, atNs int64) {
	for _, m := range ms {
		if int(m.key) >= len(c.last) {
			c.last = append(c.last, make([]uint64, int(m.key)+1-len(c.last))...)
		}
		prev := c.last[m.key]
		if m.seq <= prev {
			continue
		}
		c.last[m.key] = m.seq
		c.batch = append(c.batch, delivery{key: m.key, prev: prev, seen: m.seq, atNs: atNs, syncedNs: c.syncedNs})
	}
}

// xdsConn is a client's connection to one replica: gRPC-Go's, or the
// fleet's own (h2.go).
type xdsConn interface {
	grpc.ClientConnInterface
	Close() error
}

// conn returns the connection a client's stream uses, made the first time
// it is asked for. A connection outlives the streams on it, as an Envoy's
// xDS cluster does: when a replica dies the client's next stream goes to
// another replica over a connection object it already has, which dials
// again. Clients share connections when clients-per-conn is above one
// (gRPC-Go's transport only).
func (f *fleet) conn(addr string, idx int) (xdsConn, error) {
	f.poolMu.Lock()
	defer f.poolMu.Unlock()
	conns := f.pool[addr]
	i := idx / max(f.cfg.perConn, 1)
	for len(conns) <= i {
		conns = append(conns, nil)
	}
	f.pool[addr] = conns
	if conns[i] == nil {
		if f.cfg.transport == "h2" {
			conns[i] = newH2Conn(addr)
		} else {
			cc, err := dial(addr)
			if err != nil {
				return nil, err
			}
			conns[i] = cc
		}
	}
	return conns[i], nil
}

// prepare makes every client's connection to each address ahead of use. A
// connection is lazy: it dials when its first stream starts. The driver adds
// replica B this way before it kills A, so that the storm costs each
// client a dial and a stream, not a whole client's setup (gRPC-Go's is
// costly), which a real Envoy does not repeat either.
func (f *fleet) prepare(addrs []string) error {
	for _, addr := range addrs {
		for _, c := range f.clients {
			if _, err := f.conn(addr, c.idx); err != nil {
				return err
			}
		}
	}
	return nil
}

// framePool holds the buffers gRPC-Go's connections read frames into.
var framePool = &bufpool.Pool{}

// dial opens a lazy gRPC-Go connection (-transport grpc) that encodes delta
// requests by hand (codec.go); small buffers keep ten thousand of them
// cheap, and passthrough skips a DNS resolver per connection. Fixed
// flow-control windows, as Envoy's HTTP/2 client has: gRPC-Go's bandwidth
// estimation would answer every response with a PING that Envoy never sends.
// Frames are read into buffers nobody clears first (gRPC writes each whole).
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		experimental.WithBufferPool(framePool),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.ForceCodecV2(newCodec())),
		grpc.WithReadBufferSize(16<<10), grpc.WithWriteBufferSize(16<<10),
		grpc.WithInitialWindowSize(h2Window), grpc.WithInitialConnWindowSize(h2Window))
}
