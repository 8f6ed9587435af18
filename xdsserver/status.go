package xdsserver

import (
	"sort"
	"time"

	"github.com/chancery-xds/chancery/internal/proxystate"
)

// ProxyStatus is one connected Envoy as this replica sees it.
type ProxyStatus struct {
	NodeID    string                           `json:"node_id"`
	Group     string                           `json:"group"`
	Delta     bool                             `json:"delta"`
	Connected time.Time                        `json:"connected"`
	Types     map[string]proxystate.TypeStatus `json:"types"`
}

// StatusGeneration changes whenever what Proxies returns changes: a stream
// names its node, is sent a response, is ACKed or NACKed, or closes.
func (s *Server) StatusGeneration() uint64 { return s.streams.generation.Load() }

// TypeNames are the short names of the served types, in the order of
// proxystate.Proxy.Types.
func TypeNames() []string { return typeNames[:] }

// EachProxy calls fn with the state of every stream that has named its
// node, in no particular order. fn must not keep the pointer. Nothing is
// allocated per stream: a replica looks at its ten thousand Envoys every
// publish interval while they change.
func (s *Server) EachProxy(fn func(*proxystate.Proxy)) {
	s.streams.mu.Lock()
	streams := make([]*stream, 0, len(s.streams.all))
	for _, st := range s.streams.all {
		streams = append(streams, st)
	}
	s.streams.mu.Unlock()
	var p proxystate.Proxy
	for _, st := range streams {
		st.statusMu.Lock()
		named := st.node != nil
		if named {
			p = proxystate.Proxy{NodeID: st.node.GetId(), Group: st.node.GetCluster(), Delta: st.delta, Connected: st.connected, Types: st.status}
		}
		st.statusMu.Unlock()
		if named {
			fn(&p)
		}
	}
}

// Proxies returns every Envoy connected to this replica, sorted by node id
// and group: a node id reused in another group is another Envoy.
func (s *Server) Proxies() []ProxyStatus {
	out := []ProxyStatus{}
	s.EachProxy(func(st *proxystate.Proxy) {
		p := ProxyStatus{NodeID: st.NodeID, Group: st.Group, Delta: st.Delta, Connected: st.Connected, Types: map[string]proxystate.TypeStatus{}}
		for typ, ts := range st.Types {
			if ts != (proxystate.TypeStatus{}) {
				p.Types[typeNames[typ]] = ts
			}
		}
		out = append(out, p)
	})
	sort.Slice(out, func(i, j int) bool {
		return out[i].NodeID < out[j].NodeID || out[i].NodeID == out[j].NodeID && out[i].Group < out[j].Group
	})
	return out
}
