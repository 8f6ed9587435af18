package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// column is one metric shown as a table column.
type column struct{ name, header string }

// writeReport writes benchmarks.json, draws the plots and writes
// benchmarks.md, which embeds docs/bench/notes.md (hand-written analysis
// that outlives a run) when it exists.
func (d *driver) writeReport() error {
	d.report.floorRatios()
	d.report.compare()
	d.report.order()
	out := d.cfg.out
	plots := filepath.Join(out, "bench")
	if err := os.MkdirAll(plots, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(d.report, "", "  ")
	if err != nil {
		return err
	}
	jsonPath := filepath.Join(out, "benchmarks.json")
	if err := os.WriteFile(jsonPath, append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := d.plot(plots); err != nil {
		d.report.Notes = append(d.report.Notes, fmt.Sprintf("plots not drawn (%v); run scripts/install-bench-deps.sh", err))
	}
	if d.cfg.profile {
		if err := d.publishProfiles(filepath.Join(plots, "profiles")); err != nil {
			return err
		}
	}
	notes, err := os.ReadFile(filepath.Join(plots, "notes.md"))
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	md := d.markdown(string(notes))
	fmt.Printf("bench: wrote %s, %s and %s\n", filepath.Join(out, "benchmarks.md"), jsonPath, plots)
	return os.WriteFile(filepath.Join(out, "benchmarks.md"), []byte(md), 0o644)
}

// plot draws the plots of the rows on the report's fleet transport: the
// plot script knows servers, modes and scales, not transports, so it is
// given a copy of the report without the other transports' rows.
func (d *driver) plot(dir string) error {
	r := *d.report
	r.Metrics = slices.DeleteFunc(slices.Clone(r.Metrics), func(m Metric) bool { return m.Transport != "" && m.Transport != r.FleetTransport })
	r.Series = maps.Clone(r.Series)
	maps.DeleteFunc(r.Series, func(name string, _ []float64) bool {
		k := r.seriesRow(name)
		return k.transport != "" && k.transport != r.FleetTransport
	})
	js, err := json.Marshal(&r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "chancery-bench-plot-*.json")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(js)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	python := filepath.Join(d.cfg.root, ".venv", "bin", "python")
	msg, err := exec.Command(python, filepath.Join(d.cfg.root, "scripts", "bench-plot.py"), f.Name(), dir).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(msg)))
	}
	return nil
}

func (d *driver) markdown(notes string) string {
	r := d.report
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Chancery benchmarks")
	p("")
	p("Written by `%s` (scale **%s**) on %s; reproduce with `make bench` (small, under ten minutes) or `BENCH_SCALE=full make bench`. Raw figures, one entry per metric and scale with its unit: [benchmarks.json](benchmarks.json). The harness is `test/bench` (driver, fleet, baseline, rebuild).", r.Command, r.Scale, r.Generated)
	switch r.FleetTransport {
	case "h2":
		p("")
		p("The simulated Envoys speak gRPC through the fleet's own HTTP/2 client (`test/bench/fleet/h2.go`; `-fleet-transport grpc` runs them on gRPC-Go's client, as every report before 2026-11-26 did).")
	case "grpc":
		p("")
		p("The simulated Envoys run on gRPC-Go's client (`-fleet-transport grpc`).")
	}
	if len(r.ExtraTransports) > 0 {
		p("P1 (with P3) and P4 ran again with the fleet on %s (`-fleet-transport %s`): the *fleet* column of their tables names each row's client (h2: the fleet's own; grpc: gRPC-Go's). The plots show the %s rows.",
			transportNames(r.ExtraTransports), strings.Join(append([]string{r.FleetTransport}, r.ExtraTransports...), ","), r.FleetTransport)
	}
	p("")
	m := r.Machine
	p("**Machine:** %s, %d cores, %.1f GiB, Linux %s, %s, commit `%s`, %s, Envoy `%s`. Load average before/after: %s / %s. Every process of a run (etcd, replicas, the fleet, Envoy) shares these cores, as on a developer's machine.", m.CPU, m.Cores, m.MemoryGiB, m.Kernel, m.Go, m.Commit, m.Etcd, m.Envoy, m.LoadBefore, m.LoadAfter)
	p("")
	if at := phaseCommits(r); at != "" {
		p("**Phases ran at:** %s.", at)
		p("")
	}
	p("**Workload:** %d services × %d endpoints, one route table reaching all, one HTTP listener for %d node groups; fleet client *i* is in group *i* mod %d with its own node id and its own gRPC connection. A change is one endpoint write whose metadata carries a sequence number; clients decode it from the ClusterLoadAssignment they receive. Latency is etcd's Put returning (in the driver) to the client's ACK being sent (in the fleet), on the same wall clock.", d.scale.services, d.scale.endpointsPer, d.scale.groups, d.scale.groups)
	p("")
	gcp := "go-control-plane"
	if v := r.Machine.GoControlPlane; v != "" {
		gcp += " " + v
	}
	p("**Baselines:** `test/bench/baseline`, the same etcd watcher and translator served by %s's stock caches and `server.NewServer`, with the same gRPC transport settings as Chancery, in two setups:", gcp)
	p("")
	p("- **baseline-best** (`bench-baseline --mode best`), the way its most careful users serve it, as Contour does: `cache.NewSnapshotCache(false, groupHash, …)` keyed by node group (`node.cluster`) for clusters, listeners, routes and secrets, one snapshot per group set only when that group's resources of those types change, each type versioned by a hash of its content; every group's load assignments in one `cache.NewLinearCache(resource.EndpointType)` updated (`UpdateResources`) with only the assignments that changed, which it versions one by one (a counter for state of the world, a hash of each resource for delta); a `cache.MuxCache` routing each request to one of the two by type URL. Translated through `translator.Memo`, as Chancery is, so an unchanged resource is the same object and changes are found by identity.")
	p("- **baseline** (`--mode per-node`), the way most go-control-plane users serve it: `cache.NewSnapshotCache(true, cache.IDHash{}, nil)`, one snapshot per node id rebuilt from a full translation on every change, counter versions.")
	p("")
	p("Ratios are Chancery / baseline-best and Chancery / baseline: below 1 is better for Chancery.")
	p("")
	d.targetsTable(&b)
	d.section(&b, "Floor: etcd alone", "floor", "A bare etcd watcher in its own process, Put returned (in the driver) to watch event (in the watcher). The event can arrive before the writer sees its Put return; such samples count as 0 in the quantiles.",
		[]column{{"put_to_watch_p50", "p50 ms"}, {"put_to_watch_p99", "p99 ms"}, {"put_to_watch_max", "max ms"}})
	d.section(&b, "P1 propagation", "P1", "Put returned → each client's ACK, sequential changes; *last client* is the time until the last client holds a change.",
		[]column{{"propagation_p50", "p50 ms"}, {"propagation_p99", "p99 ms"}, {"propagation_max", "max ms"}, {"last_client_p50", "last client p50 ms"},
			{"last_client_max", "last client max ms"}, {"propagation_p50_vs_floor", "p50 × floor"}, {"resources_per_change", "resources/client/change"},
			{"server_cpu_per_change", "server CPU ms/change"}, {"fleet_cpu_per_change", "fleet CPU ms/change"}})
	d.ratioSections(&b, "P1", []column{{"propagation_p50_ratio", "p50"}, {"propagation_p99_ratio", "p99"}, {"last_client_p50_ratio", "last client p50"}})
	d.image(&b, "P1 latency distribution", "p1-latency.png")
	d.image(&b, "P1 propagation vs N", "p1-vs-n.png")
	d.section(&b, "P2 rebuild", "P2", "In process (`bench-rebuild`): `translator.Translate` + `xdsserver.Server.Publish`, the replica's rebuild path; five endpoints per service, ten groups.",
		[]column{{"full_rebuild", "full ms"}, {"full_translate", "translate ms"}, {"full_publish", "publish ms"}, {"endpoint_change_rebuild", "1 endpoint ms"},
			{"endpoint_change_translate", "translate ms"}, {"endpoint_change_publish", "publish ms"}, {"snapshot_bytes", "group snapshot MiB"}, {"full_rebuild_alloc", "alloc MiB"}})
	d.section(&b, "P3 memory per idle client", "P3", "Replica RSS (VmRSS) and goroutines with the fleet connected, synced and idle, after two GCs, less the same replica's figures before the first client. *Settled* RSS leaves out idle heap the Go runtime has not yet returned to the OS (heap_idle − heap_released), which the scavenger gives back over the following seconds.",
		[]column{{"rss", "RSS MiB"}, {"rss_per_client", "RSS/client KiB"}, {"rss_settled_per_client", "settled RSS/client KiB"}, {"heap_inuse_per_client", "heap/client KiB"}, {"stack_per_client", "stacks/client KiB"}, {"goroutines_per_client", "goroutines/client"}})
	d.ratioSections(&b, "P3", []column{{"rss_per_client_ratio", "RSS/client"}, {"rss_settled_per_client_ratio", "settled RSS/client"}, {"goroutines_per_client_ratio", "goroutines/client"}})
	d.image(&b, "P3 memory vs N", "p3-memory.png")
	d.section(&b, "P4 reconnect storm", "P4", "The fleet on replica A of two; SIGKILL A, write one change at once. Resources beyond the changed one: everything received after the kill, less one load assignment per client.",
		[]column{{"all_hold_after_kill", "all hold ms after kill"}, {"put_after_kill", "Put at ms"}, {"resources_beyond_changed", "resources beyond"},
			{"reconnects", "reconnects"}, {"b_peak_cpu", "B peak CPU %"}, {"b_peak_rss", "B peak RSS MiB"}, {"b_cpu", "B CPU s"}, {"fleet_cpu", "fleet CPU s"}})
	d.ratioSections(&b, "P4", []column{{"all_hold_after_kill_ratio", "all hold"}, {"resources_beyond_changed_ratio", "resources beyond"}, {"b_peak_cpu_ratio", "B peak CPU"}, {"b_peak_rss_ratio", "B peak RSS"}, {"b_cpu_ratio", "B CPU"}})
	d.section(&b, "P5 endpoint churn", "P5", "Sustained endpoint writes spread over every endpoint, delta clients; lag is Put returned → ACK for every (client, write), a write overtaken by a newer one on its key counting as delivered with it.",
		[]column{{"writes_per_second", "writes/s"}, {"lag_p50", "lag p50 ms"}, {"lag_p99", "lag p99 ms"}, {"lag_max", "lag max ms"}, {"drain_after_last_write", "drain ms"},
			{"pushes_per_client_per_second", "pushes/client/s"}, {"rebuilds_per_second", "rebuilds/s"}, {"server_cpu", "CPU %"}, {"fleet_cpu", "fleet CPU %"}})
	d.image(&b, "P5 lag vs rate", "p5-lag.png")
	d.section(&b, "P6 real Envoy", "P6", "One Envoy 1.40 LIVE on a one-service route table; one Put makes the table reach N services. Time until Envoy has ACKed the clusters, endpoints and routes (Chancery's ACK tracking), confirmed by Envoy's `cluster_manager.active_clusters`.",
		[]column{{"envoy_ack", "ACK ms"}})
	if strings.TrimSpace(notes) != "" {
		p("%s\n", strings.TrimSpace(notes))
	}
	if profiles, _ := filepath.Glob(filepath.Join(d.cfg.out, "bench", "profiles", "*.pb.gz")); len(profiles) > 0 {
		p("## Profiles\n")
		p("Taken in this run (`-profile`) from the replicas' `/debug/pprof/` and from `bench-rebuild -cpuprofile`; read one with `go tool pprof -top -cum docs/bench/profiles/<file>`:\n")
		for _, f := range profiles {
			p("- [%s](bench/profiles/%s)", filepath.Base(f), filepath.Base(f))
		}
		p("")
	}
	if len(r.Errors) > 0 || len(r.Notes) > 0 {
		p("## Errors and notes of this run\n")
		for _, e := range append(r.Errors, r.Notes...) {
			p("- %s", e)
		}
		p("")
	}
	p("Phase durations (s): %s.", phaseSeconds(r.Seconds))
	return b.String()
}

func phaseSeconds(m map[string]float64) string {
	var parts []string
	for _, p := range []string{"floor", "P1", "P2", "P4", "P5", "P6"} {
		if v, ok := m[p]; ok {
			parts = append(parts, fmt.Sprintf("%s %g", p, v))
		}
	}
	return strings.Join(parts, ", ")
}

// transportNames says which clients the transports are, for prose.
func transportNames(ts []string) string {
	var names []string
	for _, t := range ts {
		switch t {
		case "grpc":
			names = append(names, "gRPC-Go's client")
		case "h2":
			names = append(names, "its own HTTP/2 client")
		default:
			names = append(names, t)
		}
	}
	return strings.Join(names, " and ")
}

// targetsTable lists every metric that has a target.
func (d *driver) targetsTable(b *strings.Builder) {
	fmt.Fprintf(b, "## Targets\n\n| phase | metric | mode | scale | fleet | measured | target | met |\n|---|---|---|---|---|---|---|---|\n")
	var targets []Metric
	for _, m := range d.report.Metrics {
		if m.Target != "" {
			targets = append(targets, m)
		}
	}
	// In phase order, whatever order a merged report holds them in.
	slices.SortStableFunc(targets, func(a, b Metric) int { return cmp.Compare(a.Phase, b.Phase) })
	for _, m := range targets {
		met := "indicative (other scale)"
		if m.Met != nil {
			met = map[bool]string{true: "**yes**", false: "**no**"}[*m.Met]
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s %s | %s | %s |\n", m.Phase, m.Name, m.Mode, m.Scale, m.Transport, fmtValue(m.Value), m.Unit, m.Target, met)
	}
	b.WriteString("\n")
}

// rowKey is how a table names a metric's row: server, fleet transport
// (for the phases that run on each), mode and scale.
func rowKey(m Metric) []string {
	if perTransport(m.Phase) {
		return []string{m.Server, m.Transport, m.Mode, m.Scale}
	}
	return []string{m.Server, m.Mode, m.Scale}
}

func rowHeaders(phase string) []string {
	if perTransport(phase) {
		return []string{"server", "fleet", "mode", "scale"}
	}
	return []string{"server", "mode", "scale"}
}

// section writes one phase's table: a row per (server, fleet, mode, scale),
// a column per metric. Ratios have their own tables.
func (d *driver) section(b *strings.Builder, title, phase, intro string, cols []column) {
	keep := func(m Metric) ([]string, bool) {
		return rowKey(m), m.Phase == phase && !isRatio(m)
	}
	for _, m := range d.report.Metrics {
		if _, ok := keep(m); ok {
			fmt.Fprintf(b, "## %s\n\n%s\n\n", title, intro)
			d.table(b, rowHeaders(phase), cols, "", keep)
			return
		}
	}
	fmt.Fprintf(b, "## %s\n\nNot measured in this run.\n\n", title)
}

// image embeds a plot the plot script drew.
func (d *driver) image(b *strings.Builder, alt, file string) {
	if _, err := os.Stat(filepath.Join(d.cfg.out, "bench", file)); err == nil {
		fmt.Fprintf(b, "![%s](bench/%s)\n\n", alt, file)
	}
}

// ratioSections writes a phase's ratios, a table per reference.
func (d *driver) ratioSections(b *strings.Builder, phase string, cols []column) {
	for _, ref := range references {
		server := chancery + "/" + ref
		keep := func(m Metric) ([]string, bool) {
			return rowKey(m)[1:], m.Phase == phase && m.Server == server
		}
		for _, m := range d.report.Metrics {
			if _, ok := keep(m); ok {
				fmt.Fprintf(b, "Chancery / %s (below 1: Chancery better):\n\n", ref)
				d.table(b, rowHeaders(phase)[1:], cols, "×", keep)
				break
			}
		}
	}
}

// table writes the metrics keep selects: a row per key, in order of first
// appearance, and a column per metric name.
func (d *driver) table(b *strings.Builder, keyHeaders []string, cols []column, suffix string, keep func(Metric) ([]string, bool)) {
	b.WriteString("|")
	for _, h := range keyHeaders {
		fmt.Fprintf(b, " %s |", h)
	}
	for _, c := range cols {
		fmt.Fprintf(b, " %s |", c.header)
	}
	b.WriteString("\n|" + strings.Repeat("---|", len(keyHeaders)+len(cols)) + "\n")
	var rows []string
	keys := map[string][]string{}
	cells := map[string]map[string]string{}
	for _, m := range d.report.Metrics {
		key, ok := keep(m)
		if !ok {
			continue
		}
		k := strings.Join(key, "\x00")
		if cells[k] == nil {
			cells[k] = map[string]string{}
			keys[k] = key
			rows = append(rows, k)
		}
		cells[k][m.Name] = fmtValue(m.Value) + suffix
	}
	for _, k := range rows {
		b.WriteString("|")
		for _, v := range keys[k] {
			fmt.Fprintf(b, " %s |", v)
		}
		for _, c := range cols {
			v := cells[k][c.name]
			if v == "" {
				v = "—"
			}
			fmt.Fprintf(b, " %s |", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
}

func fmtValue(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	default:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
}

// publishedProfiles are the profiles worth keeping with the report: where
// the time goes at the largest scale of each phase, and where memory and
// goroutines sit.
var publishedProfiles = []string{"p1-chancery-delta-", "p1-chancery-sotw-", "p2-rebuild-cpu", "p3-chancery-delta-",
	"p4-chancery-delta-b-storm", "p4-chancery-sotw-b-storm", "p4-chancery-delta-fleet-storm", "p4-chancery-sotw-fleet-storm", "p5-rate-", "p5-fleet-rate-"}

// ranPhaseOf reports whether this run ran the phase a profile file belongs
// to ("p3-..." is taken within P1).
func (d *driver) ranPhaseOf(file string) bool {
	phase, _, _ := strings.Cut(file, "-")
	if phase == "p3" {
		phase = "p1"
	}
	return len(d.cfg.only) == 0 || d.cfg.only[phase]
}

// publishProfiles replaces dir's profiles with this run's: all of them,
// or with -merge those of the phases this run ran.
func (d *driver) publishProfiles(dir string) error {
	if d.dir == "" {
		return nil // rendering an earlier run: its profiles stay
	}
	old, err := filepath.Glob(filepath.Join(dir, "*.pb.gz"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if d.cfg.merge && !d.ranPhaseOf(filepath.Base(f)) {
			continue
		}
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	taken, err := filepath.Glob(filepath.Join(d.dir, "profiles", "*.pb.gz"))
	if err != nil {
		return err
	}
	for _, f := range taken {
		name := filepath.Base(f)
		if !slices.ContainsFunc(publishedProfiles, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// phaseCommits lists the commit each phase ran at, grouped, when a merged
// report holds phases of more than one commit; "P1 (earlier rows)" is the
// commit of the rows a merge kept of a phase that ran again.
func phaseCommits(r *Report) string {
	byCommit := map[string][]string{}
	for _, phase := range []string{"floor", "P1", "P2", "P4", "P5", "P6"} {
		for _, key := range []string{phase, phase + earlierRows} {
			if c, ok := r.Commits[key]; ok {
				byCommit[c] = append(byCommit[c], key)
			}
		}
	}
	if len(byCommit) < 2 {
		return ""
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(byCommit)) {
		parts = append(parts, fmt.Sprintf("%s `%s`", strings.Join(byCommit[c], ", "), c))
	}
	return strings.Join(parts, "; ")
}
