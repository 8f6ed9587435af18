package bootstrap

import (
	"fmt"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	overloadv3 "github.com/envoyproxy/go-control-plane/envoy/config/overload/v3"
	connectionsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/resource_monitors/downstream_connections/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Keepalives of the xDS connection. The stream is idle for long stretches,
// so without them a replica that vanished (machine lost, network cut)
// would be noticed only by the kernel, minutes later. HTTP/2 PINGs find it
// within interval+timeout; TCP keepalive also keeps NAT and load balancer
// state alive.
const (
	h2PingInterval    = 30 * time.Second
	h2PingTimeout     = 5 * time.Second
	tcpKeepaliveTime  = 30 // seconds idle before the first probe
	tcpKeepaliveIntvl = 5  // seconds between probes
	tcpKeepaliveProbe = 3
)

// LocalCluster is the static cluster that places an Envoy in its zone. No
// service can take the name: service names have no '_'. Its one host is
// never sent traffic: no route or listener names the cluster.
const LocalCluster = "chancery_local"

func localCluster(zone string) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 LocalCluster,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{
			ClusterName: LocalCluster,
			Endpoints: []*endpointv3.LocalityLbEndpoints{{
				Locality: &corev3.Locality{Zone: zone},
				LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{
					Endpoint: &endpointv3.Endpoint{Address: socketAddress("127.0.0.1", 1)},
				}}},
			}},
		},
	}
}

// Build returns the bootstrap as a validated proto.
func Build(cfg Config) (*bootstrapv3.Bootstrap, error) {
	cfg, reps, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	node, err := nodeFor(cfg)
	if err != nil {
		return nil, err
	}
	xds, err := xdsCluster(cfg, reps)
	if err != nil {
		return nil, err
	}
	b := &bootstrapv3.Bootstrap{
		Node:             node,
		Admin:            &bootstrapv3.Admin{Address: socketAddress(cfg.AdminAddress, cfg.AdminPort)},
		DynamicResources: dynamicResources(cfg),
		StaticResources:  &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xds}},
	}
	if cfg.Zone != "" {
		// Zone-aware routing (services with locality, docs/locality.md)
		// needs Envoy to see itself in its zone through a local cluster.
		b.ClusterManager = &bootstrapv3.ClusterManager{LocalClusterName: LocalCluster}
		b.StaticResources.Clusters = append(b.StaticResources.Clusters, localCluster(cfg.Zone))
	}
	if cfg.MaxConnections > 0 {
		if b.OverloadManager, err = connectionLimit(cfg.MaxConnections); err != nil {
			return nil, err
		}
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("generated bootstrap is invalid: %w", err)
	}
	return b, nil
}

func nodeFor(cfg Config) (*corev3.Node, error) {
	md := map[string]any{}
	for k, v := range nodeMetadata(cfg) {
		md[k] = v
	}
	meta, err := structpb.NewStruct(md)
	if err != nil {
		return nil, fmt.Errorf("node metadata: %w", err)
	}
	n := &corev3.Node{Id: cfg.NodeID, Cluster: cfg.Group, Metadata: meta}
	if cfg.Zone != "" {
		n.Locality = &corev3.Locality{Zone: cfg.Zone}
	}
	return n, nil
}

// nodeMetadata is node.metadata, Envoy's and gRPC's: the operator's keys,
// then the generator's, which win: they say where the file came from. nil
// when there are none.
func nodeMetadata(cfg Config) map[string]string {
	md := map[string]string{}
	for k, v := range cfg.Metadata {
		md[k] = v
	}
	if cfg.Generator != "" {
		md["generated_by"] = cfg.Generator
	}
	if cfg.GeneratorVersion != "" {
		md["generator_version"] = cfg.GeneratorVersion
	}
	if len(md) == 0 {
		return nil
	}
	return md
}

// dynamicResources makes every dynamic resource come over one delta ADS
// stream, so Chancery orders updates across types and a reconnect to
// another replica resends nothing that is unchanged.
func dynamicResources(cfg Config) *bootstrapv3.Bootstrap_DynamicResources {
	ads := &corev3.ConfigSource{
		ResourceApiVersion:    corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
	}
	envoyGrpc := &corev3.GrpcService_EnvoyGrpc{
		ClusterName: XDSCluster,
		RetryPolicy: &corev3.RetryPolicy{RetryBackOff: &corev3.BackoffStrategy{
			BaseInterval: durationpb.New(cfg.ReconnectBase),
			MaxInterval:  durationpb.New(cfg.ReconnectMax),
		}},
	}
	if cfg.TLS != nil && cfg.TLS.SNI != "" {
		envoyGrpc.Authority = cfg.TLS.SNI // what a TLS-terminating balancer routes on
	}
	return &bootstrapv3.Bootstrap_DynamicResources{
		AdsConfig: &corev3.ApiConfigSource{
			ApiType:                   corev3.ApiConfigSource_DELTA_GRPC,
			TransportApiVersion:       corev3.ApiVersion_V3,
			SetNodeOnFirstMessageOnly: true,
			GrpcServices: []*corev3.GrpcService{{
				TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{EnvoyGrpc: envoyGrpc},
			}},
		},
		CdsConfig: ads,
		LdsConfig: ads,
	}
}

// xdsCluster lists every replica. RANDOM spreads a fleet's streams over the
// replicas and picks again on each reconnect.
func xdsCluster(cfg Config, reps []replica) (*clusterv3.Cluster, error) {
	h2, err := pack(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{ConnectionKeepalive: &corev3.KeepaliveSettings{
						Interval: durationpb.New(h2PingInterval),
						Timeout:  durationpb.New(h2PingTimeout),
					}},
				},
			},
		},
	})
	if err != nil {
		return nil, err
	}
	c := &clusterv3.Cluster{
		Name:                          XDSCluster,
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		ConnectTimeout:                durationpb.New(cfg.ConnectTimeout),
		LbPolicy:                      clusterv3.Cluster_RANDOM,
		TypedExtensionProtocolOptions: map[string]*anypb.Any{string(proto.MessageName(&upstreamhttpv3.HttpProtocolOptions{})): h2},
		UpstreamConnectionOptions: &clusterv3.UpstreamConnectionOptions{TcpKeepalive: &corev3.TcpKeepalive{
			KeepaliveProbes:   wrapperspb.UInt32(tcpKeepaliveProbe),
			KeepaliveTime:     wrapperspb.UInt32(tcpKeepaliveTime),
			KeepaliveInterval: wrapperspb.UInt32(tcpKeepaliveIntvl),
		}},
		LoadAssignment: &endpointv3.ClusterLoadAssignment{ClusterName: XDSCluster},
	}
	loc := &endpointv3.LocalityLbEndpoints{}
	for _, r := range reps {
		if !r.ip {
			c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STRICT_DNS}
			c.DnsLookupFamily = clusterv3.Cluster_V4_PREFERRED
		}
		loc.LbEndpoints = append(loc.LbEndpoints, &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(r.host, r.port)}},
		})
	}
	c.LoadAssignment.Endpoints = []*endpointv3.LocalityLbEndpoints{loc}
	if cfg.TLS != nil {
		if c.TransportSocket, err = tlsSocket(cfg.TLS); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func tlsSocket(t *TLS) (*corev3.TransportSocket, error) {
	validation := &tlsv3.CertificateValidationContext{TrustedCa: file(t.CAFile)}
	if t.SNI != "" {
		validation.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{
			SanType: tlsv3.SubjectAltNameMatcher_DNS,
			Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: t.SNI}},
		}}
	}
	common := &tlsv3.CommonTlsContext{
		AlpnProtocols:         []string{"h2"},
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: validation},
	}
	if t.CertFile != "" {
		common.TlsCertificates = []*tlsv3.TlsCertificate{{CertificateChain: file(t.CertFile), PrivateKey: file(t.KeyFile)}}
	}
	typed, err := pack(&tlsv3.UpstreamTlsContext{Sni: t.SNI, CommonTlsContext: common})
	if err != nil {
		return nil, err
	}
	return &corev3.TransportSocket{
		Name:       "envoy.transport_sockets.tls",
		ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: typed},
	}, nil
}

// connectionLimit caps downstream connections, which Envoy otherwise leaves
// unbounded (and warns about at start).
func connectionLimit(n int64) (*overloadv3.OverloadManager, error) {
	typed, err := pack(&connectionsv3.DownstreamConnectionsConfig{MaxActiveDownstreamConnections: n})
	if err != nil {
		return nil, err
	}
	return &overloadv3.OverloadManager{ResourceMonitors: []*overloadv3.ResourceMonitor{{
		Name:       "envoy.resource_monitors.global_downstream_max_connections",
		ConfigType: &overloadv3.ResourceMonitor_TypedConfig{TypedConfig: typed},
	}}}, nil
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}

func socketAddress(addr string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       addr,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func pack(m proto.Message) (*anypb.Any, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, fmt.Errorf("pack %s: %w", proto.MessageName(m), err)
	}
	return a, nil
}
