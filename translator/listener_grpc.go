package translator

import (
	"fmt"
	"regexp"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
)

// grpcRoutePrefix starts the name of the route configuration a grpc
// listener names: no route table can have it (names have no ':'), so
// gRPC clients and Envoys never share one, and what gRPC would refuse
// (docs/grpc.md) never reaches a gRPC client however the table changes.
const grpcRoutePrefix = "grpc:"

// grpc translates a grpc listener: an API listener whose route
// configuration is its route table as gRPC clients can apply it.
func (lt *listenerTranslation) grpc(al *acceptedListener) (*acceptedListener, *model.FieldError) {
	rt, u := lt.tables.lookup(lt.l.RouteTable)
	if u != nil {
		lt.partial = append(lt.partial, &model.FieldError{Field: "route_table", Msg: u.field() + "; its RPCs fail (UNAVAILABLE)"})
	}
	rc, reached, failed := grpcRouteConfig(rt.config, lt.svcs)
	for _, f := range failed {
		lt.partial = append(lt.partial, &model.FieldError{Field: "route_table", Msg: f})
	}
	al.routes, al.reached = rc, reached
	l, err := grpcListenerFor(lt.name, rc.Name)
	if err == nil {
		err = envoyValid(rc)
	}
	al.listener = l
	return lt.checked(al, err)
}

// grpcListenerFor is the API listener gRPC clients look up by the name
// they dial: the connection manager with routes over RDS and the router
// as its only filter. gRPC refuses a listener with a filter it does not
// know, so none of the plugins' filters are there.
func grpcListenerFor(name, routes string) (*listenerv3.Listener, error) {
	router, err := httpFilter(wellknown.Router, &routerv3.Router{})
	if err != nil {
		return nil, err
	}
	m, err := pack(&hcmv3.HttpConnectionManager{
		StatPrefix: name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource:    adsConfigSource(),
			RouteConfigName: routes,
		}},
		HttpFilters: []*hcmv3.HttpFilter{router},
	})
	if err != nil {
		return nil, err
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: m}}, nil
}

// grpcRouteConfig is a copy of a route table's configuration that gRPC
// accepts whole, named grpcRoutePrefix + table. A route gRPC could not
// apply as Envoy would, or that leads to a cluster gRPC would refuse,
// fails closed: its action becomes a direct response, which gRPC answers
// with UNAVAILABLE for the RPCs it matches; failed says which and why. A
// route's timeout becomes its max_stream_duration, the deadline gRPC
// applies. reached is the services the remaining routes forward to.
func grpcRouteConfig(in *routev3.RouteConfiguration, svcs *serviceSet) (rc *routev3.RouteConfiguration, reached, failed []string) {
	rc = proto.Clone(in).(*routev3.RouteConfiguration)
	rc.Name = grpcRoutePrefix + in.GetName()
	tablePolicy := len(rc.TypedPerFilterConfig) > 0
	rc.TypedPerFilterConfig = nil
	for i, vh := range rc.VirtualHosts {
		hostPolicy := tablePolicy || len(vh.TypedPerFilterConfig) > 0
		vh.TypedPerFilterConfig = nil
		if vh.RetryPolicy != nil && !grpcRetryUsable(vh.RetryPolicy) {
			vh.RetryPolicy = nil
		}
		for j, r := range vh.Routes {
			why := grpcRouteProblem(r, svcs)
			if why == "" && (hostPolicy || len(r.TypedPerFilterConfig) > 0) {
				why = "a policy applies to it, which gRPC clients cannot enforce"
			}
			r.TypedPerFilterConfig = nil
			if why != "" {
				failed = append(failed, fmt.Sprintf("virtual_hosts[%d].routes[%d]: %s; its RPCs fail (UNAVAILABLE) on gRPC clients", i, j, why))
				r.Action = directResponse(503, explanation("not available to gRPC clients: "+why))
				continue
			}
			reached = append(reached, grpcAdapt(r.GetRoute())...)
		}
	}
	slices.Sort(reached)
	return rc, slices.Compact(reached), failed
}

// grpcRouteProblem is why gRPC could not take a route as it is, or "".
// Routes that do not forward (direct responses, redirects) are left as
// they are: gRPC fails their RPCs, as it should.
func grpcRouteProblem(r *routev3.Route, svcs *serviceSet) string {
	if re := r.GetMatch().GetSafeRegex().GetRegex(); re != "" && !goRegexp(re) {
		return fmt.Sprintf("path regex %q is not one gRPC compiles", re)
	}
	for _, h := range r.GetMatch().GetHeaders() {
		// The translator writes header regexes as string_match only.
		if re := h.GetStringMatch().GetSafeRegex().GetRegex(); re != "" && !goRegexp(re) {
			return fmt.Sprintf("header %q regex %q is not one gRPC compiles", h.GetName(), re)
		}
	}
	a := r.GetRoute()
	if a == nil {
		return ""
	}
	for _, hp := range a.GetHashPolicy() {
		if re := hp.GetHeader().GetRegexRewrite().GetPattern().GetRegex(); re != "" && !goRegexp(re) {
			return fmt.Sprintf("hash policy regex %q is not one gRPC compiles", re)
		}
	}
	for _, name := range forwardedTo(a) {
		if why := grpcClusterProblem(svcs.clusters[name]); why != "" {
			return fmt.Sprintf("service %q %s", name, why)
		}
	}
	return ""
}

// grpcAdapt makes a forwarding route's action what gRPC reads: the
// timeout as max_stream_duration, no retry policy gRPC would refuse, no
// per-cluster filter configuration. It returns the services it reaches.
func grpcAdapt(a *routev3.RouteAction) []string {
	if a == nil {
		return nil
	}
	if t := a.GetTimeout(); t != nil && t.AsDuration() > 0 {
		a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: t}
	}
	if a.RetryPolicy != nil && !grpcRetryUsable(a.RetryPolicy) {
		a.RetryPolicy = nil
	}
	for _, c := range a.GetWeightedClusters().GetClusters() {
		c.TypedPerFilterConfig = nil
	}
	return forwardedTo(a)
}

// forwardedTo lists the clusters a route action sends to.
func forwardedTo(a *routev3.RouteAction) []string {
	if c := a.GetCluster(); c != "" {
		return []string{c}
	}
	var out []string
	for _, c := range a.GetWeightedClusters().GetClusters() {
		out = append(out, c.GetName())
	}
	return out
}

// grpcRetryUsable says whether gRPC accepts the retry policy: it refuses
// a zero count or back-off (the translator sets neither; this keeps it so).
func grpcRetryUsable(p *routev3.RetryPolicy) bool {
	if p.NumRetries != nil && p.NumRetries.GetValue() < 1 {
		return false
	}
	b := p.GetRetryBackOff()
	return b == nil || b.GetBaseInterval().AsDuration() > 0 && (b.MaxInterval == nil || b.GetMaxInterval().AsDuration() > 0)
}

// grpcClusterProblem is why gRPC would refuse a cluster, or "": it
// balances round_robin, least_request and ring_hash only, speaks TLS to
// endpoints only through certificate providers of its own bootstrap (not
// SDS), and takes no zone-aware balancing policy.
func grpcClusterProblem(c *clusterv3.Cluster) string {
	switch {
	case c == nil:
		return "has no cluster"
	case c.TransportSocket != nil:
		return "uses TLS to its endpoints, which gRPC clients take only from their own bootstrap"
	case c.LoadBalancingPolicy != nil:
		return "uses zone failover (locality), which gRPC clients do not apply"
	}
	switch c.LbPolicy {
	case clusterv3.Cluster_ROUND_ROBIN, clusterv3.Cluster_LEAST_REQUEST, clusterv3.Cluster_RING_HASH:
		return ""
	}
	return fmt.Sprintf("balances with %s, which gRPC clients do not", c.LbPolicy)
}

// goRegexp reports whether gRPC-Go, which matches with Go's regexp, can
// compile re (the model checked it against RE2, which admits a little more).
func goRegexp(re string) bool {
	_, err := regexp.Compile(re)
	return err == nil
}
