package xdsserver

import (
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"go.uber.org/zap"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/internal/safetext"
)

// stream is one xDS stream, state of the world or delta. Two goroutines
// serve it, as gRPC allows (one may send while another receives):
//
//   - the receiver receives and handles requests: it updates the stream's
//     state and queues the responses they call for (outbox);
//   - gRPC's handler goroutine is the only one that sends. Woken by a
//     publish or by the receiver, it brings the stream up to its group's
//     snapshot, takes the outbox, and sends it with mu released, so a
//     client slow to read holds up neither its receiver nor a publish.
//
// A response is accounted for (nonce, what the subscription holds, what
// it waits for) when it is queued: an answer to it cannot arrive before it
// is sent.
//
// A publish costs a stream only what differs for it: the group's builds
// carry what changed since the build before (worked out once per group and
// type), each stream remembers which build it holds, and responses share
// the resources' encodings.
type stream struct {
	srv       *Server
	id        int64
	delta     bool
	fixedType string        // the type of a single-type service; "" on ADS
	wakeCh    chan struct{} // a publish changed the group, or the outbox has responses; capacity 1
	// wave is the wave of a publish that woke the stream, told when the
	// handler has sent what the wake called for (groups.wake).
	wave atomic.Pointer[wave]
	// open counts the subscriptions not waiting for an answer. A stream
	// with none is not woken by a publish: each answer is followed by a
	// response with whatever is newest, and under constant churn nearly
	// every stream is waiting for one.
	open atomic.Int32

	mu     sync.Mutex     // guards what follows, up to statusMu
	closed bool           // the handler has returned: nothing more is sent
	outbox []*wireMessage // responses queued for the handler to send, in order
	group  *group         // nil until the first request names the node
	subs   [numTypes]*subscription
	seq    uint64
	// held says a listeners or routes push waits for the client to warm
	// the clusters it was just sent (settling).
	held bool

	send func(*wireMessage) error // the stream's SendMsg; the handler's alone
	peer peerIdentity             // the client, as its connection says (auth.go)

	statusMu  sync.Mutex // guards what follows, read by Proxies
	node      *corev3.Node
	connected time.Time
	status    [numTypes]proxystate.TypeStatus // by typeIdx, which is proxystate.Type (TestTypeIndexMatchesProxyState)
}

// wake tells the stream that its group's snapshot changed, if it has a
// subscription to bring up to it, and hands it w, the wave that woke it
// (nil: none), to tell when it has sent what the wake called for. It never
// waits: the handler does the work. The snapshot is stored before wake
// reads open, and an answer counts in open before respond reads the
// snapshot: one of the two sees the other.
func (st *stream) wake(w *wave) {
	if st.open.Load() == 0 {
		w.done()
		return
	}
	if w != nil {
		st.wave.Swap(w).done() // a wave not yet taken up is served by this wake
	}
	st.signal()
}

// signal wakes the handler; a wake already pending covers this one, since
// the handler reads the newest snapshot and the whole outbox.
func (st *stream) signal() {
	select {
	case st.wakeCh <- struct{}{}:
	default:
	}
}

// serve runs a stream until the client ends it, it fails, or the server
// stops. recv receives the next request into the one it is given, and
// handle deals with one request; both run on the receiver, which the
// server's receivers count (Server.Wait).
func serve[Req any](ctx, serverCtx context.Context, st *stream, recv func(*Req) error, handle func(*Req) error) error {
	failed := make(chan error, 1)
	st.srv.receivers.Add(1)
	go func() {
		defer st.srv.receivers.Done()
		// One request, decoded into again for each message: handle keeps
		// none of it but what decoding made new (node, error detail, names
		// and versions, each its own), and it is reset after each, so an
		// idle stream holds nothing of its last request.
		req := new(Req)
		reset, _ := any(req).(interface{ Reset() })
		for {
			// RecvMsg returns once the handler has returned: the
			// receiver never outlives its stream by more than that.
			err := recv(req)
			if err == nil {
				err = st.handle(func() error { return handle(req) })
			}
			if reset != nil {
				reset.Reset()
			}
			if err != nil {
				failed <- err
				return
			}
		}
	}()
	// Nothing is queued once the handler has returned.
	defer func() {
		st.mu.Lock()
		st.closed = true
		st.outbox = nil
		st.mu.Unlock()
	}()
	var sending []*wireMessage
	for {
		select {
		case err := <-failed:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-st.wakeCh:
			w := st.wave.Swap(nil)
			st.mu.Lock()
			st.flush()
			sending, st.outbox = st.outbox, sending[:0]
			st.mu.Unlock()
			for i, msg := range sending {
				if err := st.send(msg); err != nil {
					return err
				}
				sending[i] = nil // sent: the encoding is the group's to drop
			}
			w.done()
		case <-ctx.Done():
			return nil
		case <-serverCtx.Done():
			return nil
		}
	}
}

// handle runs one request's handling under mu and wakes the handler if it
// queued responses; a plain ACK queues none and costs no wake.
func (st *stream) handle(h func() error) error {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return io.EOF
	}
	err := h()
	queued := len(st.outbox) > 0
	st.mu.Unlock()
	if queued {
		st.signal()
	}
	return err
}

// identify joins the node's group on the first request, if the client may
// claim it (auth.go); if not, it returns the error that ends the stream,
// which has been sent nothing.
func (st *stream) identify(node *corev3.Node) error {
	if st.group != nil {
		return nil
	}
	node = shownNode(node) // nil: no id, no group
	if err := st.srv.auth.admit(st.peer, node); err != nil {
		return err
	}
	st.statusMu.Lock()
	st.node = node
	st.statusMu.Unlock()
	st.srv.streams.changed()
	st.group = st.srv.live.join(node.GetCluster(), st)
	if st.group.snap.Load() == nil {
		st.srv.ensureGroup(node.GetCluster())
	}
	return nil
}

// typeOf returns the type a request is about.
func (st *stream) typeOf(typeURL string) (typeIdx, bool, error) {
	if typeURL == "" {
		typeURL = st.fixedType
	}
	if typeURL == "" {
		return 0, false, status.Error(codes.InvalidArgument, "type_url is required on an aggregated stream")
	}
	typ, ok := indexOf(typeURL)
	if !ok {
		st.srv.log.Debug("request for a type Chancery does not serve", zap.String("type", safetext.Text(typeURL, nodeTextMax)))
	}
	return typ, ok, nil
}

// onDelta handles one delta request.
func (st *stream) onDelta(req *discoveryv3.DeltaDiscoveryRequest) error {
	if err := st.identify(req.GetNode()); err != nil {
		return err
	}
	typ, ok, err := st.typeOf(req.GetTypeUrl())
	if err != nil || !ok {
		return err
	}
	sub := st.subs[typ]
	if nonce := req.GetResponseNonce(); nonce != "" {
		st.record(typ, versionOfNonce(nonce), req.GetErrorDetail())
		if sub != nil && nonce == sub.nonce {
			st.setWaiting(sub, false)
		}
	}
	if sub == nil {
		sub = st.newSubscription(req.GetResourceNamesSubscribe())
		sub.subscribe(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
		if held := req.GetInitialResourceVersions(); len(held) > 0 {
			sub.initial = held // a reconnect: respond compares it with what is served
		}
		st.subs[typ] = sub
		st.respond(typ, nil)
		return nil
	}
	added := sub.subscribe(req.GetResourceNamesSubscribe(), req.GetResourceNamesUnsubscribe())
	st.respond(typ, added) // after an ACK, what was published while the client applied the last response
	st.release()
	return nil
}

// onSotw handles one state-of-the-world request.
// sameNames says the request named what the subscription holds, and its
// names were not decoded (sotwRequest).
func (st *stream) onSotw(req *discoveryv3.DiscoveryRequest, sameNames bool) error {
	if err := st.identify(req.GetNode()); err != nil {
		return err
	}
	typ, ok, err := st.typeOf(req.GetTypeUrl())
	if err != nil || !ok {
		return err
	}
	sub := st.subs[typ]
	if sub == nil {
		sub = st.newSubscription(req.GetResourceNames())
		sub.replace(req.GetResourceNames())
		if v := req.GetVersionInfo(); v != "" {
			sub.claim = v // a reconnect: what it accepted before
			st.holds(typ, v)
		}
		st.subs[typ] = sub
		st.respond(typ, nil)
		return nil
	}
	if nonce := req.GetResponseNonce(); nonce != "" {
		if nonce != sub.nonce {
			return nil // answers a response since replaced; the client will answer that one too
		}
		st.record(typ, req.GetVersionInfo(), req.GetErrorDetail())
		st.setWaiting(sub, false)
	}
	var added []string
	if !sameNames {
		added = sub.replace(req.GetResourceNames())
	}
	st.respond(typ, added)
	st.release()
	return nil
}

// newSubscription starts a subscription of the stream, not waiting.
func (st *stream) newSubscription(names []string) *subscription {
	st.open.Add(1)
	return newSubscription(names)
}

// setWaiting marks whether sub waits for an answer, keeping open.
func (st *stream) setWaiting(sub *subscription, waiting bool) {
	if sub.waiting == waiting {
		return
	}
	sub.waiting = waiting
	if waiting {
		st.open.Add(-1)
	} else {
		st.open.Add(1)
	}
}

// flush brings every subscribed type up to the group's snapshot.
func (st *stream) flush() {
	for typ := range numTypes {
		if st.subs[typ] != nil {
			st.respond(typ, nil)
		}
	}
}

// respond queues what the client lacks of one type, if anything. added
// are names it has just subscribed to.
func (st *stream) respond(typ typeIdx, added []string) {
	if st.group == nil {
		return
	}
	snap := st.group.snap.Load()
	if snap == nil {
		return // the group's first publish wakes the stream
	}
	cur, sub := snap.types[typ], st.subs[typ]
	if len(added) == 0 && (sub.waiting || (sub.sent == cur && sub.initial == nil)) {
		return // nothing new, or the client has yet to answer the last response
	}
	if len(added) == 0 && (typ == listenersIdx || typ == routesIdx) && st.settling() {
		st.held = true // release sends it
		return
	}
	sub.resolveClaim(cur)
	prev := sub.sent
	first, reconnect := prev == nil, sub.initial != nil
	moved := prev != cur
	res, removed := sub.changes(cur, added)
	if reconnect && len(res) == 0 && len(removed) == 0 {
		st.holds(typ, cur.version) // it holds exactly what is served
	}
	sub.sent, sub.initial = cur, nil
	var msg *wireMessage
	if st.delta {
		// A wildcard client's first request is answered even when there is
		// nothing to send: a starting Envoy waits for it to finish
		// initialising. A reconnecting one initialised long ago, and an
		// empty answer would cost it, and the replica, a round trip per
		// type during a reconnect storm.
		if len(res) == 0 && len(removed) == 0 && !(first && sub.wildcard && !reconnect) {
			return
		}
		sub.nonce = st.nonce(cur.version)
		msg = deltaResponse(cur.version, typeURLs[typ], sub.nonce, res, removed)
	} else {
		if !moved && len(res) == 0 {
			return
		}
		if typ.fullState() {
			res = sub.all(cur) // every response of these types holds them all
		} // the others hold what changed; the rest of what the client holds stands
		sub.nonce = st.nonce(cur.version)
		msg = sotwResponse(cur.version, typeURLs[typ], sub.nonce, res)
	}
	st.setWaiting(sub, true)
	switch typ {
	case clustersIdx: // unless it holds the build cur replaced, and cur only changes or removes
		sub.warms = first || reconnect || len(added) > 0 || cur.base.Load() != prev || cur.adds
	case endpointsIdx:
		sub.warms = first || len(added) > 0
	}
	st.sent(typ, cur.version, len(res))
	st.outbox = append(st.outbox, msg)
	if typ == clustersIdx && st.delta && !first && !reconnect {
		st.resendEndpoints(prev, res)
	}
}

// resendEndpoints sends again the load assignments of clusters the client
// held and has just been sent anew. Envoy warms a replacement cluster until
// an EDS response for it arrives, and on a delta stream it asks for nothing
// (its EDS subscription does not change), so without this a changed
// cluster would wait out its initial fetch timeout (15 s) before taking
// over; the old one serves meanwhile.
func (st *stream) resendEndpoints(prev *builtType, sent []*resource) {
	eds := st.subs[endpointsIdx]
	if eds == nil || prev == nil {
		return
	}
	var names []string
	for _, r := range sent {
		if prev.lookup(r.name) != nil && eds.wants(r.name) {
			names = append(names, r.name)
		}
	}
	if len(names) > 0 {
		st.respond(endpointsIdx, names)
	}
}

// settling says the client on an aggregated stream has yet to apply a
// clusters response that brings clusters new to it, or the endpoints of
// such clusters. Envoy warms a new cluster until its endpoints arrive, and
// a route to a warming cluster fails (503), so listeners and routes are
// pushed only once it has answered both: new clusters are in service
// before anything leads to them. Clusters that only change or go hold
// nothing back (a changed cluster serves while its successor warms), and a
// request for listeners or routes the client did not want before is
// answered at once.
func (st *stream) settling() bool {
	if st.fixedType != "" {
		return false // separate streams: there is no order between them
	}
	c, e := st.subs[clustersIdx], st.subs[endpointsIdx]
	return c != nil && c.waiting && c.warms || e != nil && e.waiting && e.warms
}

// release queues the listeners and routes held while the client settled,
// once it has.
func (st *stream) release() {
	if !st.held || st.settling() {
		return
	}
	st.held = false
	for _, typ := range [...]typeIdx{listenersIdx, routesIdx} {
		if st.subs[typ] != nil {
			st.respond(typ, nil)
		}
	}
}

// nonce numbers a response and carries its version, so that an ACK says
// which version it accepts.
func (st *stream) nonce(version string) string {
	st.seq++
	return strconv.FormatUint(st.seq, 10) + "-" + version
}

func versionOfNonce(nonce string) string {
	if i := strings.IndexByte(nonce, '-'); i >= 0 {
		return nonce[i+1:]
	}
	return ""
}

// sent notes a response in the stream's status.
func (st *stream) sent(typ typeIdx, version string, resources int) {
	st.statusMu.Lock()
	st.status[typ].Sent = version
	st.statusMu.Unlock()
	st.srv.streams.changed()
	st.srv.metrics.responsesByType[typ].Inc()
	st.srv.metrics.resourcesByType[typ].Add(float64(resources))
}

// record notes an ACK or a NACK.
func (st *stream) record(typ typeIdx, version string, nack *rpcstatus.Status) {
	version = safetext.Text(version, nodeTextMax) // the Envoy's word: ours are hashes, which it keeps
	var nackError string
	if nack != nil {
		nackError = safeLines(nack.GetMessage(), nackTextMax)
	}
	st.statusMu.Lock()
	s := &st.status[typ]
	node := st.node
	if nack != nil {
		s.NackError = nackError
	} else {
		s.Acked, s.NackError = version, ""
	}
	st.statusMu.Unlock()
	st.srv.streams.changed()
	if nack == nil {
		st.srv.metrics.acksByType[typ].Inc()
		return
	}
	st.srv.metrics.nacksByType[typ].Inc()
	st.srv.log.Warn("config rejected by Envoy", zap.String("node-id", node.GetId()), zap.String("group", node.GetCluster()),
		zap.String("type", typeNames[typ]), zap.String("version", version), zap.String("error", nackError))
}

// holds records the version a reconnecting node says it already has, as if
// ACKed: a replica that finds nothing to send sends nothing, and without this
// the node would look as if it held nothing.
func (st *stream) holds(typ typeIdx, version string) {
	version = safetext.Text(version, nodeTextMax)
	st.statusMu.Lock()
	if st.status[typ].Acked == "" {
		st.status[typ].Acked = version
	}
	st.statusMu.Unlock()
	st.srv.streams.changed()
}

// streamSet is every open stream, for Proxies.
type streamSet struct {
	mu   sync.Mutex
	next int64
	all  map[int64]*stream
	// generation counts changes to what Proxies returns, so that a caller
	// polling it can skip the work while nothing changed.
	generation atomic.Uint64
}

func (s *streamSet) changed() { s.generation.Add(1) }

func (s *Server) open(delta bool, fixedType string) *stream {
	st := &stream{srv: s, delta: delta, fixedType: fixedType, wakeCh: make(chan struct{}, 1), connected: time.Now()}
	s.streams.mu.Lock()
	s.streams.next++
	st.id = s.streams.next
	s.streams.all[st.id] = st
	s.streams.mu.Unlock()
	s.metrics.streams.WithLabelValues(modeName(delta)).Inc()
	return st
}

func (s *Server) close(st *stream) {
	s.leaveGroup(st)
	s.streams.mu.Lock()
	delete(s.streams.all, st.id)
	s.streams.mu.Unlock()
	s.streams.changed()
	s.metrics.streams.WithLabelValues(modeName(st.delta)).Dec()
}

func (s *Server) serveDelta(ss grpc.BidiStreamingServer[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse], fixedType string) error {
	st := s.open(true, fixedType)
	defer s.close(st)
	st.peer = s.auth.identify(ss.Context())
	st.send = func(m *wireMessage) error { return ss.SendMsg(m) }
	return serve(ss.Context(), s.ctx, st, func(m *discoveryv3.DeltaDiscoveryRequest) error { return ss.RecvMsg(m) }, st.onDelta)
}

func (s *Server) serveSotw(ss grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse], fixedType string) error {
	st := s.open(false, fixedType)
	defer s.close(st)
	st.peer = s.auth.identify(ss.Context())
	st.send = func(m *wireMessage) error { return ss.SendMsg(m) }
	// The receiving goroutine compares names with its subscriptions'
	// while decoding; it is the one that changes them.
	held := st.heldNames
	recv := func(r *sotwRequest) error {
		r.held = held
		return ss.RecvMsg(r)
	}
	return serve(ss.Context(), s.ctx, st, recv, func(r *sotwRequest) error { return st.onSotw(&r.DiscoveryRequest, r.sameNames) })
}

// heldNames returns the names the stream's subscription of a type holds,
// if it has a subscription that names them (not a wildcard).
func (st *stream) heldNames(typeURL string) *nameSet {
	if typeURL == "" {
		typeURL = st.fixedType
	}
	typ, ok := indexOf(typeURL)
	if !ok {
		return nil
	}
	sub := st.subs[typ]
	if sub == nil || sub.legacy || sub.wildcard {
		return nil
	}
	return sub.names
}

func modeName(delta bool) string {
	if delta {
		return "delta"
	}
	return "sotw"
}
