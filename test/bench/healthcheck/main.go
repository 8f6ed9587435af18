// Command healthcheck measures what the elected leader costs when it checks
// many endpoints. It runs the real leader path — one cluster.Replica fed by a
// storage.Watcher: election, health checker, fenced writes, object status,
// proxy publisher — against an etcd and N real loopback listeners (half
// HTTP GET /healthz, half TCP connect) that a child process serves, so that
// only the leader is measured. It waits until every endpoint has a verdict,
// then reports the leader process's CPU seconds per second, RSS and Go heap
// over a steady window. It is not part of make test:
//
//	go run ./test/bench/healthcheck -endpoints 5000 -interval 5s -duration 30s
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/chancery-xds/chancery/cluster"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

type options struct {
	endpoints   int
	interval    time.Duration
	duration    time.Duration
	concurrency int
}

func main() {
	var o options
	flag.IntVar(&o.endpoints, "endpoints", 5000, "endpoints to check, half HTTP, half TCP")
	flag.DurationVar(&o.interval, "interval", 5*time.Second, "health check interval")
	flag.DurationVar(&o.duration, "duration", 30*time.Second, "steady-state measurement window")
	flag.IntVar(&o.concurrency, "concurrency", cluster.DefaultConcurrency, "checks in flight at once")
	world := flag.Bool("world", false, "internal: be the child that serves etcd and the endpoints")
	dataDir := flag.String("data-dir", "", "internal: the child's etcd data directory")
	flag.Parse()
	var err error
	if *world {
		err = serveWorld(o.endpoints, *dataDir)
	} else {
		err = run(o)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	w, stop, err := startWorld(o.endpoints)
	if err != nil {
		return err
	}
	defer stop()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{w.Etcd}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	ks := storage.NewKeyspace("")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := populate(ctx, cli, ks, w, o.interval); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	watcher := storage.NewWatcher(storage.WatcherConfig{Client: cli, Keyspace: ks, Coalesce: 5 * time.Millisecond})
	replica, err := cluster.New(cluster.Config{
		Client: cli, Keyspace: ks, ID: "bench", HealthCheckConcurrency: o.concurrency,
		Revision: watcher.Revision, Registerer: reg,
	})
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watcher.Run(gctx, func(s *model.Snapshot) { replica.Observe(s, nil) }) })
	g.Go(func() error { return replica.Run(gctx) })
	err = measure(gctx, o, cli, ks, reg)
	cancel()
	if werr := g.Wait(); werr != nil && !errors.Is(werr, context.Canceled) && err == nil {
		err = werr
	}
	return err
}

// startWorld runs this binary again as the child that serves etcd and the
// endpoints, and reads their addresses.
func startWorld(n int) (world, func(), error) {
	self, err := os.Executable()
	if err != nil {
		return world{}, nil, err
	}
	dir, err := os.MkdirTemp("", "chancery-bench-healthcheck-")
	if err != nil {
		return world{}, nil, err
	}
	cmd := exec.Command(self, "-world", "-endpoints", fmt.Sprint(n), "-data-dir", dir)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return world{}, nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return world{}, nil, err
	}
	if err := cmd.Start(); err != nil {
		return world{}, nil, err
	}
	stop := func() {
		stdin.Close() // the child exits when its stdin closes
		if err := cmd.Wait(); err != nil {
			fmt.Fprintf(os.Stderr, "healthcheck: child: %v\n", err)
		}
		os.RemoveAll(dir)
	}
	var w world
	if err := json.NewDecoder(stdout).Decode(&w); err != nil {
		stop()
		return world{}, nil, fmt.Errorf("read the child's addresses: %w", err)
	}
	return w, stop, nil
}

// populate writes an HTTP-checked and a TCP-checked service and one endpoint
// per listener, 128 keys per transaction.
func populate(ctx context.Context, cli *clientv3.Client, ks storage.Keyspace, w world, interval time.Duration) error {
	hc := func(typ string) string {
		path := ""
		if typ == "http" {
			path = `,"path":"/healthz"`
		}
		return fmt.Sprintf(`{"protocol":"http","health_check":{"type":%q%s,"interval":%q}}`, typ, path, interval)
	}
	ops := []clientv3.Op{
		clientv3.OpPut(ks.Key(model.Ref{Kind: model.KindService, Name: "web"}), hc("http")),
		clientv3.OpPut(ks.Key(model.Ref{Kind: model.KindService, Name: "db"}), hc("tcp")),
	}
	add := func(svc string, addrs []string) {
		for i, a := range addrs {
			host, port := splitAddr(a)
			ref := model.Ref{Kind: model.KindEndpoint, Name: fmt.Sprintf("%s/e%05d", svc, i)}
			ops = append(ops, clientv3.OpPut(ks.Key(ref), fmt.Sprintf(`{"address":%q,"port":%d}`, host, port)))
		}
	}
	add("web", w.HTTP)
	add("db", w.TCP)
	for len(ops) > 0 {
		n := min(len(ops), 128)
		if _, err := cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return fmt.Errorf("write the keyspace: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}
