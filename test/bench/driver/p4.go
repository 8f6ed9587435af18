package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// p4 is the reconnect storm: the whole fleet on replica A of two, A killed,
// one change written at once; how long until every client holds it through
// B, what else they were sent, and what the storm cost B.
func (d *driver) p4(ctx context.Context) error {
	prefix := d.prefix("p4")
	if err := d.etcd.seed(ctx, prefix, workload.Objects(d.spec())); err != nil {
		return err
	}
	scale := fmt.Sprintf("clients=%d", d.scale.p4Clients)
	for _, tr := range d.cfg.fleetTransports {
		for _, kind := range servers {
			for _, mode := range []string{"delta", "sotw"} {
				if !wanted(d.cfg.p4Runs, kind+"/"+mode, tr) {
					continue
				}
				k := row{phase: "P4", server: kind, mode: mode, scale: scale, transport: tr}
				if err := d.p4Run(ctx, prefix, k); err != nil {
					d.report.errorf("P4 %s %s fleet=%s: %v", kind, mode, tr, err)
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
			}
		}
	}
	return nil
}

// p4Run is one storm: k's server, mode and fleet transport.
func (d *driver) p4Run(ctx context.Context, prefix string, k row) error {
	n := d.scale.p4Clients
	kind, mode := k.server, k.mode
	name := fmt.Sprintf("p4-%s-%s%s", kind, mode, d.transportSuffix(k.transport))
	// Profiles of Chancery on the run's transport only.
	profiled := kind == chancery && k.transport == d.cfg.transport()
	a, err := d.startServer(ctx, kind, name+"-a", prefix)
	if err != nil {
		return err
	}
	defer a.stop()
	b, err := d.startServer(ctx, kind, name+"-b", prefix)
	if err != nil {
		return err
	}
	defer b.stop()
	// The fleet knows only A until every client is on it, then A and B:
	// after A dies each client's next attempt goes to B, as an Envoy's
	// would with both replicas in its xds cluster.
	f, err := d.startFleet(ctx, fleetOptions{name: name + "-fleet", mode: mode, clients: n, xds: []string{a.xds}, transport: k.transport})
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
	if err := f.setXDS([]string{a.xds, b.xds}); err != nil {
		return err
	}
	before, err := f.status()
	if err != nil {
		return err
	}
	if before.Connected != n {
		return fmt.Errorf("%d of %d clients connected to A before the kill", before.Connected, n)
	}
	if err := sleep(ctx, time.Second); err != nil {
		return err
	}
	rss0, err := vmRSS(b.p.pid())
	if err != nil {
		return err
	}
	if err := f.reset(); err != nil {
		return err
	}
	stopProfile := d.profileCPU(b, name+"-b-storm", profiled)
	defer stopProfile()
	stopFleetProfile := d.profileCPU(f, name+"-fleet-storm", profiled)
	defer stopFleetProfile()
	smp, fleetSmp := startSampler(b.p.pid(), 100*time.Millisecond), startSampler(f.p.pid(), time.Second)
	killedAt := time.Now()
	a.p.kill()
	wr, err := d.writer(prefix).write(ctx, 0, 0, true)
	if err != nil {
		smp.finish()
		fleetSmp.finish()
		return err
	}
	if err := f.post([]benchapi.Write{wr}); err != nil {
		smp.finish()
		fleetSmp.finish()
		return err
	}
	res, werr := f.waitDelivered(ctx, wr.Seq, n, 60*time.Second)
	// Keep sampling a little after the last client: B's work does not end
	// with the change's delivery (late reconnects, GC).
	if err := sleep(ctx, 500*time.Millisecond); err != nil {
		smp.finish()
		fleetSmp.finish()
		return err
	}
	peakCPU, peakRSS, cpu := smp.finish()
	_, _, fleetCPU := fleetSmp.finish()
	if d.cfg.profile && profiled {
		// B was idle before the kill: what it allocated since it started
		// is, nearly all, the storm's.
		if err := d.saveProfile(b, "/debug/pprof/allocs", name+"-b-storm-allocs.pb.gz"); err != nil {
			return err
		}
	}
	sum, err := f.summary()
	if err != nil {
		return err
	}
	after, err := f.status()
	if err != nil {
		return err
	}

	add := func(name string, v float64, unit, note string) { d.report.add(k.metric(name, v, unit, note)) }
	if len(res.LatenciesNs) > 0 {
		lastNs := wr.PutNs + slices.Max(res.LatenciesNs)
		add("all_hold_after_kill", ms(lastNs-killedAt.UnixNano()), "ms",
			fmt.Sprintf("%d of %d clients hold the change", res.Delivered, n))
		add("put_after_kill", ms(wr.PutNs-killedAt.UnixNano()), "ms", "")
		add("hold_after_put_p50", ms(benchapi.Exact(res.LatenciesNs).P50), "ms", "")
	}
	received := total(sum.Resources)
	add("resources_received", float64(received), "resources", byType(sum.Resources))
	add("resources_beyond_changed", float64(received-int64(res.Delivered)), "resources",
		"every resource received after the kill, less one changed load assignment per client that got it")
	add("responses_received", float64(total(sum.Responses)), "responses", byType(sum.Responses))
	add("reconnects", float64(after.Streams-before.Streams), "streams",
		fmt.Sprintf("%d streams ended (the kill, and any refusal by B)", after.StreamErrors-before.StreamErrors))
	add("b_peak_cpu", round(peakCPU*100, 0), "% of one core", "sampled every 100 ms")
	add("b_peak_rss", round(float64(peakRSS)/(1<<20), 1), "MiB", fmt.Sprintf("%.1f MiB before the kill", float64(rss0)/(1<<20)))
	add("b_cpu", round(cpu.Seconds(), 2), "CPU s", "CPU time B used from the kill until 0.5 s after the last client")
	add("fleet_cpu", round(fleetCPU.Seconds(), 2), "CPU s", "the simulated fleet's CPU over the same span")
	return werr
}

// byType formats per-type counts for a note.
func byType(m map[string]int64) string {
	var parts []string
	for _, t := range []string{"clusters", "endpoints", "listeners", "routes"} {
		parts = append(parts, fmt.Sprintf("%s %d", t, m[t]))
	}
	return strings.Join(parts, ", ")
}
