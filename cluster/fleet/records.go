package fleet

import (
	"time"

	"github.com/chancery-xds/chancery/internal/proxystate"
)

// Proxy is one Envoy connected to a replica, as the replica publishes it at
// proxies/<replica>/<group>/<node-id>, under its own lease.
type Proxy struct {
	NodeID    string                           `json:"-"` // in the key
	Group     string                           `json:"group"`
	Delta     bool                             `json:"delta"`
	Connected time.Time                        `json:"connected"`
	Types     map[string]proxystate.TypeStatus `json:"types"` // short type name ("clusters", ...) -> state
}

// servedVersion stands, in a published proxy record, for "the version the
// replica serves now", which its own record names. A proxy that is in sync
// then keeps the same record from one change to the next: a push that every
// Envoy ACKs rewrites the replica's own registration and no proxy record.
const servedVersion = "served"

// abbreviated is p as it is published: each type the Envoy holds at the
// served version, with nothing pending, stands as servedVersion. The time
// loses its monotonic reading and location, so that equal states compare
// equal with ==.
func abbreviated(p proxystate.Proxy, served map[string]map[string]string) proxystate.Proxy {
	p.Connected = p.Connected.Round(0).UTC()
	versions := served[p.Group]
	for i := range p.Types {
		t := &p.Types[i]
		if *t == (proxystate.TypeStatus{}) {
			continue
		}
		if v := versions[proxystate.Type(i).String()]; v != "" && t.NackError == "" && t.Acked == v && (t.Sent == v || t.Sent == "") {
			*t = proxystate.TypeStatus{Acked: servedVersion}
		}
	}
	return p
}

// servedMoves reports whether p, as written, says "served" for a type
// whose served version moves from before to after: the record would then
// say something else than when it was written.
func servedMoves(p *proxystate.Proxy, before, after map[string]map[string]string) bool {
	for i := range p.Types {
		name := proxystate.Type(i).String()
		if p.Types[i].Acked == servedVersion && before[p.Group][name] != after[p.Group][name] {
			return true
		}
	}
	return false
}

// rejected reports whether the Envoy's last answer for some type was a
// rejection.
func rejected(p *proxystate.Proxy) bool {
	for i := range p.Types {
		if p.Types[i].NackError != "" {
			return true
		}
	}
	return false
}

// recordOf is p as a Proxy, the form written to etcd: the types it holds
// something of, by name.
func recordOf(p *proxystate.Proxy) Proxy {
	out := Proxy{NodeID: p.NodeID, Group: p.Group, Delta: p.Delta, Connected: p.Connected, Types: map[string]proxystate.TypeStatus{}}
	for i, t := range p.Types {
		if t != (proxystate.TypeStatus{}) {
			out.Types[proxystate.Type(i).String()] = t
		}
	}
	return out
}

// expanded undoes abbreviated, with the versions the replica serves.
func (p Proxy) expanded(served map[string]map[string]string) Proxy {
	for typ, rec := range p.Types {
		if rec.Acked == servedVersion {
			v := served[p.Group][typ]
			p.Types[typ] = proxystate.TypeStatus{Sent: v, Acked: v}
		}
	}
	return p
}
