package xdsserver

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"weak"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/internal/parallel"
	"github.com/chancery-xds/chancery/translator/output"
)

// typeIdx numbers the served types, in the order a stream sends them:
// clusters before their endpoints, listeners before their routes, as Envoy
// applies them. Secrets come last: Envoy asks for them by name once a
// cluster or listener names them, and warms that cluster or listener until
// they arrive.
type typeIdx int

const (
	clustersIdx typeIdx = iota
	endpointsIdx
	listenersIdx
	routesIdx
	secretsIdx
	numTypes
)

// typeURLs are the served types' URLs, by typeIdx.
var typeURLs = [numTypes]string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// typeNames are the short names used in versions, logs and metrics.
var typeNames = [numTypes]string{"clusters", "endpoints", "listeners", "routes", "secrets"}

// fullState reports whether a state-of-the-world response of the type must
// hold every resource (clusters, listeners: what is absent is removed) or
// may hold only what changed (endpoints, routes, secrets).
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
	name   string
	hash   string // content hash of the encoding: the delta version
	digest digest // of name and hash, for the type's version
	body   []byte // the resource's encoding
	// The heads of its entries in a DiscoveryResponse and a
	// DeltaDiscoveryResponse: each entry is its head, then body.
	sotwHead, deltaHead []byte
}

// encoded is the encoder's memory of one message.
type encoded struct {
	res *resource
	err error
}

// encoder marshals, hashes and validates each distinct resource once, however
// many groups share it, and remembers the result across publishes for as long
// as the resource (the same pointer; the translator's memo reuses them) is
// still published.
type encoder struct {
	seen  map[proto.Message]*encoded
	types []*builtType // this publish's built types, shared by groups that have the same resources
	items map[*output.Group]*[numTypes][]types.Resource
	// checked are the pairs of builds whose references this publish checked.
	checked map[[2]*builtType]bool
}

func newEncoder() *encoder {
	e := &encoder{seen: map[proto.Message]*encoded{}}
	e.begin()
	return e
}

// begin starts a publish; prune, after it, forgets what it no longer uses.
func (e *encoder) begin() {
	e.types = nil
	e.items = map[*output.Group]*[numTypes][]types.Resource{}
	e.checked = map[[2]*builtType]bool{}
}

// prune forgets the encodings of messages no longer published. It walks
// everything only once what it remembers has grown to twice what is
// published, so that a publish costs what changed.
func (e *encoder) prune() {
	live := 0
	for _, b := range e.types {
		live += len(b.items)
	}
	if len(e.seen) <= 2*live+1024 {
		return
	}
	keep := make(map[proto.Message]*encoded, live)
	for _, b := range e.types {
		for _, m := range b.items {
			if enc, ok := e.seen[m]; ok {
				keep[m] = enc
			}
		}
	}
	e.seen = keep
}

// itemsOf lists a group's resources by type, once per publish for groups
// that share their GroupResources.
func (e *encoder) itemsOf(g *output.Group) *[numTypes][]types.Resource {
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
		secretsIdx:   asResources(g.Secrets),
	}
	e.items[g] = m
	return m
}

func (e *encoder) encode(typ typeIdx, m proto.Message) *encoded {
	if enc, ok := e.seen[m]; ok {
		return enc
	}
	enc := encodeResource(typ, m)
	e.seen[m] = enc
	return enc
}

// parallelMin is the number of resources below which encoding them on more
// than one goroutine costs more than it saves.
const parallelMin = 512

// encodeAll encodes the items not yet seen, on every core when there are
// many: a full rebuild encodes tens of thousands of resources, each on its
// own.
func (e *encoder) encodeAll(typ typeIdx, items []types.Resource) {
	var todo []types.Resource
	for _, m := range items {
		if _, ok := e.seen[m]; !ok {
			todo = append(todo, m)
		}
	}
	out := make([]*encoded, len(todo))
	parallel.For(len(todo), parallelMin, func(i int) { out[i] = encodeResource(typ, todo[i]) })
	for i, m := range todo {
		e.seen[m] = out[i]
	}
}

// encodeResource validates, marshals and hashes one resource and lays out
// its response entries. It touches nothing shared.
func encodeResource(typ typeIdx, m proto.Message) *encoded {
	if v, ok := m.(validatable); ok {
		if err := v.ValidateAll(); err != nil {
			return &encoded{err: err}
		}
	}
	b, err := cachev3.MarshalResource(m)
	if err != nil {
		return &encoded{err: err}
	}
	name := cachev3.GetResourceName(m)
	hash := cachev3.HashResource(b)
	res := &resource{name: name, hash: hash, digest: entryDigest(name, hash), body: b}
	res.sotwHead, res.deltaHead = resourceEntries(typeURLs[typ], name, hash, b)
	return &encoded{res: res}
}

// builtType is one type's resources of a group, as streams send them.
// Nothing in it changes once built, except that base is dropped when the
// next build replaces this one; streams read it without locks.
type builtType struct {
	typ     typeIdx
	items   []types.Resource // the translator's messages, for reuse checks, consistency and debugging
	sorted  []*resource      // by name
	aligned bool             // sorted[i] is items[i]'s: the translator gave them in name order
	sum     digest
	version string

	// base is the build this one replaced, kept until the next replaces
	// this one; changed and removed say what differs from it, worked out
	// once for every stream that holds base.
	base    atomic.Pointer[builtType]
	changed []*resource // new or changed since base, by name
	removed []string    // names in base and not in this build, sorted
	adds    bool        // some of changed are names base lacks

	// diffs remembers what streams that hold an older build lack of this
	// one (diffFrom): streams that got the same push, behind by the same
	// builds, share one comparison.
	diffsMu sync.Mutex
	diffs   map[diffKey]diffResult
}

// diffKey is what a stream's diff against a build depends on when it has
// just a build to compare with: that build and the names it wants. Name
// sets are shared (shareNames), so streams that want the same names have
// the same set. The build is held weakly: a memo does not keep old builds
// alive.
type diffKey struct {
	from     weak.Pointer[builtType]
	names    *nameSet
	wildcard bool
}

type diffResult struct {
	res     []*resource
	removed []string
}

// maxDiffs bounds the memo of one build. Streams that share no name set
// each miss it; past the bound they compare for themselves.
const maxDiffs = 64

// diffFrom is s.diff(b, nil) for a subscription that holds s.sent, worked
// out once per older build and name set. The lists are shared by every
// stream that asks, and not to be modified.
func (b *builtType) diffFrom(s *subscription) ([]*resource, []string) {
	key := diffKey{from: weak.Make(s.sent), names: s.names, wildcard: s.wildcard}
	b.diffsMu.Lock()
	d, ok := b.diffs[key]
	b.diffsMu.Unlock()
	if ok {
		return d.res, d.removed
	}
	d.res, d.removed = s.diff(b, nil)
	b.diffsMu.Lock()
	if b.diffs == nil {
		b.diffs = make(map[diffKey]diffResult)
	}
	if len(b.diffs) < maxDiffs {
		b.diffs[key] = d
	}
	b.diffsMu.Unlock()
	return d.res, d.removed
}

// lookup finds a resource by name.
func (b *builtType) lookup(name string) *resource {
	i, ok := slices.BinarySearchFunc(b.sorted, name, func(r *resource, name string) int { return cmp.Compare(r.name, name) })
	if !ok {
		return nil
	}
	return b.sorted[i]
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
func buildSnapshot(enc *encoder, g *output.Group, prev *groupSnapshot) (*groupSnapshot, error) {
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
		if err := next.consistent(enc.checked); err != nil {
			return nil, fmt.Errorf("inconsistent snapshot: %w", err)
		}
	}
	return next, nil
}

// consistent checks references as go-control-plane's Snapshot.Consistent
// does: the endpoints are exactly the load assignments the EDS clusters
// name, the routes exactly the route configurations the listeners name
// (found by go-control-plane). Groups often share both builds of a pair;
// a pair is checked once per publish (checked).
func (g *groupSnapshot) consistent(checked map[[2]*builtType]bool) error {
	for _, check := range []struct {
		from, to typeIdx
		refs     func(*builtType) []string
	}{{clustersIdx, endpointsIdx, edsNames}, {listenersIdx, routesIdx, routeNames}} {
		pair := [2]*builtType{g.types[check.from], g.types[check.to]}
		if checked[pair] {
			continue
		}
		if err := references(check.from, check.to, check.refs(pair[0]), pair[1]); err != nil {
			return err
		}
		if checked != nil {
			checked[pair] = true
		}
	}
	return nil
}

// references compares the sorted, distinct names refs of type from with
// the build of type to: both lists are in name order, so one walk does.
func references(from, to typeIdx, refs []string, b *builtType) error {
	j := 0
	for _, name := range refs {
		for j < len(b.sorted) && b.sorted[j].name < name {
			j++
		}
		if j == len(b.sorted) || b.sorted[j].name != name {
			return fmt.Errorf("%s reference %s %q, which is not in the snapshot", typeNames[from], typeNames[to], name)
		}
	}
	if len(refs) != len(b.sorted) {
		return fmt.Errorf("%d %s referenced by %s, %d in the snapshot", len(refs), typeNames[to], typeNames[from], len(b.sorted))
	}
	return nil
}

// edsNames are the load assignments the EDS clusters of b name, sorted.
func edsNames(b *builtType) []string {
	var names []string
	for _, r := range b.items {
		if c, ok := r.(*clusterv3.Cluster); ok && c.GetType() == clusterv3.Cluster_EDS {
			name := c.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = c.GetName()
			}
			names = append(names, name)
		}
	}
	slices.Sort(names) // in name order already, as a rule: a single pass
	return slices.Compact(names)
}

// routeNames are the route configurations the listeners of b name, sorted:
// go-control-plane finds those of filter chains, apiRouteName those of API
// listeners (gRPC clients'), which it does not look at.
func routeNames(b *builtType) []string {
	listeners := make(map[string]types.ResourceWithTTL, len(b.items))
	for _, r := range b.items {
		listeners[cachev3.GetResourceName(r)] = types.ResourceWithTTL{Resource: r}
	}
	names := cachev3.GetResourceReferences(listeners)[typeURLs[routesIdx]]
	for _, r := range b.items {
		if name := apiRouteName(r); name != "" {
			if names == nil {
				names = map[string]bool{}
			}
			names[name] = true
		}
	}
	return slices.Sorted(maps.Keys(names))
}

// apiRouteName is the RDS route configuration an API listener's
// connection manager names, or "" (not an API listener, or no RDS).
func apiRouteName(r types.Resource) string {
	l, ok := r.(*listenerv3.Listener)
	if !ok || l.GetApiListener().GetApiListener() == nil {
		return ""
	}
	m := &hcmv3.HttpConnectionManager{}
	if l.GetApiListener().GetApiListener().UnmarshalTo(m) != nil {
		return ""
	}
	return m.GetRds().GetRouteConfigName()
}

// buildType encodes one type's resources and computes its version. It
// reuses what this publish built for another group with the same resources
// (the translator shares resource pointers between groups), or prev, the
// group's last build of the type, when its resources are the very same.
// When only a few of prev's resources were replaced (one endpoint write
// replaces one load assignment), it patches prev: the cost is that of the
// change, not of the type.
func (e *encoder) buildType(typ typeIdx, items []types.Resource, prev *builtType) (*builtType, error) {
	for _, b := range e.types {
		if b.typ == typ && samePointers(b.items, items) {
			return b, nil
		}
	}
	if prev != nil && samePointers(prev.items, items) {
		e.types = append(e.types, prev)
		return prev, nil
	}
	var b *builtType
	var err error
	if prev != nil {
		b, err = e.patch(typ, items, prev)
	}
	if b == nil && err == nil {
		b, err = e.build(typ, items)
	}
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.version == b.version {
		// The same content from new pointers (a full reload): keep prev,
		// which streams already hold.
		prev.items, prev.aligned = items, b.aligned
		e.types = append(e.types, prev)
		return prev, nil
	}
	if prev != nil {
		if b.changed == nil && b.removed == nil {
			b.diff(prev)
		}
		b.base.Store(prev)
		prev.base.Store(nil) // one generation back is all streams use
	}
	e.types = append(e.types, b)
	return b, nil
}

// build encodes every resource of a type.
func (e *encoder) build(typ typeIdx, items []types.Resource) (*builtType, error) {
	b := &builtType{typ: typ, items: items, sorted: make([]*resource, len(items))}
	e.encodeAll(typ, items)
	for i, r := range items {
		enc := e.encode(typ, r)
		if enc.err != nil {
			return nil, fmt.Errorf("%s %q: %w", typeNames[typ], cachev3.GetResourceName(r), enc.err)
		}
		b.sorted[i] = enc.res
		b.sum.add(enc.res.digest)
	}
	byName := func(x, y *resource) int { return cmp.Compare(x.name, y.name) }
	b.aligned = slices.IsSortedFunc(b.sorted, byName)
	if !b.aligned {
		slices.SortFunc(b.sorted, byName)
	}
	for i := 1; i < len(b.sorted); i++ {
		if b.sorted[i].name == b.sorted[i-1].name {
			return nil, fmt.Errorf("%s %q: defined twice", typeNames[typ], b.sorted[i].name)
		}
	}
	b.version = b.sum.version(len(b.sorted))
	return b, nil
}

// patch builds a type from prev when the items are prev's with a few
// replaced in place, under the same names; otherwise it returns nil and
// the caller builds from scratch.
func (e *encoder) patch(typ typeIdx, items []types.Resource, prev *builtType) (*builtType, error) {
	if !prev.aligned || len(items) != len(prev.items) {
		return nil, nil
	}
	var replaced []int
	for i := range items {
		if items[i] != prev.items[i] {
			if replaced = append(replaced, i); len(replaced) > len(items)/8+1 {
				return nil, nil // most of the type: a full build is as cheap
			}
		}
	}
	b := &builtType{typ: typ, items: items, sorted: slices.Clone(prev.sorted), aligned: true, sum: prev.sum}
	for _, i := range replaced {
		enc := e.encode(typ, items[i])
		if enc.err != nil {
			return nil, fmt.Errorf("%s %q: %w", typeNames[typ], cachev3.GetResourceName(items[i]), enc.err)
		}
		old := prev.sorted[i]
		if enc.res.name != old.name {
			return nil, nil
		}
		b.sorted[i] = enc.res
		if enc.res.hash != old.hash {
			b.sum.sub(old.digest)
			b.sum.add(enc.res.digest)
			b.changed = append(b.changed, enc.res)
		}
	}
	b.version = b.sum.version(len(b.sorted))
	return b, nil
}

// diff works out what changed since base, by walking both sorted lists.
func (b *builtType) diff(base *builtType) {
	i, j := 0, 0
	for i < len(b.sorted) || j < len(base.sorted) {
		switch {
		case j == len(base.sorted) || (i < len(b.sorted) && b.sorted[i].name < base.sorted[j].name):
			b.changed = append(b.changed, b.sorted[i])
			b.adds = true
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

// digest is an order-independent digest of a type's (name, content hash)
// pairs: the sum, lane by lane, of each pair's SHA-256. Replacing one
// resource updates it in constant time, and every replica that serves the
// same resources computes the same sum, hence the same version.
type digest [4]uint64

func entryDigest(name, hash string) digest {
	h := sha256.New()
	writeField(h, name)
	writeField(h, hash)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	var d digest
	for i := range d {
		d[i] = binary.BigEndian.Uint64(sum[8*i:])
	}
	return d
}

func (d *digest) add(e digest) {
	for i := range d {
		d[i] += e[i]
	}
}

func (d *digest) sub(e digest) {
	for i := range d {
		d[i] -= e[i]
	}
}

// version is the type version of n resources with this digest.
func (d digest) version(n int) string {
	var b [8 * 5]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	for i, lane := range d {
		binary.BigEndian.PutUint64(b[8*(i+1):], lane)
	}
	sum := sha256.Sum256(b[:])
	return hex.EncodeToString(sum[:8])
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
