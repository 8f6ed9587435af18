package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	gcplog "github.com/envoyproxy/go-control-plane/pkg/log"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
)

// best serves the translation the way go-control-plane's most careful
// users do, as Contour does (internal/xdscache/v3/snapshot.go there):
//
//   - clusters, listeners, routes and secrets from a SnapshotCache keyed by
//     node group (groupHash: node.cluster), one snapshot per group, set
//     only when that group's resources of those types change; each type's
//     version is a hash of its content, so a type that did not change keeps
//     its version and state-of-the-world clients are not sent it again;
//   - every group's load assignments in one LinearCache, updated with only
//     the assignments that changed, which it versions one by one (its
//     counter for state of the world, a hash of each resource for delta);
//   - a MuxCache sending each request to one of the two by type URL, and
//     go-control-plane's own server over it.
//
// One LinearCache serves every group because the translation names load
// assignments globally: one per service, the same object in every group
// that reaches the service (apply checks it). Envoy subscribes to load
// assignments by name, so a group's Envoys see only their own.
//
// Translation goes through a translator.Memo, as Chancery's does: an
// unchanged resource is the same object as in the previous translation,
// which is how the changes are found.
type best struct {
	*admin
	log   *zap.Logger
	snaps cachev3.SnapshotCache
	eds   *cachev3.LinearCache
	xds   serverv3.Server
	memo  *translator.Memo // the watcher's goroutine's alone

	mu     sync.Mutex
	res    *translator.Resources                        // latest translation; nil before the first
	groups map[string]*groupSnapshot                    // node group -> its snapshot, for every group translated or seen on a stream (nil until the first apply)
	loads  map[string]*endpointv3.ClusterLoadAssignment // what eds holds, by name
	served sync.Map                                     // node group -> true once in groups
}

// groupSnapshot is the snapshot a group holds and what it was built from.
type groupSnapshot struct {
	from *translator.GroupResources
	snap *cachev3.Snapshot
}

// groupHash keys the SnapshotCache by node group: every Envoy of a group
// shares its snapshot and its status.
type groupHash struct{}

func (groupHash) ID(n *corev3.Node) string { return n.GetCluster() }

// snapshotPart is one type the group snapshots serve.
type snapshotPart struct {
	typ     types.ResponseType
	changed func(a, b *translator.GroupResources) bool // by object identity: the memo keeps unchanged resources
	items   func(*translator.GroupResources) []types.Resource
}

var snapshotParts = []snapshotPart{
	{types.Cluster, func(a, b *translator.GroupResources) bool { return !slices.Equal(a.Clusters, b.Clusters) },
		func(g *translator.GroupResources) []types.Resource { return asResources(g.Clusters) }},
	{types.Listener, func(a, b *translator.GroupResources) bool { return !slices.Equal(a.Listeners, b.Listeners) },
		func(g *translator.GroupResources) []types.Resource { return asResources(g.Listeners) }},
	{types.Route, func(a, b *translator.GroupResources) bool { return !slices.Equal(a.Routes, b.Routes) },
		func(g *translator.GroupResources) []types.Resource { return asResources(g.Routes) }},
	{types.Secret, func(a, b *translator.GroupResources) bool { return !slices.Equal(a.Secrets, b.Secrets) },
		func(g *translator.GroupResources) []types.Resource { return asResources(g.Secrets) }},
}

func newBest(ctx context.Context, log *zap.Logger) *best {
	// go-control-plane logs every watch it opens at info level: only its
	// warnings and errors are kept.
	gcp := gcplog.LoggerFuncs{
		WarnFunc:  func(f string, args ...any) { log.Warn(fmt.Sprintf(f, args...)) },
		ErrorFunc: func(f string, args ...any) { log.Error(fmt.Sprintf(f, args...)) },
	}
	b := &best{
		admin:  newAdmin(),
		log:    log,
		snaps:  cachev3.NewSnapshotCache(false, groupHash{}, gcp),
		eds:    cachev3.NewLinearCache(resourcev3.EndpointType, cachev3.WithLogger(gcp)),
		memo:   translator.NewMemo(),
		groups: map[string]*groupSnapshot{},
		loads:  map[string]*endpointv3.ClusterLoadAssignment{},
	}
	mux := &cachev3.MuxCache{
		Classify:      func(r *cachev3.Request) string { return r.GetTypeUrl() },
		ClassifyDelta: func(r *cachev3.DeltaRequest) string { return r.GetTypeUrl() },
		Caches: map[string]cachev3.Cache{
			resourcev3.ClusterType:  b.snaps,
			resourcev3.ListenerType: b.snaps,
			resourcev3.RouteType:    b.snaps,
			resourcev3.SecretType:   b.snaps,
			resourcev3.EndpointType: b.eds,
		},
	}
	b.xds = serverv3.NewServer(ctx, mux, serverv3.CallbackFuncs{
		StreamRequestFunc:      func(_ int64, req *discoveryv3.DiscoveryRequest) error { b.seen(req.GetNode()); return nil },
		StreamDeltaRequestFunc: func(_ int64, req *discoveryv3.DeltaDiscoveryRequest) error { b.seen(req.GetNode()); return nil },
	})
	return b
}

func (b *best) register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, b.xds)
}

// apply translates and hands the caches what changed: new and changed load
// assignments first, so that a new cluster's assignment is there when its
// Envoys ask for it, then the groups' snapshots, then the removals.
func (b *best) apply(snap *model.Snapshot) {
	start := time.Now()
	res, _ := b.memo.Translate(snap) // rejections are in res.Rejected; the benchmarks write none
	b.mu.Lock()
	defer b.mu.Unlock()
	b.res = res
	next := b.loadsOf(res)
	changed := map[string]types.Resource{}
	for name, cla := range next {
		if b.loads[name] != cla {
			changed[name] = cla
		}
	}
	var removed []string
	for name := range b.loads {
		if _, ok := next[name]; !ok {
			removed = append(removed, name)
		}
	}
	if len(changed) > 0 {
		if err := b.eds.UpdateResources(changed, nil); err != nil {
			b.log.Error("load assignments not updated", zap.Int("count", len(changed)), zap.Error(err))
		}
	}
	built := map[*translator.GroupResources]*groupSnapshot{}
	for _, group := range slices.Sorted(maps.Keys(b.groups)) {
		if _, ok := res.Groups[group]; !ok {
			b.setGroup(group, &translator.GroupResources{}, built) // seen on a stream, nothing translated for it
		}
	}
	for _, group := range slices.Sorted(maps.Keys(res.Groups)) {
		b.setGroup(group, res.Groups[group], built)
	}
	if len(removed) > 0 {
		if err := b.eds.UpdateResources(nil, removed); err != nil {
			b.log.Error("load assignments not removed", zap.Int("count", len(removed)), zap.Error(err))
		}
	}
	b.loads = next
	b.rebuilt(start)
}

// loadsOf gathers every group's load assignments by name. Should two
// groups ever hold different assignments under one name, the LinearCache
// could not serve both: that is logged, and the first group's is kept.
func (b *best) loadsOf(res *translator.Resources) map[string]*endpointv3.ClusterLoadAssignment {
	out := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, group := range slices.Sorted(maps.Keys(res.Groups)) {
		for _, cla := range res.Groups[group].Endpoints {
			name := cla.GetClusterName()
			prev, ok := out[name]
			if !ok {
				out[name] = cla
				continue
			}
			if prev != cla && !proto.Equal(prev, cla) {
				b.log.Error("groups hold different load assignments under one name; one LinearCache cannot serve them",
					zap.String("group", group), zap.String("cluster", name))
			}
		}
	}
	return out
}

// setGroup gives a group the snapshot of gr, unless the one it holds has
// the same clusters, listeners, routes and secrets. Groups with the same
// resources share one snapshot (built). The caller holds b.mu.
func (b *best) setGroup(group string, gr *translator.GroupResources, built map[*translator.GroupResources]*groupSnapshot) {
	old := b.groups[group]
	gs := built[gr]
	if gs == nil {
		var err error
		if gs, err = groupSnapshotOf(old, gr); err != nil {
			b.log.Error("snapshot not built", zap.String("group", group), zap.Error(err))
			return
		}
		built[gr] = gs
	}
	b.groups[group] = gs
	if old != nil && old.snap == gs.snap {
		return
	}
	if err := b.snaps.SetSnapshot(context.Background(), group, gs.snap); err != nil {
		b.log.Error("snapshot not set", zap.String("group", group), zap.Error(err))
	}
}

// groupSnapshotOf returns gr's snapshot: old's when gr has the same
// objects or the same content (a full translation rebuilds listeners),
// else a new one that reuses each of old's types that did not change.
func groupSnapshotOf(old *groupSnapshot, gr *translator.GroupResources) (*groupSnapshot, error) {
	if old != nil && !partsChanged(old.from, gr) {
		return &groupSnapshot{from: gr, snap: old.snap}, nil
	}
	snap, err := snapshotOf(old, gr)
	if err != nil {
		return nil, err
	}
	if old != nil && sameVersions(old.snap, snap) {
		snap = old.snap
	}
	return &groupSnapshot{from: gr, snap: snap}, nil
}

func partsChanged(a, b *translator.GroupResources) bool {
	return slices.ContainsFunc(snapshotParts, func(p snapshotPart) bool { return p.changed(a, b) })
}

// snapshotOf builds gr's snapshot, reusing from old each type that did
// not change (its version with it).
func snapshotOf(old *groupSnapshot, gr *translator.GroupResources) (*cachev3.Snapshot, error) {
	snap := &cachev3.Snapshot{}
	for _, p := range snapshotParts {
		if old != nil && !p.changed(old.from, gr) {
			snap.Resources[p.typ] = old.snap.Resources[p.typ]
			continue
		}
		items := p.items(gr)
		version, err := contentVersion(items)
		if err != nil {
			return nil, err
		}
		snap.Resources[p.typ] = cachev3.NewResources(version, items)
	}
	return snap, nil
}

func sameVersions(a, b *cachev3.Snapshot) bool {
	return !slices.ContainsFunc(snapshotParts, func(p snapshotPart) bool { return a.Resources[p.typ].Version != b.Resources[p.typ].Version })
}

// contentVersion is a hash of the resources' deterministic encodings: the
// same content has the same version, on every replica.
func contentVersion(items []types.Resource) (string, error) {
	h := sha256.New()
	var n []byte
	for _, r := range items {
		b, err := cachev3.MarshalResource(r)
		if err != nil {
			return "", fmt.Errorf("marshal %s: %w", cachev3.GetResourceName(r), err)
		}
		n = binary.AppendUvarint(n[:0], uint64(len(b)))
		h.Write(n)
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// seen gives a node's group a snapshot before the cache looks for one, if
// it has none: an empty one for a group the translation has nothing for,
// so that its Envoys are answered. It runs on every request: a group
// already served is found without b.mu, which apply holds while it
// updates the caches.
func (b *best) seen(n *corev3.Node) {
	if n == nil {
		return
	}
	group := n.GetCluster()
	if _, ok := b.served.Load(group); ok {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.served.Store(group, true)
	if _, ok := b.groups[group]; ok {
		return
	}
	if b.res == nil {
		b.groups[group] = nil // the first apply serves it
		return
	}
	gr := b.res.Groups[group]
	if gr == nil {
		gr = &translator.GroupResources{}
	}
	b.setGroup(group, gr, map[*translator.GroupResources]*groupSnapshot{})
}
