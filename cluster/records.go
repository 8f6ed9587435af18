package cluster

import "time"

// ReplicaRecord is what a replica says about itself at replicas/<id>, under
// its own lease: it vanishes when the replica does.
type ReplicaRecord struct {
	ID      string    `json:"id"`
	Address string    `json:"address"` // the xDS address Envoys reach it at
	Version string    `json:"version"` // the chancery build
	Started time.Time `json:"started"`
	// Revision is the etcd revision of the snapshot the replica serves.
	Revision int64 `json:"revision"`
	// Versions are the versions it serves: node group -> xDS type -> version.
	// They are content hashes, identical on every replica at one revision, so
	// `chanceryctl status` compares each Envoy's ACKed versions with them.
	Versions map[string]map[string]string `json:"versions,omitempty"`
}

// Proxy is one Envoy connected to a replica, as the replica publishes it at
// proxies/<replica>/<node-id>, under its own lease.
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

// abbreviate turns the record into what is published: each type the Envoy
// holds at the served version, with nothing pending, is written as
// ServedVersion. It changes p.Types in place.
func (p Proxy) abbreviate(served map[string]map[string]string) Proxy {
	versions := served[p.Group]
	for typ, rec := range p.Types {
		if v := versions[typ]; v != "" && rec.NackError == "" && rec.Acked == v && (rec.Sent == v || rec.Sent == "") {
			p.Types[typ] = TypeRecord{Acked: ServedVersion}
		}
	}
	return p
}

// rejected reports whether the Envoy's last answer for some type was a
// rejection.
func (p Proxy) rejected() bool {
	for _, rec := range p.Types {
		if rec.NackError != "" {
			return true
		}
	}
	return false
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
