package xdsserver

import (
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// GRPCConfig tunes the xDS gRPC server's connection handling.
type GRPCConfig struct {
	// MaxConnectionAge closes each connection after about this long (gRPC adds
	// ±10% jitter) so that streams rebalance onto replicas that came back.
	// Envoy reconnects at once and, with unchanged config, receives nothing new.
	MaxConnectionAge time.Duration
	// KeepaliveTime is how often an idle connection is pinged.
	KeepaliveTime time.Duration
}

// ServerOptions returns the gRPC options for an xDS server.
func ServerOptions(cfg GRPCConfig) []grpc.ServerOption {
	if cfg.KeepaliveTime <= 0 {
		cfg.KeepaliveTime = 30 * time.Second
	}
	params := keepalive.ServerParameters{Time: cfg.KeepaliveTime, Timeout: 10 * time.Second}
	if cfg.MaxConnectionAge > 0 {
		params.MaxConnectionAge = cfg.MaxConnectionAge
		params.MaxConnectionAgeGrace = time.Minute
	}
	return []grpc.ServerOption{
		grpc.KeepaliveParams(params),
		// Envoy pings at most every few seconds when configured to; allow it.
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1 << 16),
	}
}
