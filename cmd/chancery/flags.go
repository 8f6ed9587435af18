package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/storage/embedetcd"
)

// defaultHistoryRetention is a day of history: a 3 a.m. change can still be
// looked at and rolled back the next morning.
const defaultHistoryRetention = "24h"

// serveConfig is everything `chancery serve` is told.
type serveConfig struct {
	etcdEndpoints         []string
	etcdUsername          string
	etcdPassword          string
	etcdCA                string
	etcdCert              string
	etcdKey               string
	dataDir               string
	embeddedClient        string
	embeddedPeer          string
	historyRetention      embedetcd.Retention // of the embedded etcd
	prefix                string
	xdsAddress            string
	adminAddress          string
	replicaID             string
	coalesce              time.Duration
	drainTimeout          time.Duration
	maxConnectionAge      time.Duration
	maxConnectionAgeGrace time.Duration
	streamRate            float64
	maxWatchLag           time.Duration
	streamBurst           int
	logFormat             string
	logLevel              string
	// cluster: see cmd/chancery/cluster.go
	sessionTTL             time.Duration
	advertiseAddress       string
	advertiseAdminAddress  string
	healthCheckConcurrency int
	credentialFlags        // --etcd-password-file, --admin-debug, --admin-token-file: see credentials.go
	xdsTLSFlags            // --xds-tls-cert, --xds-tls-key, --xds-client-ca: see xdstls.go
}

// parseServeFlags reads flags, falling back to CHANCERY_* variables; a flag
// on the command line wins over the environment.
func parseServeFlags(args []string, env func(string) (string, bool)) (*serveConfig, error) {
	host, _ := os.Hostname()
	c := &serveConfig{}
	fs := flag.NewFlagSet("chancery serve", flag.ContinueOnError)
	var endpoints string
	fs.StringVar(&endpoints, "etcd-endpoints", "", "comma-separated etcd client URLs; empty starts an embedded single-node etcd")
	fs.StringVar(&c.etcdUsername, "etcd-username", "", "etcd user")
	fs.StringVar(&c.etcdPassword, "etcd-password", "", "etcd password; on the command line every local user can read it: prefer --etcd-password-file or CHANCERY_ETCD_PASSWORD")
	registerCredentialFlags(fs, c)
	fs.StringVar(&c.etcdCA, "etcd-ca", "", "CA bundle that signs etcd's server certificate")
	fs.StringVar(&c.etcdCert, "etcd-cert", "", "client certificate for etcd")
	fs.StringVar(&c.etcdKey, "etcd-key", "", "client key for etcd")
	fs.StringVar(&c.dataDir, "data-dir", "chancery-data", "data directory of the embedded etcd")
	fs.StringVar(&c.embeddedClient, "embedded-etcd-client-url", "http://127.0.0.1:2379", "client URL of the embedded etcd (etcdctl and chanceryctl use it)")
	fs.StringVar(&c.embeddedPeer, "embedded-etcd-peer-url", "http://127.0.0.1:2380", "peer URL of the embedded etcd")
	retention := fs.String("history-retention", defaultHistoryRetention, "history the embedded etcd keeps for chanceryctl history and rollback, and for serving a rejected object's last accepted version: "+
		"a number of revisions (10000), a duration (24h, at least 1m) or 0 for all of it; the database grows with every write kept")
	fs.StringVar(&c.prefix, "prefix", "/chancery/v1", "etcd key prefix of the keyspace")
	fs.StringVar(&c.xdsAddress, "xds-address", ":18000", "address of the xDS gRPC server")
	registerXDSTLSFlags(fs, &c.xdsTLSFlags)
	fs.StringVar(&c.adminAddress, "admin-address", "127.0.0.1:9400", "address of the admin HTTP server (/healthz, /readyz, /metrics, /debug/)")
	fs.StringVar(&c.replicaID, "replica-id", host, "name of this replica in logs and in etcd")
	fs.DurationVar(&c.coalesce, "coalesce", 5*time.Millisecond, "least time between two rebuilds: a change after a quiet spell is rebuilt at once, the ones that follow within this window together")
	fs.DurationVar(&c.drainTimeout, "drain-timeout", 10*time.Second, "on SIGTERM, how long Envoys get to move to another replica before streams are cut")
	fs.DurationVar(&c.maxConnectionAge, "max-connection-age", 30*time.Minute, "close xDS connections after about this long so streams rebalance (0: never)")
	fs.DurationVar(&c.maxConnectionAgeGrace, "max-connection-age-grace", 10*time.Second, "how long an aged xDS connection's streams run on after GOAWAY before it is closed")
	fs.Float64Var(&c.streamRate, "xds-stream-rate", 0, "admit at most this many new xDS streams per second, refusing the rest with UNAVAILABLE (0: no limit)")
	fs.IntVar(&c.streamBurst, "xds-stream-burst", 1000, "new xDS streams admitted at once above --xds-stream-rate")
	fs.DurationVar(&c.maxWatchLag, "max-watch-lag", 10*time.Second, "not ready once the watch has heard nothing from etcd for this long while another replica hears from it; a silence every replica shares keeps them all ready (docs/readiness.md)")
	fs.DurationVar(&c.sessionTTL, "session-ttl", 10*time.Second, "etcd lease TTL of this replica: how long a dead replica keeps its registration and its leadership (whole seconds, at least 1s)")
	fs.StringVar(&c.advertiseAddress, "advertise-address", "", "xDS address recorded in replicas/<id> (default: --xds-address, with the host name if it listens on every interface)")
	fs.StringVar(&c.advertiseAdminAddress, "advertise-admin-address", "", "admin address recorded in replicas/<id>, where the other replicas ask whether this one hears from etcd (default: --admin-address, with the host name if it listens on every interface; see docs/readiness.md)")
	fs.IntVar(&c.healthCheckConcurrency, "health-check-concurrency", 256, "health checks in flight at once while this replica leads")
	fs.StringVar(&c.logFormat, "log-format", "json", "json or console")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")

	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "CHANCERY_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := env(name); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %v", name, v, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := resolveCredentials(fs, c); err != nil {
		return nil, err
	}
	if err := c.xdsTLSFlags.validate(); err != nil {
		return nil, err
	}
	hr, err := embedetcd.ParseRetention(*retention)
	if err != nil {
		return nil, fmt.Errorf("--history-retention: %v", err)
	}
	c.historyRetention = hr
	for _, e := range strings.Split(endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.etcdEndpoints = append(c.etcdEndpoints, e)
		}
	}
	if len(c.etcdEndpoints) > 0 && *retention != defaultHistoryRetention {
		return nil, fmt.Errorf("--history-retention applies to the embedded etcd only; with --etcd-endpoints, etcd's own --auto-compaction-mode and --auto-compaction-retention decide")
	}
	if c.logFormat != "json" && c.logFormat != "console" {
		return nil, fmt.Errorf("--log-format %q: want json or console", c.logFormat)
	}
	if c.sessionTTL < time.Second {
		return nil, fmt.Errorf("--session-ttl %s: want at least 1s", c.sessionTTL)
	}
	if c.healthCheckConcurrency < 1 {
		return nil, fmt.Errorf("--health-check-concurrency %d: want at least 1", c.healthCheckConcurrency)
	}
	if c.coalesce < 0 || c.coalesce > time.Second {
		return nil, fmt.Errorf("--coalesce %s: want 0 to 1s", c.coalesce)
	}
	return c, nil
}
