package health

import (
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// reconcile brings the targets in line with a snapshot: new endpoints are
// checked starting from their verdict in etcd (so a new leader flaps
// nothing), changed ones start counting again, gone ones stop, and verdicts
// that nothing needs any more are deleted.
func (c *Checker) reconcile(snap *model.Snapshot) {
	for name, rev := range c.written {
		if rev <= snap.Revision {
			delete(c.written, name) // the snapshot shows our write: it is the truth again
		}
	}
	now := time.Now()
	seen := make(map[string]bool, len(c.targets))
	for svcName, eps := range snap.Endpoints {
		svc := snap.Services[svcName]
		if svc == nil {
			continue
		}
		spec, ok := specFor(svc)
		if !ok {
			continue
		}
		for id, ep := range eps {
			name := svcName + "/" + id
			seen[name] = true
			addr := net.JoinHostPort(ep.Address, strconv.FormatUint(uint64(ep.Port), 10))
			c.upsert(name, addr, spec, storedVerdict(snap, svcName, id), now)
		}
	}
	for name, t := range c.targets {
		if !seen[name] {
			c.due.remove(t)
			delete(c.targets, name)
			if c.pending[name] != nil {
				delete(c.pending, name) // a verdict for nothing; sweep deletes what etcd holds
			}
		}
	}
	c.sweep(snap)
	c.cfg.Metrics.targets.Set(float64(len(c.targets)))
}

// upsert adds or updates one target. stored is the verdict in the snapshot.
func (c *Checker) upsert(name, addr string, spec checkSpec, stored string, now time.Time) {
	if h, ok := c.pending[name]; ok && h == nil {
		delete(c.pending, name) // the endpoint is back before its verdict was deleted
	}
	t := c.targets[name]
	if t == nil {
		t = &target{key: name, addr: addr, spec: spec, verdict: stored, index: -1}
		c.targets[name] = t
		c.due.schedule(t, now.Add(spread(spec.interval)))
		return
	}
	if t.addr != addr || !t.spec.equal(spec) {
		t.addr, t.spec = addr, spec
		t.gen++
		t.successes, t.failures = 0, 0
		if !t.running {
			c.due.schedule(t, now.Add(spread(spec.interval)))
		}
	}
	_, pending := c.pending[name]
	_, ours := c.written[name]
	if stored != t.verdict && !pending && !ours {
		// Someone else wrote the verdict (an operator, or the previous
		// leader's last write reaching us late): etcd is the truth.
		t.verdict = stored
		t.successes, t.failures = 0, 0
	}
}

// sweep queues the deletion of verdicts nothing checks any more, so that
// health/ does not outlive the endpoints.
func (c *Checker) sweep(snap *model.Snapshot) {
	rejected := make(map[model.Ref]bool, len(snap.Rejected))
	var names []string
	for _, rj := range snap.Rejected {
		rejected[rj.Ref] = true
		if rj.Ref.Kind == model.KindHealth {
			names = append(names, rj.Ref.Name) // an unreadable verdict is a verdict too
		}
	}
	for svc, m := range snap.Health {
		for id := range m {
			names = append(names, svc+"/"+id)
		}
	}
	for _, name := range names {
		if _, ours := c.written[name]; ours {
			continue // this snapshot predates our own write of it
		}
		if c.targets[name] != nil || keepVerdict(snap, rejected, name) {
			continue
		}
		c.pending[name] = nil
	}
}

// keepVerdict reports whether a verdict nothing checks should stay: its
// endpoint or its service is rejected for now, and when it is fixed the
// endpoint should come back with the verdict it had, not flap.
func keepVerdict(snap *model.Snapshot, rejected map[model.Ref]bool, name string) bool {
	if rejected[model.Ref{Kind: model.KindEndpoint, Name: name}] {
		return true
	}
	svc, id, _ := strings.Cut(name, "/")
	if _, ok := snap.Endpoints[svc][id]; !ok {
		return false // the endpoint is gone
	}
	if snap.Services[svc] != nil {
		return false // a valid service that does not ask for checks
	}
	return rejected[model.Ref{Kind: model.KindService, Name: svc}]
}

func storedVerdict(snap *model.Snapshot, svc, id string) string {
	if h := snap.Health[svc][id]; h != nil {
		return h.Status
	}
	return ""
}

// spread is a new target's first delay: anywhere in one interval, so that a
// new leader's thousands of first checks do not all start at once.
func spread(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(interval)))
}
