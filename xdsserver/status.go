package xdsserver

import (
	"sort"
	"time"
)

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

// StatusGeneration changes whenever what Proxies returns changes: a stream
// names its node, is sent a response, is ACKed or NACKed, or closes.
func (s *Server) StatusGeneration() uint64 { return s.streams.generation.Load() }

// Proxies returns every Envoy connected to this replica, sorted by node id.
func (s *Server) Proxies() []ProxyStatus {
	s.streams.mu.Lock()
	streams := make([]*stream, 0, len(s.streams.all))
	for _, st := range s.streams.all {
		streams = append(streams, st)
	}
	s.streams.mu.Unlock()
	out := make([]ProxyStatus, 0, len(streams))
	for _, st := range streams {
		st.statusMu.Lock()
		if st.node != nil {
			p := ProxyStatus{NodeID: st.node.GetId(), Group: st.node.GetCluster(), Delta: st.delta, Connected: st.connected, Types: map[string]TypeStatus{}}
			for typ, ts := range st.status {
				if ts != (TypeStatus{}) {
					p.Types[typeNames[typ]] = ts
				}
			}
			out = append(out, p)
		}
		st.statusMu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}
