package translator

import (
	"maps"
	"slices"

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
}

// tablePart is one route table's translation and what it depended on: the
// table object and whether each service it names could take traffic.
type tablePart struct {
	rt      *model.RouteTable
	lookups []unavailable // per service the table names, in order; zero means available
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
	svc, eps, health := s.Services[name], s.Endpoints[name], s.Health[name]
	if m != nil {
		if p := m.services[name]; p != nil && p.svc == svc && sameObjects(p.eps, eps) && sameObjects(p.health, health) {
			return p
		}
	}
	// Keep copies: a caller may change a snapshot's maps in place later.
	p := &servicePart{svc: svc, eps: maps.Clone(eps), health: maps.Clone(health)}
	p.cluster, p.err = clusterFor(name, svc)
	if p.err == nil {
		p.err = envoyValid(p.cluster)
	}
	p.load = loadAssignmentFor(name, eps, health)
	if p.err == nil {
		p.err = envoyValid(p.load)
	}
	if m != nil {
		m.services[name] = p
	}
	return p
}

// routeTable returns the translation of one route table, from the memo
// when the table is the same object and every service it names is as
// available (or unavailable, for the same reason) as last time.
func (m *Memo) routeTable(name string, rt *model.RouteTable, lookup serviceLookup) *tablePart {
	var lookups []unavailable
	for _, svc := range rt.Services() {
		var u unavailable
		if why := lookup(svc); why != nil {
			u = *why
		}
		lookups = append(lookups, u)
	}
	if m != nil {
		if p := m.tables[name]; p != nil && p.rt == rt && slices.Equal(p.lookups, lookups) {
			return p
		}
	}
	p := &tablePart{rt: rt, lookups: lookups}
	p.config, p.reached, p.errs = routeTableFor(name, rt, lookup)
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
