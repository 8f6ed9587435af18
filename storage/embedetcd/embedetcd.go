// Package embedetcd runs a single-node etcd inside the process: the quick
// start of chancery serve, and the etcd of integration tests.
package embedetcd

import (
	"fmt"
	"net/url"
	"strconv"
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
	// Retention is how much history etcd keeps; the zero value keeps all
	// of it, as integration tests want.
	Retention Retention
}

// Retention is how much of its history etcd keeps before compacting the
// rest: the last Revisions revisions, or what is younger than Period. At
// most one is set; neither keeps everything, and the database then grows
// with every write for good.
type Retention struct {
	Revisions int64
	Period    time.Duration
}

// ParseRetention reads a retention as --history-retention gives it: a
// whole number of revisions ("10000"), a Go duration ("24h"), or "0" to
// keep everything.
func ParseRetention(s string) (Retention, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		if n < 0 {
			return Retention{}, fmt.Errorf("history retention %q: want 0 or more revisions", s)
		}
		return Retention{Revisions: n}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return Retention{}, fmt.Errorf("history retention %q: want a number of revisions (10000), a duration (24h) or 0", s)
	}
	if d > 0 && d < time.Minute {
		return Retention{}, fmt.Errorf("history retention %q: want at least 1m, or a number of revisions", s)
	}
	return Retention{Period: d}, nil
}

// String is the retention as ParseRetention reads it.
func (r Retention) String() string {
	switch {
	case r.Revisions > 0:
		return strconv.FormatInt(r.Revisions, 10)
	case r.Period > 0:
		return r.Period.String()
	}
	return "0"
}

// apply sets etcd's auto-compaction: in revision mode etcd compacts every
// five minutes to Revisions behind the head; in periodic mode it keeps
// Period of history, compacting hourly (every Period if shorter).
func (r Retention) apply(ec *embed.Config) {
	switch {
	case r.Revisions > 0:
		ec.AutoCompactionMode, ec.AutoCompactionRetention = embed.CompactorModeRevision, strconv.FormatInt(r.Revisions, 10)
	case r.Period > 0:
		ec.AutoCompactionMode, ec.AutoCompactionRetention = embed.CompactorModePeriodic, r.Period.String()
	}
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
	cfg.Retention.apply(ec)
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
