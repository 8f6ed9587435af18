package translator

import (
	"maps"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// routeTable is one route table's translation and the services it reaches.
type routeTable struct {
	config  *routev3.RouteConfiguration
	reached []string // sorted service names its routes forward to
}

// routeTableSet holds every route table that translated, and the 503
// stand-ins for those that did not, shared by every listener naming them.
type routeTableSet struct {
	tables       map[string]*routeTable
	placeholders map[string]*routeTable
	rej          *rejections
}

// buildRouteTables translates every accepted route table. Routes to
// services that cannot take traffic become 503s and are reported; a table
// Envoy would refuse as a whole is rejected, and its listeners get a
// placeholder.
func buildRouteTables(s *model.Snapshot, in *policyInputs, svcs *serviceSet, rej *rejections, m *Memo) *routeTableSet {
	set := &routeTableSet{
		tables:       make(map[string]*routeTable, len(s.RouteTables)),
		placeholders: map[string]*routeTable{},
		rej:          rej,
	}
	for _, name := range slices.Sorted(maps.Keys(s.RouteTables)) {
		ref := model.Ref{Kind: model.KindRouteTable, Name: name}
		rt := s.RouteTables[name]
		p := m.routeTable(name, rt, &routeContext{table: name, services: svcs.unavailable, in: in})
		for _, fe := range p.errs {
			rej.add(ref, fe.Field, "%s", fe.Msg)
		}
		if p.err != nil {
			rej.add(ref, "", "not sent: %v", p.err)
			continue
		}
		set.tables[name] = &routeTable{config: p.config, reached: p.reached}
	}
	return set
}

// lookup returns the named route table, or, with the reason, a placeholder
// of the same name that answers every request with a 503 saying why.
func (ts *routeTableSet) lookup(name string) (*routeTable, *unavailable) {
	if t, ok := ts.tables[name]; ok {
		return t, nil
	}
	reason, _ := ts.rej.reason(model.Ref{Kind: model.KindRouteTable, Name: name})
	u := &unavailable{kind: "route table", name: name, reason: reason}
	if p, ok := ts.placeholders[name]; ok {
		return p, u
	}
	p := &routeTable{config: unavailableRouteConfig(name, u)}
	ts.placeholders[name] = p
	return p, u
}

// unavailableRouteConfig stands in for a route table Envoy cannot have.
// Sending the listener with it, rather than withholding the listener, keeps
// the port bound and tells clients why instead of refusing connections.
func unavailableRouteConfig(name string, u *unavailable) *routev3.RouteConfiguration {
	return &routev3.RouteConfiguration{
		Name: name,
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "*",
			Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
				Action: directResponse(503, explanation(u.body())),
			}},
		}},
	}
}
