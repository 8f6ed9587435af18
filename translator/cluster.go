package translator

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/chancery-xds/chancery/storage/model"
)

// defaultConnectTimeout applies when a service sets none; Envoy's own
// default (5s) is long for a fleet where a dead VM should fail over fast.
const defaultConnectTimeout = time.Second

// clusterFor translates one service into its EDS cluster. Envoy learns the
// endpoints over ADS, so an endpoint change never touches the cluster.
// Health checks are deliberately absent: the elected replica checks
// endpoints and publishes verdicts through EDS health_status.
func clusterFor(name string, svc *model.Service) (*clusterv3.Cluster, error) {
	timeout := durationpb.New(defaultConnectTimeout)
	if !svc.ConnectTimeout.IsZero() {
		timeout = durationpb.New(svc.ConnectTimeout.Std())
	}
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()},
		ConnectTimeout:       timeout,
		LbPolicy:             lbPolicy(svc.LBPolicy),
		CircuitBreakers:      circuitBreakers(svc.CircuitBreakers),
		OutlierDetection:     outlierDetection(svc.OutlierDetection),
	}
	if svc.TLS != nil {
		ts, err := upstreamTLS(svc)
		if err != nil {
			return nil, err
		}
		c.TransportSocket = ts
	}
	if svc.Protocol == model.ProtocolHTTP2 || svc.Protocol == model.ProtocolGRPC {
		opts, err := http2Options()
		if err != nil {
			return nil, err
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{
			string(proto.MessageName(&upstreamhttpv3.HttpProtocolOptions{})): opts,
		}
	}
	for _, p := range plugins {
		if h, ok := p.(clusterHook); ok {
			if err := h.cluster(svc, c); err != nil {
				return nil, fmt.Errorf("%s: %w", p.name(), err)
			}
		}
	}
	return c, nil
}

func lbPolicy(p string) clusterv3.Cluster_LbPolicy {
	switch p {
	case model.LBLeastRequest:
		return clusterv3.Cluster_LEAST_REQUEST
	case model.LBRingHash:
		return clusterv3.Cluster_RING_HASH
	case model.LBRandom:
		return clusterv3.Cluster_RANDOM
	case model.LBMaglev:
		return clusterv3.Cluster_MAGLEV
	}
	// The model accepts only the five names, so anything else is "" (unset).
	return clusterv3.Cluster_ROUND_ROBIN
}

// circuitBreakers sets only the thresholds the operator chose; an unset
// threshold keeps Envoy's default rather than becoming zero (which would
// block all traffic).
func circuitBreakers(cb *model.CircuitBreakers) *clusterv3.CircuitBreakers {
	if cb == nil {
		return nil
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:           corev3.RoutingPriority_DEFAULT,
		MaxConnections:     u32(cb.MaxConnections),
		MaxPendingRequests: u32(cb.MaxPendingRequests),
		MaxRequests:        u32(cb.MaxRequests),
		MaxRetries:         u32(cb.MaxRetries),
	}}}
}

// outlierDetection is present whenever the service asks for it, even empty:
// an empty OutlierDetection turns it on with Envoy's defaults.
func outlierDetection(od *model.OutlierDetection) *clusterv3.OutlierDetection {
	if od == nil {
		return nil
	}
	return &clusterv3.OutlierDetection{
		Consecutive_5Xx:    u32(od.Consecutive5xx),
		Interval:           duration(od.Interval),
		BaseEjectionTime:   duration(od.BaseEjectionTime),
		MaxEjectionPercent: u32(od.MaxEjectionPercent),
	}
}

// http2Options makes Envoy speak HTTP/2 upstream, which gRPC requires and
// h2c services expect; without it Envoy would use HTTP/1.1.
func http2Options() (*anypb.Any, error) {
	return pack(&upstreamhttpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_{
			ExplicitHttpConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig{
				ProtocolConfig: &upstreamhttpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{
					Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
				},
			},
		},
	})
}
