package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	"github.com/chancery-xds/chancery/cluster/readiness"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/embedetcd"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
	"github.com/chancery-xds/chancery/xdsserver"
)

func newLogger(format, level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	var cfg zap.Config
	if format == "console" {
		cfg = zap.NewDevelopmentConfig()
		cfg.DisableStacktrace = true
	} else {
		cfg = zap.NewProductionConfig()
		cfg.EncoderConfig.TimeKey = "time"
		cfg.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	}
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	return cfg.Build()
}

// serve runs one replica until SIGTERM or SIGINT, or until a part fails.
func serve(cfg *serveConfig) error {
	log, err := newLogger(cfg.logFormat, cfg.logLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }() // stderr cannot always be synced; nothing to do about it
	log = log.With(zap.String("replica", cfg.replicaID))
	warnCredentials(log, cfg)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	endpoints := cfg.etcdEndpoints
	var embedded *embedetcd.Etcd
	if len(endpoints) == 0 {
		embedded, err = embedetcd.Start(embedetcd.Config{
			DataDir: cfg.dataDir, ClientURL: cfg.embeddedClient, PeerURL: cfg.embeddedPeer, Logger: log, Retention: cfg.historyRetention,
		})
		if err != nil {
			return err
		}
		defer embedded.Close()
		endpoints = []string{embedded.Endpoint()}
		log.Info("embedded etcd started", zap.String("endpoint", embedded.Endpoint()), zap.String("data-dir", cfg.dataDir),
			zap.Stringer("history-retention", cfg.historyRetention))
	}
	cli, err := storage.Dial(storage.ClientConfig{
		Endpoints: endpoints, Username: cfg.etcdUsername, Password: cfg.etcdPassword,
		CAFile: cfg.etcdCA, CertFile: cfg.etcdCert, KeyFile: cfg.etcdKey, Logger: log.Named("etcd-client").WithOptions(zap.IncreaseLevel(zap.WarnLevel)),
	})
	if err != nil {
		return err
	}
	defer cli.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	xdsTLS, err := xdsServerTLS(&cfg.xdsTLSFlags, log.Named("xds"), reg)
	if err != nil {
		return err
	}
	xds := xdsserver.New(ctx, xdsserver.Config{Logger: log.Named("xds"), Registerer: reg, ClientCertGroups: cfg.requiresClientCertificates()})
	watcher := storage.NewWatcher(storage.WatcherConfig{
		Client: cli, Keyspace: storage.NewKeyspace(cfg.prefix), Coalesce: cfg.coalesce,
		Logger: log.Named("watcher"), Registerer: reg,
	})
	rebuild := newRebuilder(log, reg, xds)
	replica, err := newClusterReplica(cfg, log, cli, reg, xds, watcher)
	if err != nil {
		return err
	}
	rebuild.observe = replica.Observe
	ready, err := readiness.New(readiness.Config{
		Client: cli, Keyspace: storage.NewKeyspace(cfg.prefix), ID: cfg.replicaID, MaxLag: cfg.maxWatchLag,
		Heard: watcher.Heard, Revision: watcher.Revision, Logger: log.Named("readiness"),
	})
	if err != nil {
		return err
	}

	xdsListener, err := net.Listen("tcp", cfg.xdsAddress)
	if err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	adminListener, err := net.Listen("tcp", cfg.adminAddress)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	grpcServer := grpc.NewServer(append(xdsserver.ServerOptions(xdsserver.GRPCConfig{
		MaxConnectionAge: cfg.maxConnectionAge, MaxConnectionAgeGrace: cfg.maxConnectionAgeGrace,
		StreamRate: cfg.streamRate, StreamBurst: cfg.streamBurst, Registerer: reg,
	}), xdsTLS...)...)
	xds.Register(grpcServer)
	var draining atomic.Bool
	fleetUI := newFleetPage(cli, storage.NewKeyspace(cfg.prefix), cfg.replicaID, xds, ready)
	rebuild.observe = fleetUI.changes.chain(rebuild.observe) // the fleet page's recent changes
	admin := &http.Server{Handler: adminHandler(reg, xds, ready, &draining, cfg.maxWatchLag, cfg.debugAccess(), fleetUI.routes), ReadHeaderTimeout: 5 * time.Second}

	log.Info("serving", zap.String("xds-address", xdsListener.Addr().String()), zap.String("admin-address", adminListener.Addr().String()),
		zap.Strings("etcd-endpoints", endpoints), zap.String("prefix", cfg.prefix), zap.String("version", version))
	rebuild.ready = newReadyLine(log, xdsListener.Addr(), adminListener.Addr())

	g, gctx := errgroup.WithContext(ctx)
	if embedded == nil {
		g.Go(func() error { reportUnreachable(gctx, log, cli); return nil })
	}
	g.Go(func() error { return watcher.Run(gctx, rebuild.apply) })
	g.Go(func() error { return replica.Run(gctx) })
	g.Go(func() error { return ready.Run(gctx) })
	g.Go(func() error {
		if err := grpcServer.Serve(xdsListener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return fmt.Errorf("xds server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := admin.Serve(adminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("admin server: %w", err)
		}
		return nil
	})
	if embedded != nil {
		g.Go(func() error {
			select {
			case err := <-embedded.Err():
				return fmt.Errorf("embedded etcd: %w", err)
			case <-gctx.Done():
				return nil
			}
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		draining.Store(true)
		drain(log, grpcServer, cfg.drainTimeout)
		xds.Wait() // every stream's handler has returned: their receivers end
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return admin.Shutdown(shutdownCtx)
	})
	err = g.Wait()
	if err == nil && ctx.Err() != nil {
		log.Info("stopped")
	}
	return err
}

// drain sends GOAWAY to every Envoy and waits for their streams to end, at
// most timeout; Envoys reconnect to another replica behind the load
// balancer. What remains after the timeout is cut.
func drain(log *zap.Logger, g *grpc.Server, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(timeout):
		log.Warn("drain timed out, closing remaining streams", zap.Duration("drain-timeout", timeout))
		g.Stop()
		<-done
	}
}

// rebuilder translates each snapshot and publishes it.
type rebuilder struct {
	log      *zap.Logger
	xds      *xdsserver.Server
	memo     *translator.Memo // runs on the watcher's goroutine only
	duration prometheus.Histogram
	secrets  *secretExpiry // chancery_secret_expiry_timestamp_seconds
	ready    *readyLine    // logs the first time the replica is ready
	// observe hands each snapshot and its rejections to the cluster
	// (health checks, object status); it never blocks.
	observe func(*model.Snapshot, []model.Rejection)
}

func newRebuilder(log *zap.Logger, reg prometheus.Registerer, xds *xdsserver.Server) *rebuilder {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "chancery_rebuild_seconds", Help: "Time to translate and publish one model snapshot.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
	})
	reg.MustRegister(h)
	return &rebuilder{log: log, xds: xds, memo: translator.NewMemo(), duration: h, secrets: newSecretExpiry(reg)}
}

func (r *rebuilder) apply(snap *model.Snapshot) {
	start := time.Now()
	res, _ := r.memo.Translate(snap) // rejections travel in res.Rejected; Publish logs them
	if err := r.xds.Publish(&res.Resources); err != nil {
		r.log.Error("publish failed", zap.Int64("revision", snap.Revision), zap.Error(err))
	}
	r.ready.observe(r.xds.Ready(), snap.Revision)
	r.secrets.observe(snap, res.Rejected)
	if r.observe != nil {
		r.observe(snap, res.Rejected)
	}
	elapsed := time.Since(start)
	r.duration.Observe(elapsed.Seconds())
	r.log.Debug("rebuilt", zap.Int64("revision", snap.Revision), zap.Duration("took", elapsed))
}
