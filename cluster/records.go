package cluster

import "time"

// ReplicaRecord is what a replica says about itself at replicas/<id>, under
// its own lease: it vanishes when the replica does.
type ReplicaRecord struct {
	ID      string    `json:"id"`
	Address string    `json:"address"` // the xDS address Envoys reach it at
	Version string    `json:"version"` // the chancery build
	Started time.Time `json:"started"`
	// Admin is its admin address (host:port), where the other replicas ask
	// how it hears from etcd (docs/readiness.md); "" if it does not say.
	Admin string `json:"admin,omitempty"`
	// Revision is the etcd revision of the snapshot the replica serves.
	Revision int64 `json:"revision"`
	// Versions are the versions it serves: node group -> xDS type -> version.
	// They are content hashes, identical on every replica at one revision, so
	// `chanceryctl status` compares each Envoy's ACKed versions with them.
	Versions map[string]map[string]string `json:"versions,omitempty"`
}

// Proxy is one Envoy connected to a replica, as the replica publishes it at
// proxies/<replica>/<group>/<node-id>, under its own lease.
type Proxy struct {
	NodeID    string                `json:"-"` // in the key
	Group     string                `json:"group"`
	Delta     bool                  `json:"delta"`
	Connected time.Time             `json:"connected"`
	Types     map[string]TypeRecord `json:"types"` // short type name ("clusters", ...) -> state
}

// TypeRecord is what one Envoy holds of one xDS type.
type TypeRecord struct {
	Sent      string `json:"sent,omitempty"`       // version of the last response sent
	Acked     string `json:"acked,omitempty"`      // version the Envoy last accepted
	NackError string `json:"nack_error,omitempty"` // its last rejection, cleared by an ACK
}

// ServedVersion stands, in a published proxy record, for "the version the
// replica serves now", which its own record names. A proxy that is in sync
// then keeps the same record from one change to the next: a push to ten
// thousand Envoys that all ACK it writes nothing to etcd, instead of ten
// thousand records.
const ServedVersion = "served"

// MaxTypes is how many xDS types a ProxyState holds: as many as Chancery
// serves.
const MaxTypes = 5

// ProxyState is one xDS stream of a connected Envoy, as Config.Proxies
// reports it: a Proxy without a map, so that the publisher can look at ten
// thousand of them every interval, and compare each with what it wrote,
// without allocating.
type ProxyState struct {
	NodeID    string
	Group     string
	Delta     bool
	Connected time.Time
	// Types holds one entry per type the stream has sent or been told of,
	// in the same order on every call; the rest have no Name.
	Types [MaxTypes]TypeState
}

// TypeState is what one Envoy holds of the type Name.
type TypeState struct {
	Name string
	TypeRecord
}

// set records st under its name: in the entry of that name, or else the
// first free one (there is one: MaxTypes covers every type served).
func (p *ProxyState) set(st TypeState) {
	free := -1
	for i := range p.Types {
		switch p.Types[i].Name {
		case st.Name:
			p.Types[i] = st
			return
		case "":
			if free < 0 {
				free = i
			}
		}
	}
	if free >= 0 {
		p.Types[free] = st
	}
}

// abbreviated is the state as it is published: each type the Envoy holds at
// the served version, with nothing pending, stands as ServedVersion. The
// time loses its monotonic reading and location, so that equal states
// compare equal with ==.
func (p ProxyState) abbreviated(served map[string]map[string]string) ProxyState {
	p.Connected = p.Connected.Round(0).UTC()
	versions := served[p.Group]
	for i := range p.Types {
		t := &p.Types[i]
		if t.Name == "" {
			continue
		}
		if v := versions[t.Name]; v != "" && t.NackError == "" && t.Acked == v && (t.Sent == v || t.Sent == "") {
			t.TypeRecord = TypeRecord{Acked: ServedVersion}
		}
	}
	return p
}

// servedMoves reports whether p, as written, says "served" for a type
// whose served version moves from before to after: the record would then
// say something else than when it was written.
func (p *ProxyState) servedMoves(before, after map[string]map[string]string) bool {
	for i := range p.Types {
		t := &p.Types[i]
		if t.Name != "" && t.Acked == ServedVersion && before[p.Group][t.Name] != after[p.Group][t.Name] {
			return true
		}
	}
	return false
}

// rejected reports whether the Envoy's last answer for some type was a
// rejection.
func (p *ProxyState) rejected() bool {
	for i := range p.Types {
		if p.Types[i].NackError != "" {
			return true
		}
	}
	return false
}

// record is the state as a Proxy, the form written to etcd.
func (p *ProxyState) record() Proxy {
	out := Proxy{NodeID: p.NodeID, Group: p.Group, Delta: p.Delta, Connected: p.Connected, Types: map[string]TypeRecord{}}
	for _, t := range p.Types {
		if t.Name != "" {
			out.Types[t.Name] = t.TypeRecord
		}
	}
	return out
}

// expanded undoes abbreviated, with the versions the replica serves.
func (p Proxy) expanded(served map[string]map[string]string) Proxy {
	for typ, rec := range p.Types {
		if rec.Acked == ServedVersion {
			v := served[p.Group][typ]
			p.Types[typ] = TypeRecord{Sent: v, Acked: v}
		}
	}
	return p
}
