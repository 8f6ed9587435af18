// Command bench-fleet is a simulated Envoy fleet for the benchmarks: N ADS
// clients (delta or state of the world), each with its own node id and
// group, that ACK every response and record when each change arrives,
// recognising it by its content. With -mode etcd the clients are bare etcd
// watchers instead: the floor the control plane is compared with.
//
// It prints {"http":"<address>"} on its first line of output and is then
// driven over that small HTTP API (see package benchapi).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/chancery-xds/chancery/test/bench/workload"
)

// config is what the fleet is told on its command line.
type config struct {
	mode          string
	transport     string
	clients       int
	addrs         []string
	groups        []string
	nodePrefix    string
	perConn       int
	backoff       time.Duration
	backoffMax    time.Duration
	connectRate   float64
	etcdEndpoints []string
	prefix        string
	listen        string
	lifetime      time.Duration
}

func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("bench-fleet", flag.ContinueOnError)
	var addrs, etcd string
	var groups int
	fs.StringVar(&c.mode, "mode", "delta", "delta, sotw, or etcd (bare etcd watchers: the floor)")
	fs.StringVar(&c.transport, "transport", "h2", "h2 (the fleet's own gRPC client, as lean as Envoy's) or grpc (gRPC-Go's client)")
	fs.IntVar(&c.clients, "clients", 1, "how many clients")
	fs.StringVar(&addrs, "xds", "", "comma-separated xDS addresses; a client starts on the first and moves to the next after each failure")
	fs.IntVar(&groups, "groups", 10, "node groups; client i is in group-(i mod groups)")
	fs.StringVar(&c.nodePrefix, "node-prefix", "node", "node ids are <prefix>-<i>")
	fs.IntVar(&c.perConn, "clients-per-conn", 1, "clients sharing one gRPC connection (real Envoys hold one each)")
	fs.DurationVar(&c.backoff, "backoff", 500*time.Millisecond, "base of the jittered reconnect backoff (Envoy's default is 500ms)")
	fs.DurationVar(&c.backoffMax, "backoff-max", 30*time.Second, "cap of the reconnect backoff")
	fs.Float64Var(&c.connectRate, "connect-rate", 2000, "clients started per second at startup")
	fs.StringVar(&etcd, "etcd", "", "comma-separated etcd endpoints (-mode etcd)")
	fs.StringVar(&c.prefix, "prefix", "/chancery/v1", "keyspace prefix (-mode etcd)")
	fs.StringVar(&c.listen, "listen", "127.0.0.1:0", "address of the control API")
	fs.DurationVar(&c.lifetime, "lifetime", 3*time.Hour, "exit after this long whatever happens, so a lost fleet cannot run on")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.addrs = splitList(addrs)
	c.etcdEndpoints = splitList(etcd)
	c.groups = workload.Groups(max(groups, 1))
	switch {
	case c.mode != "delta" && c.mode != "sotw" && c.mode != "etcd":
		return c, fmt.Errorf("-mode %q: want delta, sotw or etcd", c.mode)
	case c.transport != "h2" && c.transport != "grpc":
		return c, fmt.Errorf("-transport %q: want h2 or grpc", c.transport)
	case c.transport == "h2" && c.perConn > 1:
		return c, errors.New("-clients-per-conn above 1 needs -transport grpc")
	case c.mode == "etcd" && len(c.etcdEndpoints) == 0:
		return c, errors.New("-mode etcd needs -etcd")
	case c.mode != "etcd" && len(c.addrs) == 0:
		return c, errors.New("-xds is required")
	case c.clients < 1 || c.connectRate <= 0:
		return c, errors.New("-clients and -connect-rate must be positive")
	}
	return c, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func main() {
	cfg, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-fleet: %v\n", err)
		os.Exit(2)
	}
	// The fleet shares the cores with the server it measures: what it
	// spends collecting garbage is taken from the server. Memory is
	// plentiful; trade it for CPU. (Only the fleet: the replicas run as
	// shipped.)
	debug.SetGCPercent(400)
	if err := run(cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench-fleet: %v\n", err)
		os.Exit(1)
	}
}

func run(cfg config) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.lifetime)
	defer cancel()

	f := newFleet(cfg)
	lis, err := net.Listen("tcp", cfg.listen)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	srv := &http.Server{Handler: f.api(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		_ = srv.Shutdown(shutdown) // exiting anyway; a slow client of the API does not matter
	}()
	line, err := json.Marshal(map[string]string{"http": lis.Addr().String()})
	if err != nil {
		return err
	}
	fmt.Println(string(line))

	var wg sync.WaitGroup
	wg.Go(func() { f.startClients(ctx, &wg) })
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	wg.Wait()
	f.closePool()
	return nil
}

func newFleet(cfg config) *fleet {
	l := newLedger()
	f := &fleet{cfg: cfg, ledger: l, decoder: newDecoder(l), pool: map[string][]xdsConn{}}
	f.resetAt.Store(nowNs())
	f.addrs.Store(&cfg.addrs)
	for i := range cfg.clients {
		f.clients = append(f.clients, f.newClient(i))
	}
	return f
}

// startClients starts the clients at the configured rate: the steady state
// is under test, not the fleet's own start (P4 measures storms on purpose).
func (f *fleet) startClients(ctx context.Context, wg *sync.WaitGroup) {
	interval := time.Duration(float64(time.Second) / f.cfg.connectRate)
	start := time.Now()
	for i, c := range f.clients {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		}
		wg.Go(func() { c.run(ctx) })
	}
}

func (f *fleet) closePool() {
	f.poolMu.Lock()
	defer f.poolMu.Unlock()
	for _, conns := range f.pool {
		for _, cc := range conns {
			if cc != nil {
				cc.Close()
			}
		}
	}
}
