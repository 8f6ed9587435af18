package translator

import (
	"maps"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// Memo makes repeated translation cheap: it remembers each service's
// cluster and load assignment with the model objects they were built from,
// and reuses them, pointer and all, while those objects are the same. The
// watcher keeps one decoded object per unchanged key, so after a single
// endpoint write only that service is translated again, and a consumer that
// caches by resource pointer (the xDS server's encoder) marshals only it.
//
// Output is identical to Translate's: a memo only skips work whose result
// is already known. A Memo is used by one goroutine at a time.
type Memo struct {
	services map[string]*servicePart
	tables   map[string]*tablePart

	// The last translation and the snapshot rejections it started from:
	// a snapshot that names its changes since that one, all of them
	// endpoints or health verdicts, is translated by patching it (patch).
	last         *Resources
	lastRejected []model.Rejection
}

// tablePart is one route table's translation and what it depended on: the
// table object and whether each service it names could take traffic.
type tablePart struct {
	rt      *model.RouteTable
	lookups []unavailable // per service, then JWT provider, the table names, in order; zero means available
	config  *routev3.RouteConfiguration
	reached []string
	errs    model.FieldErrors
	err     error // Envoy's validation of config
}

// servicePart is one service's translation and the inputs it came from.
type servicePart struct {
	svc     *model.Service
	eps     map[string]*model.Endpoint
	health  map[string]*model.Health
	cluster *clusterv3.Cluster
	load    *endpointv3.ClusterLoadAssignment
	err     error
	// clusterErr is the cluster's own error, which err includes.
	clusterErr error
}

// NewMemo returns an empty memo.
func NewMemo() *Memo {
	return &Memo{services: map[string]*servicePart{}, tables: map[string]*tablePart{}}
}

// Translate is Translate, reusing what the previous call through this memo
// built from the same objects.
func (m *Memo) Translate(s *model.Snapshot) (*Resources, error) { return translate(s, m) }

// service returns the translation of one service, from the memo when its
// inputs are the same objects as last time.
func (m *Memo) service(name string, s *model.Snapshot) *servicePart {
	if p := m.cached(name, s); p != nil {
		return p
	}
	p := translateService(name, s, m.previous(name))
	m.keep(name, p)
	return p
}

// cached returns the memo's translation of a service whose inputs are
// unchanged, or nil.
func (m *Memo) cached(name string, s *model.Snapshot) *servicePart {
	if m == nil {
		return nil
	}
	if p := m.services[name]; p != nil && p.svc == s.Services[name] && sameObjects(p.eps, s.Endpoints[name]) && sameObjects(p.health, s.Health[name]) {
		return p
	}
	return nil
}

// previous returns the memo's last translation of a service, or nil.
func (m *Memo) previous(name string) *servicePart {
	if m == nil {
		return nil
	}
	return m.services[name]
}

func (m *Memo) keep(name string, p *servicePart) {
	if m != nil {
		m.services[name] = p
	}
}

// translateService translates one service; old, its last translation if
// any, lends its cluster when the service object is the same. It reads
// only its arguments, so services translate concurrently.
func translateService(name string, s *model.Snapshot, old *servicePart) *servicePart {
	svc, eps, health := s.Services[name], s.Endpoints[name], s.Health[name]
	// Keep copies: a caller may change a snapshot's maps in place later.
	p := &servicePart{svc: svc, eps: maps.Clone(eps), health: maps.Clone(health)}
	if old != nil && old.svc == svc && old.clusterErr == nil && old.cluster != nil {
		p.cluster = old.cluster // the cluster depends on the service object alone
	} else {
		p.cluster, p.clusterErr = clusterFor(name, svc)
		if p.clusterErr == nil {
			p.clusterErr = envoyValid(p.cluster)
		}
	}
	p.err = p.clusterErr
	p.load = loadAssignmentFor(name, svc, eps, health)
	if p.err == nil {
		p.err = envoyValid(p.load)
	}
	return p
}

// routeTable returns the translation of one route table, from the memo
// when the table is the same object and every service it names is as
// available (or unavailable, for the same reason) as last time.
func (m *Memo) routeTable(name string, rt *model.RouteTable, c *routeContext) *tablePart {
	var lookups []unavailable
	add := func(why *unavailable) {
		var u unavailable
		if why != nil {
			u = *why
		}
		lookups = append(lookups, u)
	}
	for _, svc := range rt.Services() {
		add(c.services(svc))
	}
	for _, p := range rt.JWTProviders() {
		add(c.in.jwt.unavailable(p))
	}
	if m != nil {
		if p := m.tables[name]; p != nil && p.rt == rt && slices.Equal(p.lookups, lookups) {
			return p
		}
	}
	p := &tablePart{rt: rt, lookups: lookups}
	p.config, p.reached, p.errs = routeTableFor(name, rt, c)
	p.err = envoyValid(p.config)
	if m != nil {
		m.tables[name] = p
	}
	return p
}

// forget drops what the snapshot no longer has.
func (m *Memo) forget(s *model.Snapshot) {
	if m == nil {
		return
	}
	for name := range m.services {
		if _, ok := s.Services[name]; !ok {
			delete(m.services, name)
		}
	}
	for name := range m.tables {
		if _, ok := s.RouteTables[name]; !ok {
			delete(m.tables, name)
		}
	}
}

// sameObjects reports whether two maps hold the same pointers under the
// same keys.
func sameObjects[T any](a, b map[string]*T) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// remember keeps a translation for the next snapshot to patch.
func (m *Memo) remember(s *model.Snapshot, res *Resources) {
	if m != nil {
		m.last, m.lastRejected = res, s.Rejected
	}
}

// patch translates a snapshot that differs from the last one only in
// endpoints and health verdicts of services that translated before and
// still do: their load assignments are rebuilt and put in place of the old
// ones, in a copy of each group that has them. Everything else (clusters,
// routes, listeners, which group gets what, rejections) depends on none of
// that, so the result is what a full translation gives, at the cost of the
// change. It reports false when the snapshot does not qualify.
func (m *Memo) patch(s *model.Snapshot) (*Resources, bool) {
	if m == nil || m.last == nil || s.Changed == nil || s.Base != m.last.Revision || !sameRejections(s.Rejected, m.lastRejected) {
		return nil, false
	}
	changed := map[string]bool{}
	for _, ref := range s.Changed {
		if ref.Kind != model.KindEndpoint && ref.Kind != model.KindHealth {
			return nil, false
		}
		svc, _, ok := strings.Cut(ref.Name, "/")
		if !ok {
			return nil, false
		}
		changed[svc] = true
	}
	loads := map[string]*endpointv3.ClusterLoadAssignment{}
	for name := range changed {
		old := m.services[name]
		if old == nil || old.err != nil || s.Services[name] != old.svc {
			return nil, false
		}
		p := m.service(name, s)
		if p.err != nil {
			delete(m.services, name) // the full translation that follows starts this service afresh
			return nil, false
		}
		loads[name] = p.load
	}
	res := &Resources{Resources: m.last.Resources, Rejected: m.last.Rejected, Ignored: m.last.Ignored}
	res.Revision, res.Groups = s.Revision, make(map[string]*GroupResources, len(m.last.Groups))
	patched := map[*GroupResources]*GroupResources{}
	for g, gr := range m.last.Groups {
		next, ok := patched[gr]
		if !ok {
			next = withLoads(gr, loads)
			patched[gr] = next
		}
		res.Groups[g] = next
	}
	return res, true
}

// withLoads returns gr with the named load assignments replaced, or gr
// itself when it has none of them.
func withLoads(gr *GroupResources, loads map[string]*endpointv3.ClusterLoadAssignment) *GroupResources {
	var eps []*endpointv3.ClusterLoadAssignment
	for name, load := range loads {
		i, found := slices.BinarySearchFunc(gr.Endpoints, name, func(c *endpointv3.ClusterLoadAssignment, name string) int {
			return strings.Compare(c.GetClusterName(), name)
		})
		if !found {
			continue
		}
		if eps == nil {
			eps = slices.Clone(gr.Endpoints)
		}
		eps[i] = load
	}
	if eps == nil {
		return gr
	}
	next := *gr
	next.Endpoints = eps
	return &next
}

func sameRejections(a, b []model.Rejection) bool {
	return slices.EqualFunc(a, b, func(x, y model.Rejection) bool {
		return x.Ref == y.Ref && x.Err.Error() == y.Err.Error()
	})
}
