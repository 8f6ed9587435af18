package xdsserver

import (
	"context"
	"sync"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// groupCache is go-control-plane's snapshot cache, one per node group so
// that a push to one group and the ACKs of another never wait on the same
// lock, with one change: on a state-of-the-world stream, a first request
// whose version_info equals the current version counts as holding that
// version's resources. Versions are content hashes, equal on every replica,
// so an Envoy that reconnects to another replica with unchanged config is
// sent nothing, as delta xDS achieves with initial_resource_versions.
type groupCache struct {
	mu     sync.Mutex
	shards map[string]cachev3.SnapshotCache
}

func newGroupCache() *groupCache {
	return &groupCache{shards: map[string]cachev3.SnapshotCache{}}
}

// shard returns the cache of one group, made on first use.
func (c *groupCache) shard(group string) cachev3.SnapshotCache {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.shards[group]
	if !ok {
		s = cachev3.NewSnapshotCache(true, groupHash{}, nil)
		c.shards[group] = s
	}
	return s
}

// SetSnapshot replaces a group's snapshot and answers its open watches.
func (c *groupCache) SetSnapshot(ctx context.Context, group string, snap cachev3.ResourceSnapshot) error {
	return c.shard(group).SetSnapshot(ctx, group, snap)
}

// CreateWatch opens a state-of-the-world watch.
func (c *groupCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	shard := c.shard(groupHash{}.ID(req.GetNode()))
	if req.GetVersionInfo() != "" && len(sub.ReturnedResources()) == 0 {
		if held := heldAtVersion(shard, req, sub); held != nil {
			sub = heldSubscription{Subscription: sub, held: held}
		}
	}
	return shard.CreateWatch(req, sub, out)
}

// CreateDeltaWatch opens a delta watch.
func (c *groupCache) CreateDeltaWatch(req *cachev3.DeltaRequest, sub cachev3.Subscription, out chan cachev3.DeltaResponse) (func(), error) {
	return c.shard(groupHash{}.ID(req.GetNode())).CreateDeltaWatch(req, sub, out)
}

// Fetch answers a REST request.
func (c *groupCache) Fetch(ctx context.Context, req *cachev3.Request) (cachev3.Response, error) {
	return c.shard(groupHash{}.ID(req.GetNode())).Fetch(ctx, req)
}

// heldAtVersion returns the resources a request at the current version holds
// (name -> version), or nil when its version is not the current one.
func heldAtVersion(shard cachev3.SnapshotCache, req *cachev3.Request, sub cachev3.Subscription) map[string]string {
	snap, err := shard.GetSnapshot(groupHash{}.ID(req.GetNode()))
	if err != nil || snap.GetVersion(req.GetTypeUrl()) != req.GetVersionInfo() {
		return nil
	}
	resources := snap.GetResources(req.GetTypeUrl())
	held := make(map[string]string, len(resources))
	for name := range resources {
		if _, subscribed := sub.SubscribedResources()[name]; subscribed || sub.IsWildcard() {
			held[name] = req.GetVersionInfo()
		}
	}
	return held
}

// heldSubscription reports resources the client already holds from an
// earlier stream as returned on this one.
type heldSubscription struct {
	cachev3.Subscription
	held map[string]string
}

func (s heldSubscription) ReturnedResources() map[string]string { return s.held }
