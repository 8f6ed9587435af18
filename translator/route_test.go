package translator

import (
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/chancery-xds/chancery/storage/model"
)

// lookupOf answers for a fixed set of services: known ones are available,
// rejected ones carry their reason, the rest are missing.
func lookupOf(known []string, rejected map[string]string) serviceLookup {
	return func(name string) *unavailable {
		for _, k := range known {
			if k == name {
				return nil
			}
		}
		return &unavailable{kind: "service", name: name, reason: rejected[name]}
	}
}

func prefixMatch(p string) *routev3.RouteMatch {
	return &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: p}}
}

func TestRouteForUnavailableService(t *testing.T) {
	lookup := lookupOf([]string{"web"}, map[string]string{"bad": "field protocol: required"})
	tests := []struct {
		name      string
		route     model.Route
		want      *routev3.Route
		wantErrs  []string
		wantReach []string
	}{{
		name:      "available",
		route:     model.Route{Match: model.RouteMatch{Prefix: "/"}, Service: "web"},
		want:      &routev3.Route{Match: prefixMatch("/"), Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "web"}}}},
		wantReach: []string{"web"},
	}, {
		name:     "missing",
		route:    model.Route{Match: model.RouteMatch{Prefix: "/"}, Service: "payments"},
		want:     &routev3.Route{Match: prefixMatch("/"), Action: directResponse(503, `service "payments" is not available: not found`)},
		wantErrs: []string{`field r.service: service "payments" not found`},
	}, {
		name: "weighted with a rejected service",
		route: model.Route{Match: model.RouteMatch{Prefix: "/"}, WeightedServices: []model.WeightedService{
			{Service: "web", Weight: 1}, {Service: "bad", Weight: 1},
		}},
		want:     &routev3.Route{Match: prefixMatch("/"), Action: directResponse(503, `service "bad" is not available: rejected: field protocol: required`)},
		wantErrs: []string{`field r.weighted_services[1].service: service "bad" is rejected`},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &routeContext{table: "t", services: lookup, in: &policyInputs{jwt: &jwtProviders{}}}
			got, reached, errs := routeFor(c, &tt.route, "r")
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("route (-want +got):\n%s", diff)
			}
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Error())
			}
			if diff := cmp.Diff(tt.wantErrs, msgs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantReach, reached); diff != "" {
				t.Errorf("reached (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHeaderOptions(t *testing.T) {
	got := headerOptions([]model.HeaderValue{
		{Name: "x-set", Value: "1"},
		{Name: "x-add", Value: "50%", Append: true},
	})
	want := []*corev3.HeaderValueOption{
		{Header: &corev3.HeaderValue{Key: "x-set", Value: "1"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
		{Header: &corev3.HeaderValue{Key: "x-add", Value: "50%%"}, AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD},
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("header options (-want +got):\n%s", diff)
	}
}

func TestRedirectCodes(t *testing.T) {
	want := map[uint32]routev3.RedirectAction_RedirectResponseCode{
		0:   routev3.RedirectAction_MOVED_PERMANENTLY,
		301: routev3.RedirectAction_MOVED_PERMANENTLY,
		302: routev3.RedirectAction_FOUND,
		303: routev3.RedirectAction_SEE_OTHER,
		307: routev3.RedirectAction_TEMPORARY_REDIRECT,
		308: routev3.RedirectAction_PERMANENT_REDIRECT,
	}
	for status, code := range want {
		if got := redirectCode(status); got != code {
			t.Errorf("redirectCode(%d) = %v, want %v", status, got, code)
		}
	}
}

// TestExplanation: 503 bodies stay valid UTF-8 and under Envoy's limit
// whatever a rejection reason holds.
func TestExplanation(t *testing.T) {
	long := strings.Repeat("é", maxExplanation)
	got := explanation(long)
	if len(got) > maxExplanation {
		t.Errorf("explanation is %d bytes, want at most %d", len(got), maxExplanation)
	}
	if !strings.HasSuffix(got, "...") || strings.ContainsRune(got, '\uFFFD') {
		t.Errorf("explanation cut badly: ...%q", got[len(got)-10:])
	}
	if got := explanation("bad \xff byte"); got != "bad \uFFFD byte" {
		t.Errorf("explanation(invalid UTF-8) = %q", got)
	}
}

func TestUnavailableRouteConfigValid(t *testing.T) {
	rc := unavailableRouteConfig("main", &unavailable{kind: "route table", name: "main", reason: "field x: y"})
	if err := rc.ValidateAll(); err != nil {
		t.Fatal(err)
	}
	body := rc.GetVirtualHosts()[0].GetRoutes()[0].GetDirectResponse().GetBody().GetInlineString()
	if want := `route table "main" is not available: rejected: field x: y`; body != want {
		t.Errorf("body %q, want %q", body, want)
	}
}
