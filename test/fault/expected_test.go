package fault

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	gocmp "github.com/google/go-cmp/cmp"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/e2e/harness"
	"github.com/chancery-xds/chancery/translator"
)

// expectedResources reads etcd's whole keyspace at its current revision
// and translates it as every replica does: what each Envoy must hold once
// the replicas have caught up with that revision.
func expectedResources(cli *clientv3.Client) (*translator.Resources, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	cur, err := storage.ReadContents(ctx, cli, storage.NewKeyspace(prefix))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", prefix, err)
	}
	// The joined error repeats res.Rejected.
	res, _ := translator.Translate(cur.Snapshot())
	if len(res.Rejected) != 0 {
		return nil, fmt.Errorf("revision %d: the topology's config has rejections: %v", res.Revision, res.Rejections)
	}
	return res, nil
}

// wanted is one resource of a group's translation as the xDS server sends
// it: its name, its delta version (the hash of its deterministic
// encoding, as xdsserver computes it) and its content.
type wanted struct {
	name, version string
	msg           proto.Message
}

func wantedOf[T proto.Message](list []T) ([]wanted, error) {
	out := make([]wanted, 0, len(list))
	for _, m := range list {
		b, err := cachev3.MarshalResource(m)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", cachev3.GetResourceName(m), err)
		}
		out = append(out, wanted{name: cachev3.GetResourceName(m), version: cachev3.HashResource(b), msg: m})
	}
	return out, nil
}

// mismatches compares what an Envoy holds to its group's translation (nil:
// the group has no resources) and returns one line per resource that
// differs: missing, extra, of another version or other content, or held
// but not active.
func mismatches(want *translator.GroupResources, got *harness.ConfigDump) ([]string, error) {
	if want == nil {
		want = &translator.GroupResources{}
	}
	out := slices.Clone(got.NotActive)
	for _, c := range []struct {
		typ     string
		want    func() ([]wanted, error)
		got     []harness.DumpedResource
		compare func(wanted, harness.DumpedResource) (string, error)
	}{
		{"listener", func() ([]wanted, error) { return wantedOf(want.Listeners) }, got.Listeners, sameVersionAndContent},
		{"route", func() ([]wanted, error) { return wantedOf(want.Routes) }, got.Routes, sameVersionAndContent},
		{"cluster", func() ([]wanted, error) { return wantedOf(want.Clusters) }, got.Clusters, sameVersionAndContent},
		{"endpoints", func() ([]wanted, error) { return wantedOf(want.Endpoints) }, got.Endpoints, sameAssignment},
		{"secret", func() ([]wanted, error) { return wantedOf(want.Secrets) }, got.Secrets, sameVersion},
	} {
		w, err := c.want()
		if err != nil {
			return nil, err
		}
		diffs, err := compareType(c.typ, w, c.got, c.compare)
		if err != nil {
			return nil, err
		}
		out = append(out, diffs...)
	}
	return out, nil
}

// compareType matches one type's resources by name; compare describes
// how one held resource differs from the wanted one ("" if it does not).
func compareType(typ string, want []wanted, got []harness.DumpedResource, compare func(wanted, harness.DumpedResource) (string, error)) ([]string, error) {
	held := map[string]harness.DumpedResource{}
	var out []string
	for _, g := range got {
		if _, dup := held[g.Name]; dup {
			out = append(out, fmt.Sprintf("%s %s: held twice", typ, g.Name))
		}
		held[g.Name] = g
	}
	for _, w := range want {
		g, ok := held[w.name]
		delete(held, w.name)
		if !ok {
			out = append(out, fmt.Sprintf("%s %s: missing (version %.12s)", typ, w.name, w.version))
			continue
		}
		diff, err := compare(w, g)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", typ, w.name, err)
		}
		if diff != "" {
			out = append(out, fmt.Sprintf("%s %s: %s", typ, w.name, diff))
		}
	}
	for _, g := range held {
		out = append(out, fmt.Sprintf("%s %s: held, not in etcd's translation (version %.12s)", typ, g.Name, g.Version))
	}
	slices.Sort(out)
	return out, nil
}

// sameVersion compares versions only: a version is the hash of the whole
// encoding, and Envoy redacts secrets' private keys from its dump, so their
// content cannot be compared.
func sameVersion(w wanted, g harness.DumpedResource) (string, error) {
	if g.Version != w.version {
		return fmt.Sprintf("version %.12s, want %.12s", g.Version, w.version), nil
	}
	return "", nil
}

func sameVersionAndContent(w wanted, g harness.DumpedResource) (string, error) {
	if diff, err := sameVersion(w, g); diff != "" || err != nil {
		return diff, err
	}
	m, err := decodeDumped(g)
	if err != nil {
		return "", err
	}
	return contentDiff(w.msg, m), nil
}

// sameAssignment compares a load assignment with what Envoy dumps of it:
// Envoy rebuilds the dump from its hosts, with no version and with fields
// of its own, so both sides are first reduced to what that rebuild keeps.
func sameAssignment(w wanted, g harness.DumpedResource) (string, error) {
	m, err := decodeDumped(g)
	if err != nil {
		return "", err
	}
	cla, ok := m.(*endpointv3.ClusterLoadAssignment)
	if !ok {
		return "", fmt.Errorf("dumped as %T", m)
	}
	return contentDiff(hostsOf(w.msg.(*endpointv3.ClusterLoadAssignment)), hostsOf(cla)), nil
}

// decodeDumped turns a dumped resource's JSON (an Any with its "@type")
// into its typed message; every type it names is linked in through the
// translator's imports.
func decodeDumped(g harness.DumpedResource) (proto.Message, error) {
	var a anypb.Any
	if err := protojson.Unmarshal(g.JSON, &a); err != nil {
		return nil, fmt.Errorf("decode the dumped resource: %w", err)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, fmt.Errorf("decode the dumped %s: %w", a.GetTypeUrl(), err)
	}
	return m, nil
}

// contentDiff is the difference of two messages, Any fields compared by
// their content; "" if equal.
func contentDiff(want, got proto.Message) string {
	diff := gocmp.Diff(want, got, protocmp.Transform())
	if diff == "" {
		return ""
	}
	const max = 600
	if len(diff) > max {
		diff = diff[:max] + "..."
	}
	return "content differs (-etcd +envoy): " + strings.Join(strings.Fields(diff), " ")
}

// hostsOf reduces a load assignment to what Envoy's dump of it keeps: the
// cluster name and, per locality and priority, each endpoint's address,
// health and weight and its metadata. The dump has an entry per locality
// whose hosts are in Envoy's order, an empty health check config per
// endpoint and Envoy's own policy; an endpoint of no verdict (UNKNOWN) is
// dumped as HEALTHY, the status Envoy routes it with, and one without a
// weight as of weight 1.
func hostsOf(cla *endpointv3.ClusterLoadAssignment) *endpointv3.ClusterLoadAssignment {
	out := &endpointv3.ClusterLoadAssignment{ClusterName: cla.GetClusterName()}
	for _, loc := range cla.GetEndpoints() {
		r := &endpointv3.LocalityLbEndpoints{Locality: loc.GetLocality(), Priority: loc.GetPriority()}
		if r.Locality == nil {
			r.Locality = &corev3.Locality{}
		}
		for _, ep := range loc.GetLbEndpoints() {
			health := ep.GetHealthStatus()
			if health == corev3.HealthStatus_UNKNOWN {
				health = corev3.HealthStatus_HEALTHY
			}
			weight := ep.GetLoadBalancingWeight().GetValue()
			if weight == 0 {
				weight = 1
			}
			r.LbEndpoints = append(r.LbEndpoints, &endpointv3.LbEndpoint{
				HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
					Address: ep.GetEndpoint().GetAddress(), Hostname: ep.GetEndpoint().GetHostname(),
				}},
				HealthStatus:        health,
				LoadBalancingWeight: wrapperspb.UInt32(weight),
				Metadata:            ep.GetMetadata(),
			})
		}
		slices.SortFunc(r.LbEndpoints, func(a, b *endpointv3.LbEndpoint) int {
			sa, sb := a.GetEndpoint().GetAddress().GetSocketAddress(), b.GetEndpoint().GetAddress().GetSocketAddress()
			return cmp.Or(strings.Compare(sa.GetAddress(), sb.GetAddress()), cmp.Compare(sa.GetPortValue(), sb.GetPortValue()))
		})
		out.Endpoints = append(out.Endpoints, r)
	}
	slices.SortFunc(out.Endpoints, func(a, b *endpointv3.LocalityLbEndpoints) int {
		la, lb := a.GetLocality(), b.GetLocality()
		return cmp.Or(cmp.Compare(a.GetPriority(), b.GetPriority()), strings.Compare(la.GetRegion(), lb.GetRegion()),
			strings.Compare(la.GetZone(), lb.GetZone()), strings.Compare(la.GetSubZone(), lb.GetSubZone()))
	})
	return out
}

// The comparison finds no difference between a group's resources and
// Envoy's rendering of them, and finds each kind of difference.
func TestMismatchesSeesEveryDifference(t *testing.T) {
	want := sampleGroup(t, "gen-1", 8080)
	held := func(g *translator.GroupResources) *harness.ConfigDump { return dumpOf(t, g) }
	for _, c := range []struct {
		name string
		dump *harness.ConfigDump
		want []string // substrings, one per expected mismatch
	}{
		{"the same", held(want), nil},
		{"a route of other content under the same version", func() *harness.ConfigDump {
			d := held(sampleGroup(t, "gen-2", 8080))
			d.Routes[0].Version = held(want).Routes[0].Version
			return d
		}(), []string{"route web: content differs"}},
		{"a route of another version", held(sampleGroup(t, "gen-2", 8080)), []string{"route web: version"}},
		{"an endpoint moved", held(sampleGroup(t, "gen-1", 8081)), []string{"endpoints web: content differs"}},
		{"a cluster missing, a listener extra, one warming", func() *harness.ConfigDump {
			d := held(want)
			d.Clusters = nil
			d.Listeners = append(d.Listeners, harness.DumpedResource{Name: "old", Version: "v"})
			d.NotActive = []string{"warming cluster web"}
			return d
		}(), []string{"warming cluster web", "cluster web: missing", "listener old: held, not in"}},
	} {
		got, err := mismatches(want, c.dump)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: %d mismatches %q, want %d like %q", c.name, len(got), got, len(c.want), c.want)
			continue
		}
		for _, w := range c.want {
			if !slices.ContainsFunc(got, func(g string) bool { return strings.Contains(g, w) }) {
				t.Errorf("%s: mismatches %q, want one with %q", c.name, got, w)
			}
		}
	}
}

// sampleGroup is a group as the translator makes one: a listener whose
// connection manager (an Any) names route table web, which answers body
// on /gen; cluster web and its load assignment, two endpoints of no
// verdict and no weight, the first on port.
func sampleGroup(t *testing.T, body string, port uint32) *translator.GroupResources {
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{StatPrefix: "edge-a", RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{
		Rds: &hcmv3.Rds{RouteConfigName: "web", ConfigSource: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	addr := func(port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
	}
	endpoint := func(port uint32) *endpointv3.LbEndpoint {
		return &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: addr(port)}}}
	}
	return &translator.GroupResources{
		Listeners: []*listenerv3.Listener{{Name: "edge-a", Address: addr(10000), FilterChains: []*listenerv3.FilterChain{{
			Filters: []*listenerv3.Filter{{Name: "envoy.filters.network.http_connection_manager", ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm}}},
		}}}},
		Routes: []*routev3.RouteConfiguration{{Name: "web", VirtualHosts: []*routev3.VirtualHost{{Name: "all", Domains: []string{"*"},
			Routes: []*routev3.Route{{
				Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: "/gen"}},
				Action: &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 200,
					Body: &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: body}}}},
			}},
		}}}},
		Clusters: []*clusterv3.Cluster{{Name: "web", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}}},
		Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: "web", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			Locality: &corev3.Locality{}, LbEndpoints: []*endpointv3.LbEndpoint{endpoint(port), endpoint(9090)},
		}}}},
	}
}

// dumpOf renders a group as Envoy's /config_dump does: each resource as
// JSON with its version, the load assignment rebuilt from hosts (another
// order, Envoy's policy, empty health check configs, the status and weight
// Envoy routes with, no version).
func dumpOf(t *testing.T, g *translator.GroupResources) *harness.ConfigDump {
	t.Helper()
	entry := func(m proto.Message, version string) harness.DumpedResource {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		b, err := protojson.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return harness.DumpedResource{Name: cachev3.GetResourceName(m), Version: version, JSON: b}
	}
	versioned := func(m proto.Message) harness.DumpedResource {
		w, err := wantedOf([]proto.Message{m})
		if err != nil {
			t.Fatal(err)
		}
		return entry(m, w[0].version)
	}
	d := &harness.ConfigDump{}
	for _, m := range g.Listeners {
		d.Listeners = append(d.Listeners, versioned(m))
	}
	for _, m := range g.Routes {
		d.Routes = append(d.Routes, versioned(m))
	}
	for _, m := range g.Clusters {
		d.Clusters = append(d.Clusters, versioned(m))
	}
	for _, cla := range g.Endpoints {
		rebuilt := proto.Clone(cla).(*endpointv3.ClusterLoadAssignment)
		rebuilt.Policy = &endpointv3.ClusterLoadAssignment_Policy{OverprovisioningFactor: wrapperspb.UInt32(140)}
		for _, loc := range rebuilt.Endpoints {
			loc.LoadBalancingWeight = wrapperspb.UInt32(0)
			slices.Reverse(loc.LbEndpoints)
			for _, ep := range loc.LbEndpoints {
				ep.GetEndpoint().HealthCheckConfig = &endpointv3.Endpoint_HealthCheckConfig{}
				ep.HealthStatus = corev3.HealthStatus_HEALTHY
				ep.LoadBalancingWeight = wrapperspb.UInt32(1)
			}
		}
		d.Endpoints = append(d.Endpoints, entry(rebuilt, ""))
	}
	return d
}
