// Package registry is the replicas' registrations: each replica's record at
// replicas/<id>, written under its own lease by its publisher
// (cluster/fleet), read by the fleet view and by the other replicas'
// readiness (cluster/readiness).
package registry

import (
	"encoding/json"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Record is what a replica says about itself at replicas/<id>, under its
// own lease: it vanishes when the replica does.
type Record struct {
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

// Decode reads the record kv holds; the error names the key.
func Decode(kv *mvccpb.KeyValue) (Record, error) {
	var rec Record
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return Record{}, fmt.Errorf("decode %s: %w", kv.Key, err)
	}
	return rec, nil
}
