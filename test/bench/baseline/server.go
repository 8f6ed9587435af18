package main

import (
	"context"
	"strconv"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
)

// baseline serves per-node snapshots from the stock cache (-mode per-node).
type baseline struct {
	*admin
	log   *zap.Logger
	cache cachev3.SnapshotCache
	xds   serverv3.Server

	mu      sync.Mutex
	res     *translator.Resources // latest translation; nil before the first load
	version int64                 // bumped on every change, as a counter version is
	nodes   map[string]*node      // node id -> its group and open streams
	streams map[int64]string      // stream id -> node id
}

type node struct {
	group   string
	streams int
}

func newBaseline(ctx context.Context, log *zap.Logger) *baseline {
	b := &baseline{
		admin:   newAdmin(),
		log:     log,
		cache:   cachev3.NewSnapshotCache(true, cachev3.IDHash{}, nil),
		nodes:   map[string]*node{},
		streams: map[int64]string{},
	}
	b.xds = serverv3.NewServer(ctx, b.cache, serverv3.CallbackFuncs{
		StreamRequestFunc:      func(id int64, req *discoveryv3.DiscoveryRequest) error { b.seen(id, req.GetNode()); return nil },
		StreamDeltaRequestFunc: func(id int64, req *discoveryv3.DeltaDiscoveryRequest) error { b.seen(id, req.GetNode()); return nil },
		StreamClosedFunc:       func(id int64, _ *corev3.Node) { b.closed(id) },
		DeltaStreamClosedFunc:  func(id int64, _ *corev3.Node) { b.closed(id) },
	})
	return b
}

func (b *baseline) register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, b.xds)
}

// apply is the watcher's callback: translate, bump the version, and set a
// fresh snapshot for every connected node.
func (b *baseline) apply(snap *model.Snapshot) {
	start := time.Now()
	res, _ := translator.Translate(snap) // rejections are in res.Rejected; the benchmarks write none
	b.mu.Lock()
	b.res = res
	b.version++
	for id, n := range b.nodes {
		b.setSnapshot(id, n.group)
	}
	b.mu.Unlock()
	b.rebuilt(start)
}

// setSnapshot builds one node's snapshot; the caller holds b.mu.
func (b *baseline) setSnapshot(id, group string) {
	if b.res == nil {
		return
	}
	g := b.res.Groups[group]
	if g == nil {
		g = &translator.GroupResources{}
	}
	snap, err := cachev3.NewSnapshot(strconv.FormatInt(b.version, 10), map[resourcev3.Type][]types.Resource{
		resourcev3.ClusterType:  asResources(g.Clusters),
		resourcev3.EndpointType: asResources(g.Endpoints),
		resourcev3.ListenerType: asResources(g.Listeners),
		resourcev3.RouteType:    asResources(g.Routes),
		resourcev3.SecretType:   asResources(g.Secrets),
	})
	if err == nil {
		err = snap.Consistent()
	}
	if err == nil {
		err = b.cache.SetSnapshot(context.Background(), id, snap)
	}
	if err != nil {
		b.log.Error("snapshot not set", zap.String("node-id", id), zap.Error(err))
	}
}

// seen registers a stream's node on its first request and gives a new node
// its snapshot before the cache looks for one.
func (b *baseline) seen(id int64, n *corev3.Node) {
	if n == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.streams[id]; ok {
		return
	}
	b.streams[id] = n.GetId()
	known := b.nodes[n.GetId()]
	if known == nil {
		known = &node{group: n.GetCluster()}
		b.nodes[n.GetId()] = known
		b.setSnapshot(n.GetId(), n.GetCluster())
	}
	known.streams++
}

// closed forgets a node when its last stream ends.
func (b *baseline) closed(id int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	nodeID, ok := b.streams[id]
	if !ok {
		return
	}
	delete(b.streams, id)
	if n := b.nodes[nodeID]; n != nil {
		n.streams--
		if n.streams == 0 {
			delete(b.nodes, nodeID)
			b.cache.ClearSnapshot(nodeID)
		}
	}
}

func asResources[T types.Resource](in []T) []types.Resource {
	out := make([]types.Resource, len(in))
	for i, r := range in {
		out[i] = r
	}
	return out
}
