package translator

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// forwardAction sends a route's requests to its service or weighted split.
// The caller has checked that every named service can take traffic.
func forwardAction(r *model.Route) *routev3.RouteAction {
	a := &routev3.RouteAction{
		Timeout:       duration(r.Timeout),
		RetryPolicy:   retryPolicy(r.Retries),
		PrefixRewrite: r.PrefixRewrite,
	}
	if r.Service != "" {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: r.Service}
		return a
	}
	wc := &routev3.WeightedCluster{}
	for _, w := range r.WeightedServices {
		// Zero weights are kept: they hold a service in the split at 0%,
		// ready to be shifted to, and Envoy accepts them while the sum is
		// positive, which the model checks.
		wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
			Name:   w.Service,
			Weight: wrapperspb.UInt32(w.Weight),
		})
	}
	a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	return a
}

func retryPolicy(rp *model.RetryPolicy) *routev3.RetryPolicy {
	if rp == nil {
		return nil
	}
	return &routev3.RetryPolicy{
		RetryOn:       rp.RetryOn,
		NumRetries:    u32(rp.NumRetries),
		PerTryTimeout: duration(rp.PerTryTimeout),
	}
}

func directResponse(status uint32, body string) *routev3.Route_DirectResponse {
	dr := &routev3.DirectResponseAction{Status: status}
	if body != "" {
		dr.Body = &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}
	}
	return &routev3.Route_DirectResponse{DirectResponse: dr}
}

func redirectFor(rd *model.Redirect) *routev3.RedirectAction {
	out := &routev3.RedirectAction{
		HostRedirect: rd.Host,
		ResponseCode: redirectCode(rd.Status),
	}
	if rd.Path != "" {
		out.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: rd.Path}
	}
	if rd.HTTPS {
		out.SchemeRewriteSpecifier = &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true}
	}
	return out
}

func redirectCode(status uint32) routev3.RedirectAction_RedirectResponseCode {
	switch status {
	case 302:
		return routev3.RedirectAction_FOUND
	case 303:
		return routev3.RedirectAction_SEE_OTHER
	case 307:
		return routev3.RedirectAction_TEMPORARY_REDIRECT
	case 308:
		return routev3.RedirectAction_PERMANENT_REDIRECT
	}
	// 0 (unset) and 301; the model accepts nothing else.
	return routev3.RedirectAction_MOVED_PERMANENTLY
}

// headerOptions translates headers to add. Append adds a value beside an
// existing one; otherwise the operator's value replaces what the request or
// response carried, which is what "set this header" usually means.
func headerOptions(hs []model.HeaderValue) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, h := range hs {
		action := corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		if h.Append {
			action = corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD
		}
		out = append(out, &corev3.HeaderValueOption{
			Header:       &corev3.HeaderValue{Key: h.Name, Value: literalHeaderValue(h.Value)},
			AppendAction: action,
		})
	}
	return out
}
