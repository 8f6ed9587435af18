package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// floor measures what etcd alone costs: Put returned to a bare watcher's
// event, in a process of its own as the fleet is.
func (d *driver) floor(ctx context.Context) error {
	prefix := d.prefix("floor")
	if err := d.etcd.seed(ctx, prefix, workload.Objects(d.spec())); err != nil {
		return err
	}
	f, err := d.startFleet(ctx, fleetOptions{name: "floor-etcd", mode: "etcd", clients: 1, prefix: prefix})
	if err != nil {
		return err
	}
	defer f.stop()
	if err := f.waitSynced(ctx, 30*time.Second); err != nil {
		return err
	}
	lats, _, err := d.sequentialWrites(ctx, f, d.writer(prefix), d.scale.floorWrites, 1)
	for i, v := range lats {
		lats[i] = max(v, 0) // the watcher saw the event before the writer saw its Put return
	}
	if len(lats) > 0 {
		q := benchapi.Exact(lats)
		k := row{phase: "floor", server: "etcd", scale: "watchers=1"}
		d.report.quantileMetrics(k, "put_to_watch", q)
		d.report.series(d.report.seriesName(k), lats)
	}
	return err
}

// p1 measures propagation, Put returned to each client's ACK, for every
// fleet transport, server, mode and fleet size; before the writes, with the
// fleet connected and idle, it takes P3's memory figures from the same
// replica.
func (d *driver) p1(ctx context.Context) error {
	prefix := d.prefix("p1")
	if err := d.etcd.seed(ctx, prefix, workload.Objects(d.spec())); err != nil {
		return err
	}
	for _, tr := range d.cfg.fleetTransports {
		for _, kind := range servers {
			for _, mode := range []string{"delta", "sotw"} {
				for _, n := range d.scale.p1Clients {
					if !wanted(d.cfg.p1Runs, fmt.Sprintf("%s/%s/%d", kind, mode, n), tr) {
						continue
					}
					k := row{phase: "P1", server: kind, mode: mode, scale: fmt.Sprintf("clients=%d", n), transport: tr}
					if err := d.p1Run(ctx, prefix, k, n); err != nil {
						d.report.errorf("P1 %s %s clients=%d fleet=%s: %v", kind, mode, n, tr, err)
						if ctx.Err() != nil {
							return ctx.Err()
						}
					}
				}
			}
		}
	}
	return nil
}

// p1Run is one P1 run: k's server, mode and transport with n clients.
func (d *driver) p1Run(ctx context.Context, prefix string, k row, n int) error {
	kind, mode := k.server, k.mode
	name := fmt.Sprintf("p1-%s-%s-%d%s", kind, mode, n, d.transportSuffix(k.transport))
	s, err := d.startServer(ctx, kind, name, prefix)
	if err != nil {
		return err
	}
	defer s.stop()
	idle, err := s.settledMemory(ctx)
	if err != nil {
		return err
	}
	f, err := d.startFleet(ctx, fleetOptions{name: name + "-fleet", mode: mode, clients: n, xds: []string{s.xds}, transport: k.transport})
	if err != nil {
		return err
	}
	defer f.stop()
	if err := f.waitSynced(ctx, d.syncTimeout(n)); err != nil {
		return err
	}
	if err := d.checkInitialSync(ctx, f, n); err != nil {
		return err
	}
	// Per-client memory of one or a few clients is noise around the
	// replica's own footprint.
	if n >= 100 {
		p3 := k
		p3.phase = "P3"
		if err := d.p3Memory(ctx, s, p3, n, idle); err != nil {
			return err
		}
	}
	if err := f.reset(); err != nil {
		return err
	}
	profiled := d.cfg.profile && n == slices.Max(d.scale.p1Clients) && kind == chancery && k.transport == d.cfg.transport()
	if profiled {
		// What the writes allocate: go tool pprof -sample_index=alloc_space
		// -diff_base <before> <after>. The heap profile, taken after a
		// collection (gc=1, which the allocs profile ignores), holds every
		// allocation up to it; without one the writes may not show at all.
		if err := d.saveProfile(s, "/debug/pprof/heap?gc=1", name+"-allocs-before-writes.pb.gz"); err != nil {
			return err
		}
	}
	allocBefore, gcBefore, gcErr := s.allocAndGCs()
	const statusWrites = `chancery_status_writes_total{kind="proxy"}`
	statusBefore, statusErr := s.metric(statusWrites) // Chancery's only
	stopProfile := d.profileCPU(s, name+"-writes", profiled)
	stopFleetProfile := d.profileCPU(f, name+"-fleet-writes", profiled)
	serverCPU, fleetCPU := startSampler(s.p.pid(), time.Second), startSampler(f.p.pid(), time.Second)
	lats, lasts, werr := d.sequentialWrites(ctx, f, d.writer(prefix), d.scale.p1Writes, n)
	_, _, scpu := serverCPU.finish()
	_, _, fcpu := fleetCPU.finish()
	allocAfter, gcAfter, err := s.allocAndGCs()
	if gcErr == nil && err == nil && len(lasts) > 0 {
		d.report.add(k.metric("server_alloc_per_client_change", round((allocAfter-allocBefore)/float64(n)/float64(len(lasts)), 0), "bytes",
			"what the replica allocated over the writes / (clients x writes): the garbage it must collect"))
		d.report.add(k.metric("server_gcs_during_writes", gcAfter-gcBefore, "collections", fmt.Sprintf("over %d writes", len(lasts))))
	}
	if statusAfter, err := s.metric(statusWrites); statusErr == nil && err == nil && len(lasts) > 0 {
		d.report.add(k.metric("status_writes_per_change", round((statusAfter-statusBefore)/float64(len(lasts)), 1), "etcd keys",
			"proxy status records the replica wrote over the writes / writes"))
	}
	stopProfile()
	stopFleetProfile()
	if profiled {
		if err := d.saveProfile(s, "/debug/pprof/heap?gc=1", name+"-allocs-after-writes.pb.gz"); err != nil {
			return err
		}
	}
	if len(lats) == 0 {
		return werr
	}
	perChange := func(cpu time.Duration) float64 { return round(cpu.Seconds()*1000/float64(len(lasts)), 1) }
	d.report.add(k.metric("server_cpu_per_change", perChange(scpu), "CPU ms", "replica CPU time over the writes / writes (10 ms clock ticks)"))
	d.report.add(k.metric("fleet_cpu_per_change", perChange(fcpu), "CPU ms",
		"the simulated fleet's own CPU per change: what it takes from the replica on shared cores"))
	q := benchapi.Exact(lats)
	d.report.quantileMetrics(k, "propagation", q)
	fmt.Printf("bench: P1 %s %s %s fleet=%s: p50 %.1f ms, p99 %.1f ms, CPU per change %.1f ms (replica), %.1f ms (fleet), %.0f collections; last client of each write (ms):",
		kind, mode, k.scale, k.transport, ms(q.P50), ms(q.P99), perChange(scpu), perChange(fcpu), gcAfter-gcBefore)
	for _, l := range lasts {
		fmt.Printf(" %.0f", ms(l))
	}
	fmt.Println()
	lq := benchapi.Exact(lasts)
	d.report.add(k.metric("last_client_p50", ms(lq.P50), "ms", "time until the last client holds a change, median over the writes"))
	d.report.add(k.metric("last_client_max", ms(lq.Max), "ms", ""))
	d.report.series(d.report.seriesName(k), lats)
	if sum, err := f.summary(); err == nil {
		writes := float64(len(lasts))
		d.report.add(k.metric("resources_per_change", round(float64(total(sum.Resources))/float64(n)/writes, 2), "resources/client",
			"resources each client received per one-endpoint change"))
	}
	return werr
}

// p3Memory reads the replica's memory with n idle clients connected,
// against its memory before the first one connected.
func (d *driver) p3Memory(ctx context.Context, s *server, k row, n int, idle memory) error {
	if err := sleep(ctx, 2*time.Second); err != nil { // let the initial pushes drain
		return err
	}
	m, err := s.settledMemory(ctx)
	if err != nil {
		return err
	}
	add := func(name string, v float64, unit, note string) { d.report.add(k.metric(name, v, unit, note)) }
	add("rss", round(float64(m.RSS)/(1<<20), 1), "MiB", "")
	add("rss_idle_no_clients", round(float64(idle.RSS)/(1<<20), 1), "MiB", "")
	add("rss_per_client", round(float64(m.RSS-idle.RSS)/float64(n)/1024, 1), "KiB", "(RSS with the clients - RSS before any) / clients")
	settled := func(x memory) float64 { return float64(x.RSS) - x.Unreturned }
	add("rss_settled_per_client", round((settled(m)-settled(idle))/float64(n)/1024, 1), "KiB",
		"as rss_per_client, less idle heap not yet returned to the OS (what RSS settles to)")
	add("heap_inuse_per_client", round((m.HeapInuse-idle.HeapInuse)/float64(n)/1024, 1), "KiB", "")
	add("stack_per_client", round((m.StackInuse-idle.StackInuse)/float64(n)/1024, 1), "KiB", "goroutine stacks")
	add("goroutines_per_client", round((m.Goroutines-idle.Goroutines)/float64(n), 2), "goroutines", "")
	if d.cfg.profile && k.server == chancery && n == slices.Max(d.scale.p1Clients) && k.transport == d.cfg.transport() {
		for _, p := range []string{"heap", "goroutine"} {
			if err := d.saveProfile(s, "/debug/pprof/"+p, fmt.Sprintf("p3-%s-%s-%d-%s.pb.gz", k.server, k.mode, n, p)); err != nil {
				return err
			}
		}
	}
	return nil
}

// sequentialWrites makes count writes one at a time, each waiting until n
// clients hold it. It returns every latency and each write's slowest.
func (d *driver) sequentialWrites(ctx context.Context, f *fleetProc, w markerWriter, count, n int) (lats, lasts []int64, err error) {
	for i := range count {
		wr, err := w.write(ctx, i%d.scale.services, 0, true)
		if err != nil {
			return lats, lasts, err
		}
		if err := f.post([]benchapi.Write{wr}); err != nil {
			return lats, lasts, err
		}
		res, err := f.waitDelivered(ctx, wr.Seq, n, 2*time.Minute)
		lats = append(lats, res.LatenciesNs...)
		if len(res.LatenciesNs) > 0 {
			lasts = append(lasts, slices.Max(res.LatenciesNs))
		}
		if err != nil {
			return lats, lasts, err
		}
		// A pause, jittered so writes do not fall into step with any
		// periodic work of the server (keepalives, progress requests).
		if err := sleep(ctx, time.Duration(20+rand.IntN(40))*time.Millisecond); err != nil {
			return lats, lasts, err
		}
	}
	return lats, lasts, nil
}

func total(m map[string]int64) int64 {
	var t int64
	for _, v := range m {
		t += v
	}
	return t
}
