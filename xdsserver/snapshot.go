package xdsserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"sync/atomic"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/translator"
)

// typeIdx numbers the served types, in the order a stream sends them:
// clusters before their endpoints, listeners before their routes, as Envoy
// applies them.
type typeIdx int

const (
	clustersIdx typeIdx = iota
	endpointsIdx
	listenersIdx
	routesIdx
	numTypes
)

// typeURLs are the served types' URLs, by typeIdx.
var typeURLs = [numTypes]string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType}

// typeNames are the short names used in versions, logs and metrics.
var typeNames = [numTypes]string{"clusters", "endpoints", "listeners", "routes"}

// fullState reports whether a state-of-the-world response of the type must
// hold every resource (clusters, listeners: what is absent is removed) or
// may hold only what changed (endpoints, routes).
func (t typeIdx) fullState() bool { return t == clustersIdx || t == listenersIdx }

// indexOf returns the typeIdx of a type URL.
func indexOf(typeURL string) (typeIdx, bool) {
	for i, u := range typeURLs {
		if u == typeURL {
			return typeIdx(i), true
		}
	}
	return 0, false
}

// TypeName is the short name of an xDS type URL ("clusters", ...), or the URL
// itself for a type Chancery does not serve.
func TypeName(typeURL string) string {
	if i, ok := indexOf(typeURL); ok {
		return typeNames[i]
	}
	return typeURL
}

// validatable is what Envoy's generated protos implement.
type validatable interface {
	ValidateAll() error
}

// resource is one resource marshalled once, as an entry of each kind of
// response (wire.go). Every stream that sends it shares these bytes: a push
// to a thousand Envoys marshals nothing.
type resource struct {
	name  string
	hash  string // content hash of the encoding: the delta version
	sotw  []byte // a DiscoveryResponse resources entry
	delta []byte // a DeltaDiscoveryResponse resources entry
}

// encoded is the encoder's memory of one message.
type encoded struct {
	res *resource
	err error
	gen uint64 // the last publish that used it
}

// encoder marshals, hashes and validates each distinct resource once, however
// many groups share it, and remembers the result across publishes for as long
// as the resource (the same pointer; the translator's memo reuses them) is
// still published.
type encoder struct {
	seen  map[proto.Message]*encoded
	gen   uint64
	types []*builtType // this publish's built types, shared by groups that have the same resources
	items map[*translator.GroupResources]*[numTypes][]types.Resource
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
	e.items = map[*translator.GroupResources]*[numTypes][]types.Resource{}
}

func (e *encoder) prune() {
	for m, enc := range e.seen {
		if enc.gen != e.gen {
			delete(e.seen, m)
		}
	}
}

// itemsOf lists a group's resources by type, once per publish for groups
// that share their GroupResources.
func (e *encoder) itemsOf(g *translator.GroupResources) *[numTypes][]types.Resource {
	if g == nil {
		return &[numTypes][]types.Resource{}
	}
	if m, ok := e.items[g]; ok {
		return m
	}
	m := &[numTypes][]types.Resource{
		clustersIdx:  asResources(g.Clusters),
		endpointsIdx: asResources(g.Endpoints),
		listenersIdx: asResources(g.Listeners),
		routesIdx:    asResources(g.Routes),
	}
	e.items[g] = m
	return m
}

func (e *encoder) encode(typ typeIdx, m proto.Message) *encoded {
	if enc, ok := e.seen[m]; ok {
		enc.gen = e.gen
		return enc
	}
	enc := &encoded{gen: e.gen}
	e.seen[m] = enc
	if v, ok := m.(validatable); ok {
		if enc.err = v.ValidateAll(); enc.err != nil {
			return enc
		}
	}
	b, err := cachev3.MarshalResource(m)
	if err != nil {
		enc.err = err
		return enc
	}
	name := cachev3.GetResourceName(m)
	hash := cachev3.HashResource(b)
	enc.res = &resource{name: name, hash: hash}
	enc.res.sotw, enc.res.delta = resourceEntries(typeURLs[typ], name, hash, b)
	return enc
}

// builtType is one type's resources of a group, as streams send them.
// Nothing in it changes once built, except that base is dropped when the
// next build replaces this one; streams read it without locks.
type builtType struct {
	typ     typeIdx
	items   []types.Resource // the translator's messages, for reuse checks, consistency and debugging
	sorted  []*resource      // by name
	byName  map[string]*resource
	version string

	// base is the build this one replaced, kept until the next replaces
	// this one; changed and removed say what differs from it, worked out
	// once for every stream that holds base.
	base    atomic.Pointer[builtType]
	changed []*resource // new or changed since base, by name
	removed []string    // names in base and not in this build, sorted
}

// groupSnapshot is one node group's served state: a build per type.
type groupSnapshot struct {
	types    [numTypes]*builtType
	versions map[string]string // short type name -> version
}

// buildSnapshot turns one group's resources into a consistent, validated
// snapshot. The version of each type is a hash of the name-sorted resource
// names and content hashes, so every replica computes the same versions from
// the same etcd content, and a type whose resources did not change keeps its
// version. A type made of the very resources of prev's is taken from prev
// as it is: after one endpoint write, only the endpoints are rebuilt.
func buildSnapshot(enc *encoder, g *translator.GroupResources, prev *groupSnapshot) (*groupSnapshot, error) {
	byType := enc.itemsOf(g)
	next := &groupSnapshot{versions: make(map[string]string, numTypes)}
	namesChanged := prev == nil
	for typ := range numTypes {
		var from *builtType
		if prev != nil {
			from = prev.types[typ]
		}
		built, err := enc.buildType(typ, byType[typ], from)
		if err != nil {
			return nil, err
		}
		if from == nil || (from != built && !sameNames(from, built)) {
			namesChanged = true
		}
		next.types[typ] = built
		next.versions[typeNames[typ]] = built.version
	}
	// References between types change only when some type's names do.
	if namesChanged {
		if err := next.consistent(); err != nil {
			return nil, fmt.Errorf("inconsistent snapshot: %w", err)
		}
	}
	return next, nil
}

// consistent runs go-control-plane's reference check: every endpoints and
// routes resource a cluster or listener names is in the snapshot.
func (g *groupSnapshot) consistent() error {
	snap := &cachev3.Snapshot{}
	for typ, b := range g.types {
		snap.Resources[cachev3.GetResponseType(typeURLs[typ])] = cachev3.NewResources(b.version, b.items)
	}
	return snap.Consistent()
}

// buildType encodes one type's resources and computes its version. It
// reuses what this publish built for another group with the same resources
// (the translator shares resource pointers between groups), or prev, the
// group's last build of the type, when its resources are the very same.
func (e *encoder) buildType(typ typeIdx, items []types.Resource, prev *builtType) (*builtType, error) {
	for _, b := range e.types {
		if b.typ == typ && samePointers(b.items, items) {
			return b, nil
		}
	}
	if prev != nil && samePointers(prev.items, items) {
		for _, r := range items {
			e.encode(typ, r) // keeps the encodings for the next publish
		}
		e.types = append(e.types, prev)
		return prev, nil
	}
	b := &builtType{typ: typ, items: items, sorted: make([]*resource, len(items)), byName: make(map[string]*resource, len(items))}
	for i, r := range items {
		enc := e.encode(typ, r)
		if enc.err != nil {
			return nil, fmt.Errorf("%s %q: %w", typeNames[typ], cachev3.GetResourceName(r), enc.err)
		}
		if _, dup := b.byName[enc.res.name]; dup {
			return nil, fmt.Errorf("%s %q: defined twice", typeNames[typ], enc.res.name)
		}
		b.sorted[i] = enc.res
		b.byName[enc.res.name] = enc.res
	}
	slices.SortFunc(b.sorted, func(x, y *resource) int { return cmp.Compare(x.name, y.name) })
	h := sha256.New()
	for _, r := range b.sorted {
		writeField(h, r.name)
		writeField(h, r.hash)
	}
	b.version = hex.EncodeToString(h.Sum(nil))[:16]
	if prev != nil && prev.version == b.version {
		// The same content from new pointers (a full reload): keep prev,
		// which streams already hold.
		prev.items = items
		e.types = append(e.types, prev)
		return prev, nil
	}
	if prev != nil {
		b.diff(prev)
		b.base.Store(prev)
		prev.base.Store(nil) // one generation back is all streams use
	}
	e.types = append(e.types, b)
	return b, nil
}

// diff works out what changed since base, by walking both sorted lists.
func (b *builtType) diff(base *builtType) {
	i, j := 0, 0
	for i < len(b.sorted) || j < len(base.sorted) {
		switch {
		case j == len(base.sorted) || (i < len(b.sorted) && b.sorted[i].name < base.sorted[j].name):
			b.changed = append(b.changed, b.sorted[i])
			i++
		case i == len(b.sorted) || base.sorted[j].name < b.sorted[i].name:
			b.removed = append(b.removed, base.sorted[j].name)
			j++
		default:
			if b.sorted[i].hash != base.sorted[j].hash {
				b.changed = append(b.changed, b.sorted[i])
			}
			i++
			j++
		}
	}
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

// sameNames reports whether two builds of a type hold the same names.
func sameNames(a, b *builtType) bool {
	if b.base.Load() == a {
		return len(b.removed) == 0 && len(a.sorted) == len(b.sorted)
	}
	if len(a.sorted) != len(b.sorted) {
		return false
	}
	for i := range a.sorted {
		if a.sorted[i].name != b.sorted[i].name {
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
