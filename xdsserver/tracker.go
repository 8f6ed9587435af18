package xdsserver

import (
	"context"
	"sort"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/zap"
)

// streamTracker follows every xDS stream: which node it serves, what was
// sent on it and what the node ACKed or NACKed.
type streamTracker struct {
	log      *zap.Logger
	metrics  *metrics
	newGroup func(group string) // called when a stream's node is first seen

	mu      sync.Mutex
	streams map[int64]*stream
}

// stream is one xDS stream's view of its node.
type stream struct {
	delta     bool
	node      *corev3.Node
	connected time.Time
	types     map[string]*TypeStatus // short type name -> status
	nonces    map[string]string      // delta: response nonce -> version sent
}

// TypeStatus is what one node holds of one type.
type TypeStatus struct {
	Sent      string `json:"sent,omitempty"`       // version of the last response
	Acked     string `json:"acked,omitempty"`      // version the node last accepted
	NackError string `json:"nack_error,omitempty"` // error of the last rejection, cleared by an ACK
}

// ProxyStatus is one connected Envoy as this replica sees it.
type ProxyStatus struct {
	NodeID    string                `json:"node_id"`
	Group     string                `json:"group"`
	Delta     bool                  `json:"delta"`
	Connected time.Time             `json:"connected"`
	Types     map[string]TypeStatus `json:"types"`
}

func newStreamTracker(log *zap.Logger, m *metrics, newGroup func(string)) *streamTracker {
	return &streamTracker{log: log, metrics: m, newGroup: newGroup, streams: map[int64]*stream{}}
}

func (t *streamTracker) callbacks() serverv3.Callbacks {
	return serverv3.CallbackFuncs{
		StreamOpenFunc:          func(_ context.Context, id int64, _ string) error { return t.open(id, false) },
		StreamClosedFunc:        func(id int64, _ *corev3.Node) { t.close(id) },
		DeltaStreamOpenFunc:     func(_ context.Context, id int64, _ string) error { return t.open(id, true) },
		DeltaStreamClosedFunc:   func(id int64, _ *corev3.Node) { t.close(id) },
		StreamRequestFunc:       t.onRequest,
		StreamResponseFunc:      t.onResponse,
		StreamDeltaRequestFunc:  t.onDeltaRequest,
		StreamDeltaResponseFunc: t.onDeltaResponse,
	}
}

func (t *streamTracker) open(id int64, delta bool) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.streams[id] = &stream{delta: delta, connected: time.Now(), types: map[string]*TypeStatus{}, nonces: map[string]string{}}
	t.metrics.streams.WithLabelValues(modeName(delta)).Inc()
	return nil
}

func (t *streamTracker) close(id int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.streams[id]; ok {
		t.metrics.streams.WithLabelValues(modeName(s.delta)).Dec()
		delete(t.streams, id)
	}
}

// seeNode records the node of a stream's first request and reports whether
// it is new.
func (t *streamTracker) seeNode(id int64, node *corev3.Node) (*stream, bool) {
	s := t.streams[id]
	if s == nil {
		return nil, false
	}
	if s.node == nil && node != nil {
		s.node = node
		return s, true
	}
	return s, false
}

func (t *streamTracker) onRequest(id int64, req *discoveryv3.DiscoveryRequest) error {
	t.mu.Lock()
	s, isNew := t.seeNode(id, req.GetNode())
	if s != nil && req.GetResponseNonce() != "" {
		t.record(s, req.GetTypeUrl(), req.GetVersionInfo(), req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	}
	if s != nil && req.GetResponseNonce() == "" && req.GetVersionInfo() != "" {
		t.holds(s, req.GetTypeUrl(), req.GetVersionInfo()) // a reconnect: what it accepted before
	}
	t.mu.Unlock()
	if isNew {
		t.newGroup(s.node.GetCluster())
	}
	return nil
}

func (t *streamTracker) onResponse(_ context.Context, id int64, _ *discoveryv3.DiscoveryRequest, resp *discoveryv3.DiscoveryResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.streams[id]; s != nil {
		t.status(s, resp.GetTypeUrl()).Sent = resp.GetVersionInfo()
		t.metrics.responses.WithLabelValues(TypeName(resp.GetTypeUrl())).Inc()
	}
}

func (t *streamTracker) onDeltaRequest(id int64, req *discoveryv3.DeltaDiscoveryRequest) error {
	t.mu.Lock()
	s, isNew := t.seeNode(id, req.GetNode())
	if s != nil && req.GetResponseNonce() != "" {
		version := s.nonces[req.GetResponseNonce()]
		delete(s.nonces, req.GetResponseNonce())
		t.record(s, req.GetTypeUrl(), version, req.GetErrorDetail().GetMessage(), req.GetErrorDetail() != nil)
	}
	if s != nil && req.GetResponseNonce() == "" && len(req.GetInitialResourceVersions()) > 0 {
		t.holds(s, req.GetTypeUrl(), heldVersion(req.GetInitialResourceVersions()))
	}
	t.mu.Unlock()
	if isNew {
		t.newGroup(s.node.GetCluster())
	}
	return nil
}

func (t *streamTracker) onDeltaResponse(id int64, _ *discoveryv3.DeltaDiscoveryRequest, resp *discoveryv3.DeltaDiscoveryResponse) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.streams[id]; s != nil {
		t.status(s, resp.GetTypeUrl()).Sent = resp.GetSystemVersionInfo()
		s.nonces[resp.GetNonce()] = resp.GetSystemVersionInfo()
		t.metrics.responses.WithLabelValues(TypeName(resp.GetTypeUrl())).Inc()
	}
}

// record notes an ACK or a NACK; the caller holds t.mu.
func (t *streamTracker) record(s *stream, typeURL, version, nackMsg string, nack bool) {
	st := t.status(s, typeURL)
	typ := TypeName(typeURL)
	if nack {
		st.NackError = nackMsg
		t.metrics.nacks.WithLabelValues(typ).Inc()
		t.log.Warn("config rejected by Envoy", zap.String("node-id", s.node.GetId()), zap.String("group", s.node.GetCluster()),
			zap.String("type", typ), zap.String("version", version), zap.String("error", nackMsg))
		return
	}
	st.Acked, st.NackError = version, ""
	t.metrics.acks.WithLabelValues(typ).Inc()
}

// holds records the version a reconnecting node says it already has, as if
// ACKed: a replica that finds nothing to send sends nothing, and without this
// the node would look as if it held nothing. The caller holds t.mu.
func (t *streamTracker) holds(s *stream, typeURL, version string) {
	if st := t.status(s, typeURL); st.Acked == "" {
		st.Acked = version
	}
}

func (t *streamTracker) status(s *stream, typeURL string) *TypeStatus {
	typ := TypeName(typeURL)
	st := s.types[typ]
	if st == nil {
		st = &TypeStatus{}
		s.types[typ] = st
	}
	return st
}

// groups lists the groups of the nodes connected now.
func (t *streamTracker) groups() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	seen := map[string]bool{}
	var out []string
	for _, s := range t.streams {
		if g := s.node.GetCluster(); s.node != nil && !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

// proxies returns every connected node, sorted by node id.
func (t *streamTracker) proxies() []ProxyStatus {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]ProxyStatus, 0, len(t.streams))
	for _, s := range t.streams {
		if s.node == nil {
			continue
		}
		p := ProxyStatus{NodeID: s.node.GetId(), Group: s.node.GetCluster(), Delta: s.delta, Connected: s.connected, Types: map[string]TypeStatus{}}
		for typ, st := range s.types {
			p.Types[typ] = *st
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

func modeName(delta bool) string {
	if delta {
		return "delta"
	}
	return "sotw"
}
