package storage

import (
	"encoding/json"
	"net/url"
	"strings"
	"time"

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
// "<prefix>/proxies/<replica>/<group>/<node-id>", the group path-escaped.
// An Envoy is its group and its node id: the same node id in two groups
// is two Envoys. A node id may contain '/'; a replica id may not, nor an
// escaped group, so the key still parses.
func (k Keyspace) ProxyKey(replica, group, nodeID string) string {
	return k.ReplicaProxiesPrefix(replica) + url.PathEscape(group) + "/" + nodeID
}

// ProxiesPrefix is the prefix of every replica's proxies, with a trailing slash.
func (k Keyspace) ProxiesPrefix() string { return k.prefix + "/" + proxiesSegment + "/" }

// ReplicaProxiesPrefix is the prefix of one replica's proxies, with a trailing slash.
func (k Keyspace) ReplicaProxiesPrefix(replica string) string {
	return k.ProxiesPrefix() + replica + "/"
}

// ParseProxyKey splits a key of ProxiesPrefix into the replica and the
// node id; group is the one the record's value names. Replicas before
// groups were in the key wrote "<prefix>/proxies/<replica>/<node-id>":
// a key whose group segment is not group is one of those, and all that
// follows the replica is the node id.
func (k Keyspace) ParseProxyKey(key, group string) (replica, nodeID string, ok bool) {
	tail, ok := strings.CutPrefix(key, k.ProxiesPrefix())
	if !ok {
		return "", "", false
	}
	replica, rest, ok := strings.Cut(tail, "/")
	if !ok || replica == "" || rest == "" {
		return "", "", false
	}
	if node, ok := strings.CutPrefix(rest, url.PathEscape(group)+"/"); ok && node != "" {
		return replica, node, true
	}
	return replica, rest, true
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
	// NotAfter, on an accepted secret, is the earliest expiry of its
	// certificates (model.Secret.NotAfter).
	NotAfter time.Time `json:"not_after,omitzero"`
}

// ServingRecord is the last accepted version of an object, recorded for the
// rejected live value it stands in for.
type ServingRecord struct {
	Revision int64 `json:"revision"` // mod revision of the accepted version
	For      int64 `json:"for"`      // mod revision of the rejected live value
	// Value is the accepted version, except for a secret: a private key
	// is not copied into status/, so a secret falls back on etcd's
	// history alone.
	Value json.RawMessage `json:"value,omitempty"`
}

// Same reports whether two verdicts say the same thing, whatever revision
// each was reached at.
func (st ObjectStatus) Same(o ObjectStatus) bool {
	if st.State != o.State || st.Reason != o.Reason || !st.NotAfter.Equal(o.NotAfter) || (st.Serving == nil) != (o.Serving == nil) {
		return false
	}
	// A record with a value differs from one without: a secret's value
	// that an older leader recorded is rewritten away.
	return st.Serving == nil || (st.Serving.Revision == o.Serving.Revision && st.Serving.For == o.Serving.For &&
		(len(st.Serving.Value) == 0) == (len(o.Serving.Value) == 0))
}
