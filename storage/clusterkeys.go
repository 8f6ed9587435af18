package storage

import (
	"encoding/json"
	"strings"

	"github.com/chancery-xds/chancery/storage/model"
)

// The segments of the keys the replicas write about themselves. None of them
// holds a model object, so the watcher sees them and rebuilds nothing.
const (
	replicasSegment = "replicas"
	proxiesSegment  = "proxies"
	statusSegment   = "status"
	leaderSegment   = "leader"
)

// ReplicaKey is where replica id registers itself: "<prefix>/replicas/<id>".
func (k Keyspace) ReplicaKey(id string) string { return k.ReplicasPrefix() + id }

// ReplicasPrefix is the prefix of every replica's registration, with a trailing slash.
func (k Keyspace) ReplicasPrefix() string { return k.prefix + "/" + replicasSegment + "/" }

// ProxyKey is where a replica publishes one connected Envoy:
// "<prefix>/proxies/<replica>/<node-id>". A node id may contain '/'; a
// replica id may not, so the key still parses.
func (k Keyspace) ProxyKey(replica, nodeID string) string {
	return k.ReplicaProxiesPrefix(replica) + nodeID
}

// ProxiesPrefix is the prefix of every replica's proxies, with a trailing slash.
func (k Keyspace) ProxiesPrefix() string { return k.prefix + "/" + proxiesSegment + "/" }

// ReplicaProxiesPrefix is the prefix of one replica's proxies, with a trailing slash.
func (k Keyspace) ReplicaProxiesPrefix(replica string) string {
	return k.ProxiesPrefix() + replica + "/"
}

// ParseProxyKey splits a key of ProxiesPrefix into the replica and the node id.
func (k Keyspace) ParseProxyKey(key string) (replica, nodeID string, ok bool) {
	rest, ok := strings.CutPrefix(key, k.ProxiesPrefix())
	if !ok {
		return "", "", false
	}
	replica, nodeID, ok = strings.Cut(rest, "/")
	return replica, nodeID, ok && replica != "" && nodeID != ""
}

// StatusKey is where the elected leader records its verdict on one object:
// "<prefix>/status/services/web", the object's own key with "status/" in front.
func (k Keyspace) StatusKey(ref model.Ref) string { return k.StatusPrefix() + ref.String() }

// StatusPrefix is the prefix of every object status, with a trailing slash.
func (k Keyspace) StatusPrefix() string { return k.prefix + "/" + statusSegment + "/" }

// ParseStatusKey tells which object a key of StatusPrefix is about.
func (k Keyspace) ParseStatusKey(key string) (model.Ref, bool) {
	rest, ok := strings.CutPrefix(key, k.StatusPrefix())
	if !ok {
		return model.Ref{}, false
	}
	return k.Parse(k.prefix + "/" + rest)
}

// ElectionPrefix is the prefix replicas campaign on, without a trailing
// slash, as concurrency.NewElection takes it; the candidates' keys are
// "<prefix>/leader/<lease-id>".
func (k Keyspace) ElectionPrefix() string { return k.prefix + "/" + leaderSegment }

// Object states recorded under StatusPrefix.
const (
	StatusAccepted = "accepted"
	StatusRejected = "rejected"
)

// ObjectStatus is the elected leader's verdict on one operator object, the
// value of StatusKey: accepted, or rejected with the reason. Revision is the
// etcd revision of the snapshot in which the object reached this state.
type ObjectStatus struct {
	State    string `json:"state"`
	Reason   string `json:"reason,omitempty"`
	Revision int64  `json:"revision"`
	// Serving, on a rejected object, is the last accepted version that every
	// replica serves in its place. It keeps that version beyond etcd's
	// compaction of the key's history (docs/bad-writes.md).
	Serving *ServingRecord `json:"serving,omitempty"`
}

// ServingRecord is the last accepted version of an object, recorded for the
// rejected live value it stands in for.
type ServingRecord struct {
	Revision int64           `json:"revision"` // mod revision of the accepted version
	For      int64           `json:"for"`      // mod revision of the rejected live value
	Value    json.RawMessage `json:"value"`
}

// Same reports whether two verdicts say the same thing, whatever revision
// each was reached at.
func (st ObjectStatus) Same(o ObjectStatus) bool {
	if st.State != o.State || st.Reason != o.Reason || (st.Serving == nil) != (o.Serving == nil) {
		return false
	}
	return st.Serving == nil || (st.Serving.Revision == o.Serving.Revision && st.Serving.For == o.Serving.For)
}
