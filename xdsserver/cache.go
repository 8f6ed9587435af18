package xdsserver

import (
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
)

// groupCache is go-control-plane's snapshot cache, keyed by node group, with
// one change: on a state-of-the-world stream, a first request whose
// version_info equals the current version counts as holding that version's
// resources. Versions are content hashes, equal on every replica, so an Envoy
// that reconnects to another replica with unchanged config is sent nothing —
// as delta xDS achieves with initial_resource_versions.
type groupCache struct {
	cachev3.SnapshotCache
}

func newGroupCache() groupCache {
	return groupCache{SnapshotCache: cachev3.NewSnapshotCache(true, groupHash{}, nil)}
}

// CreateWatch opens a state-of-the-world watch.
func (c groupCache) CreateWatch(req *cachev3.Request, sub cachev3.Subscription, out chan cachev3.Response) (func(), error) {
	if req.GetVersionInfo() != "" && len(sub.ReturnedResources()) == 0 {
		if held := c.heldAtVersion(req, sub); held != nil {
			sub = heldSubscription{Subscription: sub, held: held}
		}
	}
	return c.SnapshotCache.CreateWatch(req, sub, out)
}

// heldAtVersion returns the resources a request at the current version holds
// (name -> version), or nil when its version is not the current one.
func (c groupCache) heldAtVersion(req *cachev3.Request, sub cachev3.Subscription) map[string]string {
	snap, err := c.GetSnapshot(groupHash{}.ID(req.GetNode()))
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
