package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// mirrorPlugin translates a route's mirror.
type mirrorPlugin struct{}

func (mirrorPlugin) name() string { return "mirror" }

// route copies the share of the route's requests to the mirror service.
// Mirroring is best effort: when the mirror service cannot take traffic
// the route is served without it, and that is reported; the main traffic
// never answers 503 for a missing shadow.
func (mirrorPlugin) route(c *routeContext, r *model.Route, path string, out *routev3.Route) model.FieldErrors {
	m, a := r.Mirror, out.GetRoute()
	if m == nil || a == nil {
		return nil
	}
	if u := c.services(m.Service); u != nil {
		c.report(path+".mirror.service", u.field()+"; the route is served without its mirror")
		return nil
	}
	a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{
		Cluster:         m.Service,
		RuntimeFraction: &corev3.RuntimeFractionalPercent{DefaultValue: millionths(m.Percent)},
	}}
	return nil
}
