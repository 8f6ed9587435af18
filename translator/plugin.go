package translator

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/chancery-xds/chancery/storage/model"
)

// A plugin is one policy feature: a file of its own (plugin_<feature>.go)
// that turns the feature's model fields into Envoy configuration at the
// places it hooks, listed once in plugins (plugins.go). A new feature is a
// new file and a line there, not edits across the builders.
//
// A plugin implements one or more of the hooks below; the builders call
// each hook of every plugin, in the order of plugins. A hook sees one model
// object and the Envoy resource being built from it, and only adds to that
// resource. Plugins hold no state: what a translation shares between hooks
// (the JWT providers) is in the contexts.
type plugin interface {
	name() string
}

// httpFiltersHook adds HTTP filters to every HTTP listener's connection
// manager, before the router, in plugin order. A filter that route
// policies configure is added disabled (HttpFilter.disabled) whatever the
// listener, and enabled per route by typed_per_filter_config, so a policy
// change never changes a listener.
type httpFiltersHook interface {
	httpFilters(c *listenerContext) ([]*hcmv3.HttpFilter, error)
}

// hcmHook sets what a listener's own fields ask of its connection manager
// (access logs, tracing).
type hcmHook interface {
	hcm(c *listenerContext, m *hcmv3.HttpConnectionManager) error
}

// tcpHook adds network filters before a tcp listener's proxy, and sets
// the proxy's own options.
type tcpHook interface {
	tcp(c *listenerContext, filters []*listenerv3.Filter, p *tcpproxyv3.TcpProxy) ([]*listenerv3.Filter, error)
}

// listenerHook changes a built listener as a whole (which connections
// reach which filter chain). It runs on every listener, last.
type listenerHook interface {
	listener(c *listenerContext, l *listenerv3.Listener) error
}

// policyHook translates a policy set on a route table, a virtual host or
// a route into the typed_per_filter_config of that level (and its rate
// limits). Field errors it returns make the level answer 503 with the
// reason: a policy that cannot be enforced fails closed.
type policyHook interface {
	policy(c *routeContext, p *model.HTTPPolicy, at *policyLevel) model.FieldErrors
}

// routeHook adds a route's own fields to its Envoy route; out's action is
// already set (it is a forward when out.GetRoute() is not nil). Field
// errors it returns make the route answer 503; what it can leave out
// instead, it reports with c.report.
type routeHook interface {
	route(c *routeContext, r *model.Route, path string, out *routev3.Route) model.FieldErrors
}

// clusterHook adds a service's fields to its cluster. An error rejects
// the service.
type clusterHook interface {
	cluster(svc *model.Service, c *clusterv3.Cluster) error
}

// listenerContext is one HTTP or tcp listener being built, for the hooks.
type listenerContext struct {
	name string
	l    *model.Listener
	in   *policyInputs
	svcs *serviceSet

	reached  []string          // services the listener's policies send to (authorization, rate-limit, collector services)
	partial  model.FieldErrors // what is left out and reported; the listener is sent
	excluded *model.FieldError // why the listener cannot be sent at all
}

// service reports whether the named service can take traffic, and if so
// records that the listener's groups need its cluster; if not, the
// problem is reported at field and the caller decides what is lost.
func (c *listenerContext) service(field, name string) *model.FieldError {
	if u := c.svcs.unavailable(name); u != nil {
		return &model.FieldError{Field: field, Msg: u.field()}
	}
	c.reached = append(c.reached, name)
	return nil
}

// leaveOut reports a part of the listener that is not sent.
func (c *listenerContext) leaveOut(fe *model.FieldError, lost string) {
	c.partial = append(c.partial, &model.FieldError{Field: fe.Field, Msg: fe.Msg + "; " + lost})
}

// exclude keeps the listener from being sent, for the first reason given.
func (c *listenerContext) exclude(fe *model.FieldError) {
	if c.excluded == nil {
		c.excluded = &model.FieldError{Field: fe.Field, Msg: fe.Msg + "; listener not sent"}
	}
}

// routeContext is one route table being built, for the hooks.
type routeContext struct {
	table    string
	services serviceLookup
	in       *policyInputs
	reported model.FieldErrors // left out and reported; the route is served
}

// report records a part of a route that is left out; the route is served.
func (c *routeContext) report(field, msg string) {
	c.reported = append(c.reported, &model.FieldError{Field: field, Msg: msg})
}

// policyLevel is where a policy's translation goes: the per-filter
// configuration of the level it is set at and, on virtual hosts and on
// forwarding routes, the level's rate limits (nil elsewhere).
type policyLevel struct {
	path       string // the policy's field path, "virtual_hosts[0].policy"
	perFilter  map[string]*anypb.Any
	rateLimits *[]*routev3.RateLimit
}

// set packs cfg as the configuration of filter at this level.
func (at *policyLevel) set(filter string, cfg proto.Message) *model.FieldError {
	a, err := pack(cfg)
	if err != nil {
		return &model.FieldError{Field: at.path, Msg: err.Error()}
	}
	at.perFilter[filter] = a
	return nil
}

// policyInputs is what one translation's hooks share: built once from the
// snapshot before any listener or route table.
type policyInputs struct {
	jwt *jwtProviders
}
