package storage

import (
	"fmt"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// ClientConfig is how to reach etcd: endpoints, TLS and auth.
type ClientConfig struct {
	Endpoints []string
	Username  string
	Password  string
	CAFile    string // verifies etcd's server certificate
	CertFile  string // client certificate, with KeyFile
	KeyFile   string
	Logger    *zap.Logger
}

// Dial returns an etcd client. It does not wait for etcd: requests retry
// until their context ends, so a replica can start while etcd is down.
// ReconnectMaxDelay is the longest wait, before jitter (±20%), between the
// etcd client's attempts to reconnect to a member.
const ReconnectMaxDelay = 3 * time.Second

func Dial(cfg ClientConfig) (*clientv3.Client, error) {
	cc := clientv3.Config{
		Endpoints:            cfg.Endpoints,
		Username:             cfg.Username,
		Password:             cfg.Password,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		Logger:               cfg.Logger,
		// gRPC's default reconnect backoff grows to 120s: after a long etcd
		// outage a client would stay away for up to two minutes after etcd
		// is back. Bounded (and jittered by gRPC), it returns within seconds.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: ReconnectMaxDelay},
			MinConnectTimeout: 5 * time.Second,
		})},
	}
	if cc.Logger == nil {
		cc.Logger = zap.NewNop()
	}
	if cfg.CAFile != "" || cfg.CertFile != "" || cfg.KeyFile != "" {
		tlsInfo := transport.TLSInfo{TrustedCAFile: cfg.CAFile, CertFile: cfg.CertFile, KeyFile: cfg.KeyFile}
		tc, err := tlsInfo.ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: %w", err)
		}
		cc.TLS = tc
	}
	if cc.Username != "" && cc.Password != "" {
		// With a user, New fetches a token before it returns and waits up
		// to DialTimeout for a connection: learn of a refused one first.
		if err := checkBeforeAuth(cc); err != nil {
			return nil, err
		}
	}
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil, fmt.Errorf("etcd client for %v: %w", cfg.Endpoints, err)
	}
	return cli, nil
}
