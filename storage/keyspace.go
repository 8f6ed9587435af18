// Package storage is Chancery's etcd keyspace: where each object lives, the
// watcher that turns the keyspace into model snapshots, and the writes the
// CLI and the cluster make.
package storage

import (
	"strings"

	"github.com/chancery-xds/chancery/storage/model"
)

// DefaultPrefix is the keyspace prefix unless configured otherwise.
const DefaultPrefix = "/chancery/v1"

// Keyspace maps objects to etcd keys below one prefix.
type Keyspace struct {
	prefix string // without a trailing slash
}

// NewKeyspace returns the keyspace below prefix ("" means DefaultPrefix).
func NewKeyspace(prefix string) Keyspace {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Keyspace{prefix: strings.TrimSuffix(prefix, "/")}
}

// Prefix is the keyspace's prefix, with a trailing slash, for range reads.
func (k Keyspace) Prefix() string { return k.prefix + "/" }

// Key is the etcd key of one object: "<prefix>/services/web".
func (k Keyspace) Key(ref model.Ref) string { return k.prefix + "/" + ref.String() }

// KindPrefix is the key prefix of every object of one kind, with a trailing slash.
func (k Keyspace) KindPrefix(kind model.Kind) string { return k.prefix + "/" + kind.Segment() + "/" }

// Parse tells which object a key holds. Keys of the keyspace that hold no
// model object (replica and proxy status, ...) report false.
func (k Keyspace) Parse(key string) (model.Ref, bool) {
	rest, ok := strings.CutPrefix(key, k.prefix+"/")
	if !ok {
		return model.Ref{}, false
	}
	seg, name, ok := strings.Cut(rest, "/")
	if !ok {
		return model.Ref{}, false
	}
	kind, ok := model.KindForSegment(seg)
	if !ok {
		return model.Ref{}, false
	}
	return model.Ref{Kind: kind, Name: name}, true
}
