package xdsserver

import (
	clusterservice "github.com/envoyproxy/go-control-plane/envoy/service/cluster/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	endpointservice "github.com/envoyproxy/go-control-plane/envoy/service/endpoint/v3"
	listenerservice "github.com/envoyproxy/go-control-plane/envoy/service/listener/v3"
	routeservice "github.com/envoyproxy/go-control-plane/envoy/service/route/v3"
	secretservice "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"google.golang.org/grpc"
)

type (
	sotwStream  = grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	deltaStream = grpc.BidiStreamingServer[discoveryv3.DeltaDiscoveryRequest, discoveryv3.DeltaDiscoveryResponse]
)

// Register adds the aggregated discovery service and the single-type ones
// (CDS, EDS, LDS, RDS, SDS on streams of their own) to a gRPC server. The unary
// REST-style Fetch methods answer UNIMPLEMENTED. g must be made with
// ServerOptions, which carry the codec the responses need.
func (s *Server) Register(g *grpc.Server) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, ads{s: s})
	clusterservice.RegisterClusterDiscoveryServiceServer(g, cds{s: s})
	endpointservice.RegisterEndpointDiscoveryServiceServer(g, eds{s: s})
	listenerservice.RegisterListenerDiscoveryServiceServer(g, lds{s: s})
	routeservice.RegisterRouteDiscoveryServiceServer(g, rds{s: s})
	secretservice.RegisterSecretDiscoveryServiceServer(g, sds{s: s})
}

type ads struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	s *Server
}

func (a ads) StreamAggregatedResources(ss sotwStream) error { return a.s.serveSotw(ss, "") }
func (a ads) DeltaAggregatedResources(ss deltaStream) error { return a.s.serveDelta(ss, "") }

type cds struct {
	clusterservice.UnimplementedClusterDiscoveryServiceServer
	s *Server
}

func (c cds) StreamClusters(ss sotwStream) error { return c.s.serveSotw(ss, typeURLs[clustersIdx]) }
func (c cds) DeltaClusters(ss deltaStream) error { return c.s.serveDelta(ss, typeURLs[clustersIdx]) }

type eds struct {
	endpointservice.UnimplementedEndpointDiscoveryServiceServer
	s *Server
}

func (e eds) StreamEndpoints(ss sotwStream) error { return e.s.serveSotw(ss, typeURLs[endpointsIdx]) }
func (e eds) DeltaEndpoints(ss deltaStream) error { return e.s.serveDelta(ss, typeURLs[endpointsIdx]) }

type lds struct {
	listenerservice.UnimplementedListenerDiscoveryServiceServer
	s *Server
}

func (l lds) StreamListeners(ss sotwStream) error { return l.s.serveSotw(ss, typeURLs[listenersIdx]) }
func (l lds) DeltaListeners(ss deltaStream) error { return l.s.serveDelta(ss, typeURLs[listenersIdx]) }

type rds struct {
	routeservice.UnimplementedRouteDiscoveryServiceServer
	s *Server
}

func (r rds) StreamRoutes(ss sotwStream) error { return r.s.serveSotw(ss, typeURLs[routesIdx]) }
func (r rds) DeltaRoutes(ss deltaStream) error { return r.s.serveDelta(ss, typeURLs[routesIdx]) }

type sds struct {
	secretservice.UnimplementedSecretDiscoveryServiceServer
	s *Server
}

func (d sds) StreamSecrets(ss sotwStream) error { return d.s.serveSotw(ss, typeURLs[secretsIdx]) }
func (d sds) DeltaSecrets(ss deltaStream) error { return d.s.serveDelta(ss, typeURLs[secretsIdx]) }
