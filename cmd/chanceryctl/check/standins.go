package check

import (
	"fmt"
	"maps"
	"slices"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
)

// reference is one field of an object that names another object.
type reference struct {
	from  model.Ref
	field string
	to    model.Ref
}

// references lists, in key and field order, every reference the decoded
// objects of s make: routes to services, listeners to route tables or
// services. These are the references the translator resolves.
func references(s *model.Snapshot) []reference {
	var out []reference
	for _, name := range slices.Sorted(maps.Keys(s.RouteTables)) {
		from := model.Ref{Kind: model.KindRouteTable, Name: name}
		for i, vh := range s.RouteTables[name].VirtualHosts {
			for j, r := range vh.Routes {
				p := fmt.Sprintf("virtual_hosts[%d].routes[%d]", i, j)
				if r.Service != "" {
					out = append(out, reference{from, p + ".service", model.Ref{Kind: model.KindService, Name: r.Service}})
				}
				for k, w := range r.WeightedServices {
					out = append(out, reference{from, fmt.Sprintf("%s.weighted_services[%d].service", p, k), model.Ref{Kind: model.KindService, Name: w.Service}})
				}
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Listeners)) {
		from := model.Ref{Kind: model.KindListener, Name: name}
		l := s.Listeners[name]
		if l.Protocol == model.ListenerTCP {
			out = append(out, reference{from, "service", model.Ref{Kind: model.KindService, Name: l.Service}})
		} else {
			out = append(out, reference{from, "route_table", model.Ref{Kind: model.KindRouteTable, Name: l.RouteTable}})
		}
	}
	return out
}

// addStandIns puts a minimal valid object into s for every object the
// documents refer to but do not define, and warns of each reference.
func addStandIns(s *model.Snapshot, docs map[model.Ref]*manifest.Document) []Finding {
	var out []Finding
	for _, ref := range references(s) {
		if _, defined := docs[ref.to]; defined {
			continue // present, or rejected in its own right
		}
		kind := "service"
		if ref.to.Kind == model.KindRouteTable {
			kind = "route table"
		}
		out = append(out, Finding{Ref: ref.from, Doc: docs[ref.from], Err: &model.FieldError{
			Field: ref.field,
			Msg:   fmt.Sprintf("%s %q is not in these files; it must be in etcd when they are applied", kind, ref.to.Name),
		}})
		s.Add(ref.to, standIn(ref.to.Kind))
	}
	return out
}

func standIn(k model.Kind) any {
	if k == model.KindService {
		return &model.Service{Protocol: model.ProtocolHTTP}
	}
	return &model.RouteTable{VirtualHosts: []model.VirtualHost{{
		Name:    "stand-in",
		Domains: []string{"*"},
		Routes:  []model.Route{{Match: model.RouteMatch{Prefix: "/"}, DirectResponse: &model.DirectResponse{Status: 503}}},
	}}}
}

// splitConsequences separates the findings that only follow from others.
// References run one way: listeners to route tables or services, route
// tables to services. So a route table's rejection is its own if it stays
// with every rejected service document replaced by a stand-in that
// translates cleanly; anything else's if it stays with every rejected
// service and route table document replaced. A service's is always its own.
func splitConsequences(s *model.Snapshot, errs []Finding) (own, consequences []Finding) {
	services, both := map[model.Ref]bool{}, map[model.Ref]bool{}
	for _, f := range errs {
		switch {
		case f.Doc == nil:
		case f.Ref.Kind == model.KindService:
			services[f.Ref], both[f.Ref] = true, true
		case f.Ref.Kind == model.KindRouteTable:
			both[f.Ref] = true
		}
	}
	if len(both) == 0 {
		return errs, nil
	}
	withoutServices := rejectedRefs(withStandIns(s, services))
	withoutEither := rejectedRefs(withStandIns(s, both))
	for _, f := range errs {
		var stays bool
		switch {
		case f.Doc != nil && f.Ref.Kind == model.KindService:
			stays = true
		case f.Doc != nil && f.Ref.Kind == model.KindRouteTable:
			stays = withoutServices[f.Ref]
		default:
			stays = withoutEither[f.Ref]
		}
		if stays {
			own = append(own, f)
		} else {
			consequences = append(consequences, f)
		}
	}
	return own, consequences
}

func rejectedRefs(s *model.Snapshot) map[model.Ref]bool {
	res, _ := translator.Translate(s) // the joined error repeats res.Rejected
	out := map[model.Ref]bool{}
	for _, rj := range res.Rejected {
		out[rj.Ref] = true
	}
	return out
}

// withStandIns is a copy of s in which the given objects are replaced by
// stand-ins that translate cleanly.
func withStandIns(s *model.Snapshot, refs map[model.Ref]bool) *model.Snapshot {
	c := model.NewSnapshot(s.Revision)
	for k, v := range s.Services {
		c.Services[k] = v
	}
	for k, v := range s.RouteTables {
		c.RouteTables[k] = v
	}
	for k, v := range s.Listeners {
		c.Listeners[k] = v
	}
	for k, v := range s.Endpoints {
		c.Endpoints[k] = v
	}
	for k, v := range s.Health {
		c.Health[k] = v
	}
	for k, v := range s.Secrets {
		c.Secrets[k] = v
	}
	for _, rj := range s.Rejected {
		if !refs[rj.Ref] {
			c.Rejected = append(c.Rejected, rj)
		}
	}
	for ref := range refs {
		c.Add(ref, standIn(ref.Kind))
	}
	return c
}
