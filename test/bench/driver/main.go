// Command bench-driver runs Chancery's benchmarks (make bench): a real etcd,
// Chancery replicas, go-control-plane's stock caches and server in two
// setups (bench-baseline: per node id, and the best, per node group with a
// LinearCache), simulated fleets (bench-fleet) and real Envoys, all on
// loopback. It writes
// docs/benchmarks.md, docs/benchmarks.json and docs/bench/*.png.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// config is the driver's command line.
type config struct {
	scale        string
	only         map[string]bool // phases to run; empty means all
	root         string          // repository root: bin/, docs/, scripts/
	out          string          // where the report goes
	workDir      string
	chanceryArgs []string
	// fleetTransports are the fleet's gRPC clients: the first for every
	// phase, the others for P1 (with P3) and P4 again.
	fleetTransports []string
	profile         bool // save pprof profiles of the replicas under <work>/profiles
	profileSeconds  int
	render          bool            // only rewrite the report from benchmarks.json
	merge           bool            // keep the phases of the earlier report that this run does not run
	p1Runs          map[string]bool // P1 runs to make, as server/mode/clients[/transport]; empty means all
	p4Runs          map[string]bool // P4 runs to make, as server/mode[/transport]; empty means all
	p5Rates         []int           // P5 write rates; empty means the scale's
	tls             bool            // the shared keyspace's listener is https, with a certificate secret
	policy          bool            // the shared keyspace's route table enforces RBAC, a JWT and rate limits
}

// driver runs one benchmark run.
type driver struct {
	cfg    config
	scale  scaleConfig
	dir    string // logs, data, bootstraps
	procs  *procs
	etcd   *etcdServer
	seq    atomic.Uint64 // sequence numbers, unique in the run
	report *Report
	cert   *model.TLSCertificate // the https listener's, with -tls
}

func main() {
	cfg, err := parseFlags()
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-driver: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	code := 0
	if err := run(ctx, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "bench-driver: %v\n", err)
		code = 1
	}
	stop()
	os.Exit(code)
}

func parseFlags() (config, error) {
	var c config
	var only, extra, transports, p1Runs, p4Runs, p5Rates string
	scale := os.Getenv("BENCH_SCALE")
	if scale == "" {
		scale = "small"
	}
	flag.StringVar(&c.scale, "scale", scale, "small (default, under 10 minutes), full, or tiny (a smoke test); also BENCH_SCALE")
	flag.StringVar(&only, "only", "", "comma-separated phases to run (floor,P1,P2,P4,P5,P6; P3 is taken within P1)")
	flag.StringVar(&c.root, "root", ".", "repository root")
	flag.StringVar(&c.out, "out", "", "directory for benchmarks.md, benchmarks.json and bench/ (default <root>/docs)")
	flag.StringVar(&c.workDir, "work", "", "directory for logs and data (default a new one under the system temp dir, kept)")
	flag.StringVar(&extra, "chancery-args", "", "extra arguments for chancery serve, space-separated")
	flag.StringVar(&transports, "fleet-transport", "h2", "the fleet's gRPC client: h2 (its own, lean as Envoy's) or grpc (gRPC-Go's); a list (h2,grpc) runs P1 and P4 again on each one after the first")
	flag.BoolVar(&c.profile, "profile", false, "save CPU and heap profiles of the replicas under test in <work>/profiles")
	flag.IntVar(&c.profileSeconds, "profile-seconds", 5, "length of each CPU profile")
	flag.StringVar(&p1Runs, "p1-runs", "", "comma-separated P1 runs to make, as server/mode/clients (chancery/delta/10000), on every -fleet-transport, or server/mode/clients/transport (baseline-best/sotw/1000/grpc); default all of the scale's")
	flag.StringVar(&p4Runs, "p4-runs", "", "comma-separated P4 runs to make, as server/mode (baseline-best/delta) or server/mode/transport; default all")
	flag.StringVar(&p5Rates, "p5-rates", "", "comma-separated P5 write rates per second; default the scale's")
	flag.BoolVar(&c.merge, "merge", false, "with -only: keep the other phases' figures from the existing benchmarks.json (same scale)")
	flag.BoolVar(&c.policy, "policy", false, "make the route table of the floor, P1, P4 and P5 keyspace enforce RBAC and a JWT at the table and a local rate limit on every route")
	flag.BoolVar(&c.tls, "tls", false, "make the listener of the floor, P1, P4 and P5 keyspace https, with a self-signed certificate secret every group gets over SDS")
	flag.BoolVar(&c.render, "render", false, "run nothing: rewrite benchmarks.md and the plots from benchmarks.json (after editing docs/bench/notes.md)")
	flag.Parse()
	if _, ok := scales[c.scale]; !ok {
		return c, fmt.Errorf("scale %q: want small, full or tiny", c.scale)
	}
	c.only = map[string]bool{}
	for _, p := range strings.Split(only, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.only[strings.ToLower(p)] = true
		}
	}
	c.p1Runs, c.p4Runs = set(p1Runs), set(p4Runs)
	for t := range set(transports) {
		if t != "h2" && t != "grpc" {
			return c, fmt.Errorf("-fleet-transport: %q is not h2 or grpc", t)
		}
	}
	for _, t := range strings.Split(transports, ",") {
		if t = strings.TrimSpace(t); t != "" && !slices.Contains(c.fleetTransports, t) {
			c.fleetTransports = append(c.fleetTransports, t)
		}
	}
	if len(c.fleetTransports) == 0 {
		return c, errors.New("-fleet-transport: none given")
	}
	for _, r := range strings.Split(p5Rates, ",") {
		if r = strings.TrimSpace(r); r != "" {
			n, err := strconv.Atoi(r)
			if err != nil || n <= 0 {
				return c, fmt.Errorf("-p5-rates: %q is not a rate", r)
			}
			c.p5Rates = append(c.p5Rates, n)
		}
	}
	c.chanceryArgs = strings.Fields(extra)
	root, err := filepath.Abs(c.root)
	if err != nil {
		return c, err
	}
	c.root = root
	if c.out == "" {
		c.out = filepath.Join(root, "docs")
	}
	return c, nil
}

// set splits a comma-separated list.
func set(list string) map[string]bool {
	out := map[string]bool{}
	for _, r := range strings.Split(list, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out[r] = true
		}
	}
	return out
}

// transport is the fleet's gRPC client of every phase: the first of
// -fleet-transport.
func (c config) transport() string { return c.fleetTransports[0] }

// wanted reports whether a run filter (-p1-runs, -p4-runs) selects the run
// key names on transport: an entry names it on every transport, or with
// "/transport" on that one only.
func wanted(filter map[string]bool, key, transport string) bool {
	return len(filter) == 0 || filter[key] || filter[key+"/"+transport]
}

func run(ctx context.Context, cfg config) error {
	if cfg.render {
		return render(cfg)
	}
	dir := cfg.workDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "chancery-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	d := &driver{cfg: cfg, scale: scales[cfg.scale], dir: dir, procs: &procs{dir: dir}, report: newReport(cfg.scale)}
	if len(cfg.p5Rates) > 0 {
		d.scale.p5Rates = cfg.p5Rates
	}
	if cfg.tls {
		if err := d.useTLS(); err != nil {
			return err
		}
	}
	// Runs after stopAll: the logs and profiles stay, etcd's data (tens of
	// megabytes of preallocated WAL) does not.
	defer func() {
		if err := os.RemoveAll(filepath.Join(dir, "etcd.data")); err != nil {
			fmt.Fprintf(os.Stderr, "bench-driver: %v\n", err)
		}
	}()
	defer d.procs.stopAll()
	for _, b := range []string{"etcd", "chancery", "envoy", "bench-fleet", "bench-baseline", "bench-rebuild"} {
		if _, err := os.Stat(d.bin(b)); err != nil {
			return fmt.Errorf("%s is missing: run make bench (it builds the bench binaries and runs make tools build)", d.bin(b))
		}
	}
	d.report.Machine = machine(cfg.root)
	d.report.FleetTransport = cfg.transport()
	d.report.ExtraTransports = cfg.fleetTransports[1:]
	d.report.Command = "make bench"
	if ts := strings.Join(cfg.fleetTransports, ","); ts != "h2" {
		d.report.Command = "BENCH_ARGS='-fleet-transport " + ts + "' " + d.report.Command
	}
	if cfg.scale != "small" {
		d.report.Command = "BENCH_SCALE=" + cfg.scale + " " + d.report.Command
	}
	fmt.Printf("bench: %s scale, logs in %s\n", cfg.scale, dir)

	var err error
	if d.etcd, err = d.startEtcd(ctx); err != nil {
		return err
	}
	defer d.etcd.cli.Close()
	phases := []struct {
		name string
		run  func(context.Context) error
	}{{"floor", d.floor}, {"P1", d.p1}, {"P2", d.p2}, {"P4", d.p4}, {"P5", d.p5}, {"P6", d.p6}}
	for _, p := range phases {
		if len(cfg.only) > 0 && !cfg.only[strings.ToLower(p.name)] {
			continue
		}
		start := time.Now()
		fmt.Printf("bench: %s ...\n", p.name)
		err := p.run(ctx)
		d.report.Seconds[p.name] = round(time.Since(start).Seconds(), 1)
		d.report.Commits[p.name] = d.report.Machine.Commit
		if err != nil {
			d.report.errorf("%s: %v", p.name, err)
			fmt.Printf("bench: %s failed: %v\n", p.name, err)
		}
		if ctx.Err() != nil {
			return errors.New("interrupted: no report written (logs kept)")
		}
	}
	d.report.Machine.LoadAfter = loadAverage()
	if cfg.merge {
		if err := d.mergeEarlier(); err != nil {
			return err
		}
	}
	if err := d.writeReport(); err != nil {
		return err
	}
	if len(d.report.Errors) > 0 {
		return fmt.Errorf("%d phase errors, listed in the report", len(d.report.Errors))
	}
	return nil
}

func (d *driver) bin(name string) string { return filepath.Join(d.cfg.root, "bin", name) }

// prefix gives each phase a keyspace of its own in the run's one etcd.
func (d *driver) prefix(phase string) string { return "/bench/" + phase }

func (d *driver) writer(prefix string) markerWriter {
	return markerWriter{etcd: d.etcd, prefix: prefix, seq: &d.seq}
}

// spec is the keyspace of P1, P3, P4 and P5.
func (d *driver) spec() workload.Spec {
	return workload.Spec{Services: d.scale.services, EndpointsPer: d.scale.endpointsPer, Groups: workload.Groups(d.scale.groups), Certificate: d.cert, Policy: d.cfg.policy}
}

// useTLS makes the spec's listener https, with a certificate made for the run.
func (d *driver) useTLS() error {
	cert, err := workload.SelfSigned(time.Now())
	if err != nil {
		return err
	}
	d.cert = &cert
	d.report.Notes = append(d.report.Notes, "-tls: the floor, P1, P4 and P5 listener is https, presenting secret "+
		workload.CertificateSecret+" (self-signed ECDSA P-256), which every group receives over SDS; a client counts as synced once it holds it")
	return nil
}

// syncTimeout bounds how long n clients may take to connect and sync.
func (d *driver) syncTimeout(n int) time.Duration {
	return time.Duration(float64(n)/float64(d.scale.connectRate)*float64(time.Second)) + 90*time.Second
}

// render rewrites the report of an earlier run.
func render(cfg config) error {
	b, err := os.ReadFile(filepath.Join(cfg.out, "benchmarks.json"))
	if err != nil {
		return err
	}
	r := &Report{}
	if err := json.Unmarshal(b, r); err != nil {
		return fmt.Errorf("benchmarks.json: %w", err)
	}
	sc, ok := scales[r.Scale]
	if !ok {
		return fmt.Errorf("benchmarks.json: unknown scale %q", r.Scale)
	}
	r.Notes = slices.DeleteFunc(r.Notes, func(n string) bool { return strings.HasPrefix(n, "plots not drawn") })
	r.normalize()
	d := &driver{cfg: cfg, scale: sc, report: r}
	return d.writeReport()
}

// mergedSuffix marks the command of a report some of whose phases were run
// again with -merge; phase_commits says which commit each phase ran at.
const mergedSuffix = ", then some phases again with bin/bench-driver -only ... -merge (see phase commits)"

// mergeEarlier adds to this run's report what the earlier report (the one
// about to be replaced) measured in the phases this run did not run.
func (d *driver) mergeEarlier() error {
	b, err := os.ReadFile(filepath.Join(d.cfg.out, "benchmarks.json"))
	if err != nil {
		return fmt.Errorf("-merge: %w", err)
	}
	var old Report
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("-merge: benchmarks.json: %w", err)
	}
	if old.Scale != d.report.Scale {
		return fmt.Errorf("-merge: the earlier report is at scale %s, this run at %s", old.Scale, d.report.Scale)
	}
	old.normalize()
	if old.FleetTransport != d.report.FleetTransport {
		return fmt.Errorf("-merge: the earlier report's fleet ran on %s, this run's on %s (the first -fleet-transport)", old.FleetTransport, d.report.FleetTransport)
	}
	ranPhase := func(phase string) bool { return d.ranPhase(phase) }
	extra := map[string]bool{}
	for _, t := range d.report.ExtraTransports {
		extra[t] = true
	}
	// kept notes a row of the earlier report that stays: its transport is
	// one of the report's, and a phase that ran again keeps, besides this
	// run's commit, the one its earlier rows ran at.
	kept := func(k row) {
		if k.transport != "" && k.transport != d.report.FleetTransport {
			extra[k.transport] = true
		}
		if phase := measuredIn(k.phase); ranPhase(phase) {
			key := phase + earlierRows
			d.report.Commits[key] = cmp.Or(old.Commits[key], old.Commits[phase], old.Machine.Commit)
		}
	}
	for _, m := range old.Metrics {
		if isRatio(m) {
			continue // worked out again over the merged rows (writeReport)
		}
		if !d.measured(m.row()) {
			d.report.Metrics = append(d.report.Metrics, m)
			kept(m.row())
		}
	}
	for name, v := range old.Series {
		if k := old.seriesRow(name); !d.measured(k) {
			d.report.Series[name] = v
			kept(k)
		}
	}
	for phase, v := range old.Seconds {
		if !ranPhase(phase) {
			d.report.Seconds[phase] = v
			// A report from before phases had commits ran at its machine's.
			d.report.Commits[phase] = cmp.Or(old.Commits[phase], old.Machine.Commit)
			if c, ok := old.Commits[phase+earlierRows]; ok {
				d.report.Commits[phase+earlierRows] = c
			}
		}
	}
	d.report.ExtraTransports = slices.Sorted(maps.Keys(extra))
	for _, e := range old.Errors {
		k := errorRow(e)
		if k.transport == "" && k.server != "" && perTransport(k.phase) {
			k.transport = old.FleetTransport // written before errors named it
		}
		if !d.measured(k) {
			d.report.Errors = append(d.report.Errors, e)
		}
	}
	base, _, _ := strings.Cut(old.Command, "; phases ") // the form before phase commits
	d.report.Command = strings.TrimSuffix(base, mergedSuffix) + mergedSuffix
	return nil
}

// earlierRows marks, in Commits, the commit of the rows a merged report
// kept of a phase that ran again ("P1 (earlier rows)").
const earlierRows = " (earlier rows)"

// measuredIn is the phase whose runs measure a phase's rows: P3's are P1's.
func measuredIn(phase string) string {
	if strings.EqualFold(phase, "P3") {
		return "P1"
	}
	return phase
}

// ranPhase reports whether this run ran a phase (P3 within P1).
func (d *driver) ranPhase(phase string) bool {
	return len(d.cfg.only) == 0 || d.cfg.only[strings.ToLower(measuredIn(phase))]
}

// measured reports whether this run measured row k: its phase ran and, for
// P1 (P3) and P4, on k's transport, with k's server, mode and scale
// selected (-p1-runs, -p4-runs). A merge keeps the earlier report's rows
// this run did not measure.
func (d *driver) measured(k row) bool {
	if !d.ranPhase(k.phase) {
		return false
	}
	if !perTransport(k.phase) || k.server == "" {
		return true
	}
	if !slices.Contains(d.cfg.fleetTransports, k.transport) {
		return false
	}
	if measuredIn(k.phase) == "P4" {
		return wanted(d.cfg.p4Runs, k.server+"/"+k.mode, k.transport)
	}
	return wanted(d.cfg.p1Runs, k.server+"/"+k.mode+"/"+strings.TrimPrefix(k.scale, "clients="), k.transport)
}

// errorRow returns the row a phase error names ("P1 chancery delta
// clients=100 fleet=grpc: ..."), as far as it names one.
func errorRow(e string) row {
	head, _, _ := strings.Cut(e, ":")
	fields := strings.Fields(head)
	if len(fields) == 0 {
		return row{}
	}
	k := row{phase: fields[0]}
	for i, f := range fields[1:] {
		switch {
		case strings.HasPrefix(f, "fleet="):
			k.transport = strings.TrimPrefix(f, "fleet=")
		case strings.HasPrefix(f, "clients="):
			k.scale = f
		case i == 0:
			k.server = f
		case i == 1:
			k.mode = f
		}
	}
	return k
}

// floorRatios adds P1's p50 over the floor's p50 wherever the report has
// both and not yet the ratio, whichever runs measured them (-merge).
func (r *Report) floorRatios() {
	var floor float64
	have := map[row]bool{}
	for _, m := range r.Metrics {
		switch {
		case m.Phase == "floor" && m.Name == "put_to_watch_p50":
			floor = m.Value
		case m.Phase == "P1" && m.Name == "propagation_p50_vs_floor":
			have[m.row()] = true
		}
	}
	if floor <= 0 {
		return
	}
	for _, m := range r.Metrics {
		if m.Phase == "P1" && m.Name == "propagation_p50" && !have[m.row()] {
			r.add(m.row().metric("propagation_p50_vs_floor", round(m.Value/floor, 1), "x", "p50 over the bare etcd watcher's p50"))
		}
	}
}
