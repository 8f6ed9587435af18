package translator

import (
	"math"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tracev3 "github.com/envoyproxy/go-control-plane/envoy/config/trace/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// openTelemetryTracer is Envoy's OpenTelemetry tracer, which exports spans
// over OTLP/gRPC.
const openTelemetryTracer = "envoy.tracers.opentelemetry"

// tracingPlugin translates a listener's tracing.
type tracingPlugin struct{}

func (tracingPlugin) name() string { return "tracing" }

// hcm traces the listener's requests to its collector. A collector that
// cannot take traffic leaves tracing out, reported: the listener is sent
// untraced rather than not at all.
func (tracingPlugin) hcm(c *listenerContext, m *hcmv3.HttpConnectionManager) error {
	t := c.l.Tracing
	if t == nil {
		return nil
	}
	if fe := c.service("tracing.service", t.Service); fe != nil {
		c.leaveOut(fe, "the listener is sent without tracing")
		return nil
	}
	name := t.ServiceName
	if name == "" {
		name = c.name
	}
	cfg, err := pack(&tracev3.OpenTelemetryConfig{
		GrpcService: &corev3.GrpcService{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
			EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: t.Service},
		}},
		ServiceName: name,
	})
	if err != nil {
		return err
	}
	m.Tracing = &hcmv3.HttpConnectionManager_Tracing{
		Provider: &tracev3.Tracing_Http{Name: openTelemetryTracer, ConfigType: &tracev3.Tracing_Http_TypedConfig{TypedConfig: cfg}},
		// Rounded to the model's precision, so that equal inputs send equal bytes.
		RandomSampling: &typev3.Percent{Value: math.Round(t.SamplingPercent()*1e4) / 1e4},
	}
	return nil
}
