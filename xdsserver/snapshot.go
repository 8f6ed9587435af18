package xdsserver

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/translator"
)

// The xDS types Chancery serves, in the order Envoy applies them.
var servedTypes = []resourcev3.Type{
	resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType,
}

// typeNames are the short names used in versions, logs and metrics.
var typeNames = map[resourcev3.Type]string{
	resourcev3.ClusterType:  "clusters",
	resourcev3.EndpointType: "endpoints",
	resourcev3.ListenerType: "listeners",
	resourcev3.RouteType:    "routes",
}

// TypeName is the short name of an xDS type URL ("clusters", ...), or the URL
// itself for a type Chancery does not serve.
func TypeName(typeURL string) string {
	if n, ok := typeNames[typeURL]; ok {
		return n
	}
	return typeURL
}

// validatable is what Envoy's generated protos implement.
type validatable interface {
	ValidateAll() error
}

// encoded is one resource marshalled once: its content hash is its delta
// version, and feeds the version of its (group, type).
type encoded struct {
	hash string
	err  error
}

// encoder marshals, hashes and validates each distinct resource once per
// publish, however many groups share it.
type encoder struct {
	seen map[proto.Message]encoded
}

func newEncoder() *encoder { return &encoder{seen: map[proto.Message]encoded{}} }

func (e *encoder) encode(m proto.Message) encoded {
	if enc, ok := e.seen[m]; ok {
		return enc
	}
	var enc encoded
	if v, ok := m.(validatable); ok {
		enc.err = v.ValidateAll()
	}
	if enc.err == nil {
		b, err := cachev3.MarshalResource(m)
		if err != nil {
			enc.err = err
		} else {
			enc.hash = cachev3.HashResource(b)
		}
	}
	e.seen[m] = enc
	return enc
}

// groupSnapshot is one node group's snapshot with its versions.
type groupSnapshot struct {
	snapshot *cachev3.Snapshot
	versions map[string]string // short type name -> version
}

// buildSnapshot turns one group's resources into a consistent, validated
// snapshot. The version of each type is a hash of the name-sorted resource
// names and content hashes, so every replica computes the same versions from
// the same etcd content, and a type whose resources did not change keeps its
// version.
func buildSnapshot(enc *encoder, g *translator.GroupResources) (*groupSnapshot, error) {
	byType := map[resourcev3.Type][]types.Resource{}
	if g != nil {
		byType = map[resourcev3.Type][]types.Resource{
			resourcev3.ClusterType:  asResources(g.Clusters),
			resourcev3.EndpointType: asResources(g.Endpoints),
			resourcev3.ListenerType: asResources(g.Listeners),
			resourcev3.RouteType:    asResources(g.Routes),
		}
	}
	snap := &cachev3.Snapshot{VersionMap: map[string]map[string]string{}}
	versions := map[string]string{}
	for _, typ := range servedTypes {
		items := byType[typ]
		h := sha256.New()
		hashes := make(map[string]string, len(items))
		for _, r := range items {
			name := cachev3.GetResourceName(r)
			enc := enc.encode(r)
			if enc.err != nil {
				return nil, fmt.Errorf("%s %q: %w", TypeName(typ), name, enc.err)
			}
			hashes[name] = enc.hash
			writeField(h, name)
			writeField(h, enc.hash)
		}
		version := hex.EncodeToString(h.Sum(nil))[:16]
		snap.Resources[cachev3.GetResponseType(typ)] = cachev3.NewResources(version, items)
		snap.VersionMap[typ] = hashes
		versions[TypeName(typ)] = version
	}
	if err := snap.Consistent(); err != nil {
		return nil, fmt.Errorf("inconsistent snapshot: %w", err)
	}
	return &groupSnapshot{snapshot: snap, versions: versions}, nil
}

// writeField writes a length-prefixed string, so that no two different
// lists of fields hash alike.
func writeField(h interface{ Write([]byte) (int, error) }, s string) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(s)))
	h.Write(n[:])
	h.Write([]byte(s))
}

func asResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
