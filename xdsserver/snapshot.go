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
	hash  string
	err   error
	gen   uint64        // the last publish that used it
	shell proto.Message // what streams marshal: a copy of the bytes (wire.go)
}

// encoder marshals, hashes and validates each distinct resource once, however
// many groups share it, and remembers the result across publishes for as long
// as the resource (the same pointer; the translator's memo reuses them) is
// still published.
type encoder struct {
	seen  map[proto.Message]*encoded
	gen   uint64
	types []*builtType // this publish's built types, shared by groups that have the same resources
	items map[*translator.GroupResources]map[resourcev3.Type][]types.Resource
}

// itemsOf lists a group's resources by type, once per publish for groups
// that share their GroupResources.
func (e *encoder) itemsOf(g *translator.GroupResources) map[resourcev3.Type][]types.Resource {
	if g == nil {
		return map[resourcev3.Type][]types.Resource{}
	}
	if m, ok := e.items[g]; ok {
		return m
	}
	m := map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  asResources(g.Clusters),
		resourcev3.EndpointType: asResources(g.Endpoints),
		resourcev3.ListenerType: asResources(g.Listeners),
		resourcev3.RouteType:    asResources(g.Routes),
	}
	e.items[g] = m
	return m
}

// builtType is one type's resources as a snapshot holds them.
type builtType struct {
	items     []types.Resource
	resources cachev3.Resources // the resources themselves, for consistency checks and debugging
	wire      cachev3.Resources // what the cache serves: the same, marshalled once
	hashes    map[string]string
	version   string
	// base is the build this one replaced and sameNames whether both hold
	// the same names, worked out once for every group that shares them.
	base      *builtType
	sameNames bool
}

func newEncoder() *encoder {
	e := &encoder{seen: map[proto.Message]*encoded{}}
	e.begin()
	return e
}

// begin starts a publish; prune, after it, forgets what it did not use.
func (e *encoder) begin() {
	e.gen++
	e.types = nil
	e.items = map[*translator.GroupResources]map[resourcev3.Type][]types.Resource{}
}

func (e *encoder) prune() {
	for m, enc := range e.seen {
		if enc.gen != e.gen {
			delete(e.seen, m)
		}
	}
}

func (e *encoder) encode(m proto.Message) *encoded {
	if enc, ok := e.seen[m]; ok {
		enc.gen = e.gen
		return enc
	}
	enc := &encoded{gen: e.gen}
	if v, ok := m.(validatable); ok {
		enc.err = v.ValidateAll()
	}
	if enc.err == nil {
		b, err := cachev3.MarshalResource(m)
		if err != nil {
			enc.err = err
		} else {
			enc.hash, enc.shell = cachev3.HashResource(b), m
			if shell, ok := wireShell(m, b); ok {
				// go-control-plane reports the hash of what it sends as the
				// delta resource version; make ours the same.
				if sb, err := cachev3.MarshalResource(shell); err == nil {
					enc.hash, enc.shell = cachev3.HashResource(sb), shell
				}
			}
		}
	}
	e.seen[m] = enc
	return enc
}

// groupSnapshot is one node group's snapshot with its versions.
type groupSnapshot struct {
	snapshot *cachev3.Snapshot
	versions map[string]string // short type name -> version
	built    map[resourcev3.Type]*builtType
}

// buildSnapshot turns one group's resources into a consistent, validated
// snapshot. The version of each type is a hash of the name-sorted resource
// names and content hashes, so every replica computes the same versions from
// the same etcd content, and a type whose resources did not change keeps its
// version. A type made of the very resources of prev's is taken from prev
// as it is: after one endpoint write, only the endpoints are rebuilt.
func buildSnapshot(enc *encoder, g *translator.GroupResources, prev *groupSnapshot) (*groupSnapshot, error) {
	byType := enc.itemsOf(g)
	next := &groupSnapshot{
		snapshot: &cachev3.Snapshot{VersionMap: map[string]map[string]string{}},
		versions: map[string]string{},
		built:    map[resourcev3.Type]*builtType{},
	}
	namesChanged := prev == nil
	for _, typ := range servedTypes {
		idx := cachev3.GetResponseType(typ)
		items := byType[typ]
		var from *builtType
		if prev != nil {
			from = prev.built[typ]
		}
		built, err := enc.buildType(typ, items, from)
		if err != nil {
			return nil, err
		}
		if from == nil || (from != built && !namesKept(from, built)) {
			namesChanged = true
		}
		next.built[typ] = built
		next.snapshot.Resources[idx] = built.wire
		next.snapshot.VersionMap[typ] = built.hashes
		next.versions[TypeName(typ)] = built.version
	}
	// References between types change only when some type's names do.
	if namesChanged {
		if err := next.consistent(); err != nil {
			return nil, fmt.Errorf("inconsistent snapshot: %w", err)
		}
	}
	return next, nil
}

// consistent runs go-control-plane's reference check on the resources
// themselves: the shells the cache serves hold only names.
func (g *groupSnapshot) consistent() error {
	real := &cachev3.Snapshot{}
	for typ, b := range g.built {
		real.Resources[cachev3.GetResponseType(typ)] = b.resources
	}
	return real.Consistent()
}

// buildType encodes one type's resources and computes its version. It
// reuses what this publish built for another group with the same resources
// (the translator shares resource pointers between groups), or prev, the
// group's last build of the type, when its resources are the very same:
// after one endpoint write, only the endpoints are built again.
func (e *encoder) buildType(typ resourcev3.Type, items []types.Resource, prev *builtType) (*builtType, error) {
	for _, b := range e.types {
		if samePointers(b.items, items) {
			return b, nil
		}
	}
	if prev != nil && samePointers(prev.items, items) {
		for _, r := range items {
			e.encode(r) // keeps the encodings for the next publish
		}
		e.types = append(e.types, prev)
		return prev, nil
	}
	h := sha256.New()
	hashes := make(map[string]string, len(items))
	shells := make([]types.Resource, len(items))
	for i, r := range items {
		name := cachev3.GetResourceName(r)
		enc := e.encode(r)
		if enc.err != nil {
			return nil, fmt.Errorf("%s %q: %w", TypeName(typ), name, enc.err)
		}
		shells[i] = enc.shell
		hashes[name] = enc.hash
		writeField(h, name)
		writeField(h, enc.hash)
	}
	version := hex.EncodeToString(h.Sum(nil))[:16]
	b := &builtType{
		items: items, resources: cachev3.NewResources(version, items), wire: cachev3.NewResources(version, shells),
		hashes: hashes, version: version, base: prev,
	}
	b.sameNames = prev != nil && sameNames(prev.hashes, hashes)
	e.types = append(e.types, b)
	return b, nil
}

func samePointers(a, b []types.Resource) bool {
	if len(a) != len(b) {
		return false
	}
	if len(a) == 0 || &a[0] == &b[0] {
		return true
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// namesKept reports whether built holds the same names as from.
func namesKept(from, built *builtType) bool {
	if built.base == from {
		return built.sameNames
	}
	return sameNames(from.hashes, built.hashes)
}

func sameNames(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for name := range a {
		if _, ok := b[name]; !ok {
			return false
		}
	}
	return true
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
