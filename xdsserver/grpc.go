package xdsserver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
)

// GRPCConfig tunes the xDS gRPC server's connection handling.
type GRPCConfig struct {
	// MaxConnectionAge closes each connection after about this long (gRPC adds
	// ±10% jitter) so that streams rebalance onto replicas that came back.
	// Envoy reconnects at once and, with unchanged config, receives nothing new.
	MaxConnectionAge time.Duration
	// MaxConnectionAgeGrace is how long an aged connection's streams may
	// run on after the server asked the client to go away (GOAWAY) before
	// the connection is closed; default 10s. An xDS stream never ends by
	// itself, so this is how long after its age a connection actually moves.
	MaxConnectionAgeGrace time.Duration
	// KeepaliveTime is how often an idle connection is pinged.
	KeepaliveTime time.Duration
	// StreamRate admits at most this many new xDS streams per second, with
	// bursts of StreamBurst; the rest are refused with UNAVAILABLE and the
	// Envoys retry with backoff. It flattens reconnect storms. 0: no limit.
	StreamRate  float64
	StreamBurst int
	// Registerer, if set, gets chancery_xds_streams_refused_total{reason="admission"}.
	Registerer prometheus.Registerer
}

// ServerOptions returns the gRPC options for an xDS server. A Server must
// be registered on a gRPC server made with them: they carry the codec that
// sends its responses.
func ServerOptions(cfg GRPCConfig) []grpc.ServerOption {
	if cfg.KeepaliveTime <= 0 {
		cfg.KeepaliveTime = 30 * time.Second
	}
	params := keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: 10 * time.Second}
	if cfg.MaxConnectionAge > 0 {
		params.MaxConnectionAge = cfg.MaxConnectionAge
		params.MaxConnectionAgeGrace = cfg.MaxConnectionAgeGrace
		if params.MaxConnectionAgeGrace <= 0 {
			params.MaxConnectionAgeGrace = 10 * time.Second
		}
	}
	opts := []grpc.ServerOption{
		grpc.KeepaliveParams(params),
		// Envoy pings at most every few seconds when configured to; allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1 << 16),
		// Responses are assembled from shared encodings (wire.go).
		grpc.ForceServerCodecV2(newCodec()),
		// Fixed flow-control windows: requests are small, and a fixed window
		// turns off gRPC's bandwidth estimation, which answers incoming data
		// with PING frames (a write and a read per ACK, per stream).
		grpc.InitialWindowSize(1 << 20),
		grpc.InitialConnWindowSize(1 << 20),
	}
	if cfg.StreamRate > 0 {
		refused := refusedStreams(cfg.Registerer).WithLabelValues(refusedAdmission)
		opts = append(opts, grpc.StreamInterceptor(admission(cfg.StreamRate, max(cfg.StreamBurst, 1), refused)))
	}
	return opts
}

// admission refuses new streams beyond a token-bucket rate, counting them.
func admission(perSecond float64, burst int, refused prometheus.Counter) grpc.StreamServerInterceptor {
	limiter := rate.NewLimiter(rate.Limit(perSecond), burst)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if !limiter.Allow() {
			refused.Inc()
			return status.Errorf(codes.Unavailable, "xds: admitting at most %.0f new streams per second; retry", perSecond)
		}
		return handler(srv, ss)
	}
}
