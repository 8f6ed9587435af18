// Command bench-baseline is the reference server the benchmarks compare
// Chancery with: the same etcd watcher and the same translation, served
// with go-control-plane's stock caches and server in one of two setups
// (-mode):
//
//   - per-node, the way most go-control-plane users serve it: a
//     SnapshotCache keyed by node id (cache.IDHash), one snapshot per
//     connected node rebuilt on every change, and a version that is a
//     counter bumped on every change (server.go);
//   - best, the way its most careful users do (Contour): one snapshot per
//     node group (node.cluster) set only when the group's clusters,
//     listeners, routes or secrets change, and the load assignments in a
//     LinearCache updated with only those that changed, the two behind a
//     MuxCache (best.go).
//
// Only the serving strategy differs from Chancery, so the ratios measure
// that strategy.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// Cache setups (-mode).
const (
	modePerNode = "per-node"
	modeBest    = "best"
)

type config struct {
	etcd    []string
	prefix  string
	xds     string
	admin   string
	replica string
	mode    string
	wait    time.Duration
}

// setup is one way of serving the translation through go-control-plane.
type setup interface {
	// apply is the watcher's callback: it serves the snapshot's translation.
	apply(*model.Snapshot)
	register(*grpc.Server)
	adminHandler() http.Handler
}

func main() {
	var c config
	var etcd string
	fs := flag.NewFlagSet("bench-baseline", flag.ContinueOnError)
	fs.StringVar(&etcd, "etcd-endpoints", "http://127.0.0.1:2379", "comma-separated etcd client URLs")
	fs.StringVar(&c.prefix, "prefix", storage.DefaultPrefix, "etcd key prefix of the keyspace")
	fs.StringVar(&c.xds, "xds-address", "127.0.0.1:18000", "address of the xDS gRPC server")
	fs.StringVar(&c.admin, "admin-address", "127.0.0.1:9400", "address of the admin HTTP server (/readyz, /metrics, /debug/pprof/)")
	fs.StringVar(&c.replica, "replica-id", "baseline", "name in logs")
	fs.StringVar(&c.mode, "mode", modePerNode, "cache setup: per-node (a snapshot per node id, rebuilt on every change) or best (a snapshot per node group, load assignments in a LinearCache, behind a MuxCache)")
	fs.DurationVar(&c.wait, "coalesce", 5*time.Millisecond, "the watcher's coalescing window, as Chancery's")
	err := fs.Parse(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		os.Exit(2)
	}
	if c.mode != modePerNode && c.mode != modeBest {
		fmt.Fprintf(os.Stderr, "bench-baseline: -mode %q: want %s or %s\n", c.mode, modePerNode, modeBest)
		os.Exit(2)
	}
	for _, e := range strings.Split(etcd, ",") {
		if e = strings.TrimSpace(e); e != "" {
			c.etcd = append(c.etcd, e)
		}
	}
	if err := serve(c); err != nil {
		fmt.Fprintf(os.Stderr, "bench-baseline: %v\n", err)
		os.Exit(1)
	}
}

func serve(c config) error {
	log, err := zap.NewProduction()
	if err != nil {
		return err
	}
	log = log.With(zap.String("replica", c.replica), zap.String("mode", c.mode))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	cli, err := storage.Dial(storage.ClientConfig{Endpoints: c.etcd, Logger: log.Named("etcd-client").WithOptions(zap.IncreaseLevel(zap.WarnLevel))})
	if err != nil {
		return err
	}
	defer cli.Close()
	var b setup
	if c.mode == modeBest {
		b = newBest(ctx, log)
	} else {
		b = newBaseline(ctx, log)
	}
	watcher := storage.NewWatcher(storage.WatcherConfig{Client: cli, Keyspace: storage.NewKeyspace(c.prefix), Coalesce: c.wait, Logger: log.Named("watcher")})

	xdsListener, err := net.Listen("tcp", c.xds)
	if err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	adminListener, err := net.Listen("tcp", c.admin)
	if err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	// The transport is configured as Chancery's is (keepalives, a high
	// stream limit, fixed flow-control windows), so only the caching,
	// versioning and stream handling differ.
	g := grpc.NewServer(
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.MaxConcurrentStreams(1<<16),
		grpc.InitialWindowSize(1<<20), grpc.InitialConnWindowSize(1<<20),
	)
	b.register(g)
	admin := &http.Server{Handler: b.adminHandler(), ReadHeaderTimeout: 5 * time.Second}

	eg, gctx := errgroup.WithContext(ctx)
	eg.Go(func() error { return watcher.Run(gctx, b.apply) })
	eg.Go(func() error {
		if err := g.Serve(xdsListener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	})
	eg.Go(func() error {
		if err := admin.Serve(adminListener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	eg.Go(func() error {
		<-gctx.Done()
		g.Stop()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return admin.Shutdown(shutdown)
	})
	return eg.Wait()
}
