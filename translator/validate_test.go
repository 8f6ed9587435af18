package translator

import (
	"maps"
	"slices"
	"sort"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
)

// TestGoldenResourcesValidate runs Envoy's generated proto validation on
// every resource of every golden case: the xDS server refuses to publish
// anything that fails it, so the translator must never produce it.
func TestGoldenResourcesValidate(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			eachResource(translateCase(t, name), func(label string, r resource) {
				if err := r.ValidateAll(); err != nil {
					t.Errorf("%s: %v", label, err)
				}
			})
		})
	}
}

// TestGoldenGroupsConsistent checks each group is closed and minimal: the
// snapshot go-control-plane would build is Consistent (every RDS name and
// EDS cluster has its resource, nothing extra), and the clusters are
// exactly those its routes and TCP proxies name.
func TestGoldenGroupsConsistent(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			res := translateCase(t, name)
			for _, g := range slices.Sorted(maps.Keys(res.Groups)) {
				gr := res.Groups[g]
				snap, err := cachev3.NewSnapshot("1", map[resourcev3.Type][]types.Resource{
					resourcev3.ListenerType: asResources(gr.Listeners),
					resourcev3.RouteType:    asResources(gr.Routes),
					resourcev3.ClusterType:  asResources(gr.Clusters),
					resourcev3.EndpointType: asResources(gr.Endpoints),
					resourcev3.SecretType:   asResources(gr.Secrets),
				})
				if err != nil {
					t.Fatalf("group %s: %v", g, err)
				}
				// go-control-plane's check does not see the route names of
				// API listeners (gRPC clients'): routes are checked below.
				if err := snap.Consistent(); err != nil && !hasAPIListener(gr) {
					t.Errorf("group %s: %v", g, err)
				}
				if diff := cmp.Diff(referencedRoutes(t, gr), routeNames(gr.Routes)); diff != "" {
					t.Errorf("group %s: route configurations differ from those referenced (-referenced +sent):\n%s", g, diff)
				}
				if diff := cmp.Diff(referencedClusters(t, gr), clusterNames(gr.Clusters)); diff != "" {
					t.Errorf("group %s: clusters differ from those referenced (-referenced +sent):\n%s", g, diff)
				}
				if diff := cmp.Diff(referencedSecrets(t, gr), secretNames(gr.Secrets)); diff != "" {
					t.Errorf("group %s: secrets differ from those referenced (-referenced +sent):\n%s", g, diff)
				}
			}
		})
	}
}

func asResources[R types.Resource](rs []R) []types.Resource {
	out := make([]types.Resource, len(rs))
	for i, r := range rs {
		out[i] = r
	}
	return out
}

func clusterNames(cs []*clusterv3.Cluster) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.GetName())
	}
	return out
}

// referencedClusters lists, sorted, the clusters a group's listeners and
// route configurations name anywhere: routes, weighted splits, mirrors,
// TCP proxies, and the services of HTTP filters (authorization, JWKS,
// rate limits, collectors), inside Any configs too.
func referencedClusters(t *testing.T, gr *GroupResources) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range gr.Listeners {
		clustersIn(t, l.ProtoReflect(), seen)
	}
	for _, rc := range gr.Routes {
		clustersIn(t, rc.ProtoReflect(), seen)
	}
	out := slices.Sorted(maps.Keys(seen))
	if len(out) == 0 {
		return nil
	}
	return out
}

// referencedRoutes lists, sorted, the route configurations a group's
// listeners name over RDS, API listeners included.
func referencedRoutes(t *testing.T, gr *GroupResources) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, l := range gr.Listeners {
		namedIn(t, l.ProtoReflect(), "route_config_name", seen)
	}
	out := slices.Sorted(maps.Keys(seen))
	if len(out) == 0 {
		return nil
	}
	return out
}

func routeNames(rs []*routev3.RouteConfiguration) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetName())
	}
	return out
}

func hasAPIListener(gr *GroupResources) bool {
	return slices.ContainsFunc(gr.Listeners, func(l *listenerv3.Listener) bool { return l.GetApiListener() != nil })
}

// namedIn adds to seen every string field called field that m holds,
// inside Any configs too.
func namedIn(t *testing.T, m protoreflect.Message, field protoreflect.Name, seen map[string]bool) {
	t.Helper()
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("unpack %s: %v", a.GetTypeUrl(), err)
		}
		namedIn(t, inner.ProtoReflect(), field, seen)
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
					namedIn(t, e.Message(), field, seen)
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := range v.List().Len() {
					namedIn(t, v.List().Get(i).Message(), field, seen)
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			namedIn(t, v.Message(), field, seen)
		case fd.Kind() == protoreflect.StringKind && fd.Name() == field:
			seen[v.String()] = true
		}
		return true
	})
}

// clustersIn adds to seen every cluster name m holds: a string field named
// cluster or cluster_name, or the name of a weighted split's cluster.
func clustersIn(t *testing.T, m protoreflect.Message, seen map[string]bool) {
	t.Helper()
	if a, ok := m.Interface().(*anypb.Any); ok {
		inner, err := a.UnmarshalNew()
		if err != nil {
			t.Fatalf("unpack %s: %v", a.GetTypeUrl(), err)
		}
		clustersIn(t, inner.ProtoReflect(), seen)
		return
	}
	weighted := m.Descriptor().FullName() == "envoy.config.route.v3.WeightedCluster.ClusterWeight"
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Kind() == protoreflect.MessageKind {
				v.Map().Range(func(_ protoreflect.MapKey, e protoreflect.Value) bool {
					clustersIn(t, e.Message(), seen)
					return true
				})
			}
		case fd.IsList():
			if fd.Kind() == protoreflect.MessageKind {
				for i := range v.List().Len() {
					clustersIn(t, v.List().Get(i).Message(), seen)
				}
			}
		case fd.Kind() == protoreflect.MessageKind:
			clustersIn(t, v.Message(), seen)
		case fd.Kind() == protoreflect.StringKind:
			if fd.Name() == "cluster" || fd.Name() == "cluster_name" || (weighted && fd.Name() == "name") {
				seen[v.String()] = true
			}
		}
		return true
	})
}

// TestGroupSlicesSorted checks the documented order of GroupResources.
func TestGroupSlicesSorted(t *testing.T) {
	for _, name := range goldenCases(t) {
		res := translateCase(t, name)
		for g, gr := range res.Groups {
			check := func(kind string, names []string) {
				if !sort.StringsAreSorted(names) {
					t.Errorf("%s: group %s: %s not sorted: %v", name, g, kind, names)
				}
			}
			check("listeners", namesOf(gr.Listeners, (*listenerv3.Listener).GetName))
			check("routes", namesOf(gr.Routes, (*routev3.RouteConfiguration).GetName))
			check("clusters", namesOf(gr.Clusters, (*clusterv3.Cluster).GetName))
			check("endpoints", namesOf(gr.Endpoints, (*endpointv3.ClusterLoadAssignment).GetClusterName))
			check("secrets", namesOf(gr.Secrets, (*tlsv3.Secret).GetName))
		}
	}
}

func namesOf[R any](rs []R, name func(R) string) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = name(r)
	}
	return out
}

// filterChains lists every filter chain of a group's listeners, default
// chains included.
func filterChains(gr *GroupResources) []*listenerv3.FilterChain {
	var out []*listenerv3.FilterChain
	for _, l := range gr.Listeners {
		out = append(out, l.GetFilterChains()...)
		if d := l.GetDefaultFilterChain(); d != nil {
			out = append(out, d)
		}
	}
	return out
}

// referencedSecrets lists, sorted, the SDS secrets a group's listeners and
// clusters name in their TLS transport sockets.
func referencedSecrets(t *testing.T, gr *GroupResources) []string {
	t.Helper()
	seen := map[string]bool{}
	common := func(c *tlsv3.CommonTlsContext) {
		for _, s := range c.GetTlsCertificateSdsSecretConfigs() {
			seen[s.GetName()] = true
		}
		if n := c.GetValidationContextSdsSecretConfig().GetName(); n != "" {
			seen[n] = true
		}
		if n := c.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); n != "" {
			seen[n] = true
		}
	}
	for _, fc := range filterChains(gr) {
		if ts := fc.GetTransportSocket(); ts != nil {
			ctx := &tlsv3.DownstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
				t.Fatal(err)
			}
			common(ctx.GetCommonTlsContext())
		}
	}
	for _, c := range gr.Clusters {
		if ts := c.GetTransportSocket(); ts != nil {
			ctx := &tlsv3.UpstreamTlsContext{}
			if err := ts.GetTypedConfig().UnmarshalTo(ctx); err != nil {
				t.Fatal(err)
			}
			common(ctx.GetCommonTlsContext())
		}
	}
	out := slices.Sorted(maps.Keys(seen))
	if len(out) == 0 {
		return nil
	}
	return out
}

func secretNames(ss []*tlsv3.Secret) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.GetName())
	}
	return out
}
