// Package embedetcd runs a single-node etcd inside the process: the quick
// start of chancery serve, and the etcd of integration tests.
package embedetcd

import (
	"fmt"
	"net/url"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
)

// Config configures a single-node etcd run inside the process: the
// quick start, and the etcd of integration tests.
type Config struct {
	DataDir   string
	ClientURL string // e.g. http://127.0.0.1:2379
	PeerURL   string // e.g. http://127.0.0.1:2380
	Logger    *zap.Logger
}

// Etcd is a running in-process etcd.
type Etcd struct {
	etcd     *embed.Etcd
	logLevel zap.AtomicLevel
}

// Start starts etcd and waits until it serves, at most a minute.
func Start(cfg Config) (*Etcd, error) {
	client, err := url.Parse(cfg.ClientURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd client URL %q: %w", cfg.ClientURL, err)
	}
	peer, err := url.Parse(cfg.PeerURL)
	if err != nil {
		return nil, fmt.Errorf("embedded etcd peer URL %q: %w", cfg.PeerURL, err)
	}
	ec := embed.NewConfig()
	ec.Name = "chancery"
	ec.Dir = cfg.DataDir
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	ec.LogLevel = "warn"
	// Warnings and errors while running; nothing once Close starts, when etcd
	// reports every listener it closes as a serving error.
	level := zap.NewAtomicLevelAt(zap.WarnLevel)
	if cfg.Logger != nil {
		ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(cfg.Logger.Named("etcd").WithOptions(zap.IncreaseLevel(level)))
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd in %s: %w", cfg.DataDir, err)
	}
	select {
	case <-e.Server.ReadyNotify():
		return &Etcd{etcd: e, logLevel: level}, nil
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(time.Minute):
		e.Close()
		return nil, fmt.Errorf("embedded etcd in %s did not become ready within a minute", cfg.DataDir)
	}
}

// Endpoint is the client URL to dial.
func (e *Etcd) Endpoint() string { return e.etcd.Config().AdvertiseClientUrls[0].String() }

// Err reports a fatal error of the running server.
func (e *Etcd) Err() <-chan error { return e.etcd.Err() }

// Close stops etcd and waits for it.
func (e *Etcd) Close() {
	e.logLevel.SetLevel(zap.FatalLevel)
	e.etcd.Close()
}
