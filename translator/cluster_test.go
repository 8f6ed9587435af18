package translator

import (
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	upstreamhttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/chancery-xds/chancery/storage/model"
)

// edsCluster is the cluster every service starts from.
func edsCluster(name string, timeout time.Duration) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsConfigSource()},
		ConnectTimeout:       durationpb.New(timeout),
	}
}

func TestClusterFor(t *testing.T) {
	withHTTP2 := edsCluster("h2", time.Second)
	h2opts, err := http2Options()
	if err != nil {
		t.Fatal(err)
	}
	withHTTP2.TypedExtensionProtocolOptions = map[string]*anypb.Any{
		"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": h2opts,
	}
	withLeastRequest := edsCluster("lr", 250*time.Millisecond)
	withLeastRequest.LbPolicy = clusterv3.Cluster_LEAST_REQUEST
	withBreakers := edsCluster("cb", time.Second)
	withBreakers.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:    corev3.RoutingPriority_DEFAULT,
		MaxRequests: wrapperspb.UInt32(7),
	}}}
	withOutliers := edsCluster("od", time.Second)
	withOutliers.OutlierDetection = &clusterv3.OutlierDetection{
		Interval:           durationpb.New(5 * time.Second),
		MaxEjectionPercent: wrapperspb.UInt32(20),
	}

	tests := []struct {
		name string
		svc  *model.Service
		want *clusterv3.Cluster
	}{
		{"http", &model.Service{Protocol: model.ProtocolHTTP}, edsCluster("http", time.Second)},
		{"tcp", &model.Service{Protocol: model.ProtocolTCP, LBPolicy: model.LBRoundRobin}, edsCluster("tcp", time.Second)},
		{"h2", &model.Service{Protocol: model.ProtocolHTTP2}, withHTTP2},
		{"lr", &model.Service{Protocol: model.ProtocolHTTP, LBPolicy: model.LBLeastRequest, ConnectTimeout: model.D(250 * time.Millisecond)}, withLeastRequest},
		{"cb", &model.Service{Protocol: model.ProtocolHTTP, CircuitBreakers: &model.CircuitBreakers{MaxRequests: 7}}, withBreakers},
		{"od", &model.Service{Protocol: model.ProtocolHTTP, OutlierDetection: &model.OutlierDetection{
			Interval: model.D(5 * time.Second), MaxEjectionPercent: 20,
		}}, withOutliers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clusterFor(tt.name, tt.svc)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("cluster (-want +got):\n%s", diff)
			}
			if err := got.ValidateAll(); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHTTP2OptionsKey pins the extension key to the message's own name:
// Envoy ignores protocol options filed under any other key.
func TestHTTP2OptionsKey(t *testing.T) {
	c, err := clusterFor("grpc", &model.Service{Protocol: model.ProtocolGRPC})
	if err != nil {
		t.Fatal(err)
	}
	for key, opts := range c.GetTypedExtensionProtocolOptions() {
		msg := &upstreamhttpv3.HttpProtocolOptions{}
		if !opts.MessageIs(msg) {
			t.Fatalf("options under %q are %s", key, opts.GetTypeUrl())
		}
		if want := string(msg.ProtoReflect().Descriptor().FullName()); key != want {
			t.Errorf("key %q, want %q", key, want)
		}
		if err := opts.UnmarshalTo(msg); err != nil {
			t.Fatal(err)
		}
		if msg.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
			t.Errorf("options do not select HTTP/2: %v", msg)
		}
	}
	if len(c.GetTypedExtensionProtocolOptions()) != 1 {
		t.Errorf("want one protocol option, got %v", c.GetTypedExtensionProtocolOptions())
	}
}
