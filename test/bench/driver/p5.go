package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
)

// p5 is endpoint churn: sustained endpoint writes at each rate to one
// replica and its fleet, measuring how far behind the clients fall.
func (d *driver) p5(ctx context.Context) error {
	prefix := d.prefix("p5")
	if err := d.etcd.seed(ctx, prefix, workload.Objects(d.spec())); err != nil {
		return err
	}
	s, err := d.startServer(ctx, chancery, "p5-chancery", prefix)
	if err != nil {
		return err
	}
	defer s.stop()
	n := d.scale.p5Clients
	f, err := d.startFleet(ctx, fleetOptions{name: "p5-fleet", mode: "delta", clients: n, xds: []string{s.xds}})
	if err != nil {
		return err
	}
	defer f.stop()
	if err := f.waitSynced(ctx, d.syncTimeout(n)); err != nil {
		return err
	}
	for _, rate := range d.scale.p5Rates {
		if err := d.p5Rate(ctx, s, f, prefix, rate); err != nil {
			d.report.errorf("P5 rate=%d/s: %v", rate, err)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (d *driver) p5Rate(ctx context.Context, s *server, f *fleetProc, prefix string, rate int) error {
	if err := f.reset(); err != nil {
		return err
	}
	stopProfile := d.profileCPU(s, fmt.Sprintf("p5-rate-%d", rate), true)
	defer stopProfile()
	stopFleetProfile := d.profileCPU(f, fmt.Sprintf("p5-fleet-rate-%d", rate), rate == slices.Max(d.scale.p5Rates))
	defer stopFleetProfile()
	smp, fleetSmp := startSampler(s.p.pid(), 200*time.Millisecond), startSampler(f.p.pid(), time.Second)
	rebuilds0, rerr := s.metric("chancery_watch_snapshots_total")
	if d.cfg.profile {
		// Where the replica's goroutines wait halfway through: a CPU
		// profile does not show a rebuild blocked on a slow stream.
		mid := time.AfterFunc(d.scale.p5Duration/2, func() {
			if err := d.saveProfile(s, "/debug/pprof/goroutine", fmt.Sprintf("p5-rate-%d-goroutine.pb.gz", rate)); err != nil {
				d.report.Notes = append(d.report.Notes, fmt.Sprintf("goroutine profile: %v", err))
			}
		})
		defer mid.Stop()
	}
	start := time.Now()
	c, err := d.churn(ctx, f, d.writer(prefix), rate, d.scale.p5Duration)
	elapsed := time.Since(start)
	_, _, fleetCPU := fleetSmp.finish()
	if err != nil {
		smp.finish()
		return err
	}
	rebuilds1, rerr2 := s.metric("chancery_watch_snapshots_total")
	// Every client must end up with the last write; how long that takes
	// after the writes stop shows whether the rate was held.
	_, werr := f.waitDelivered(ctx, c.last.Seq, f.n, 60*time.Second)
	drain := time.Now().UnixNano() - c.last.PutNs
	_, _, cpu := smp.finish()
	span := time.Since(start)
	sum, err := f.summary()
	if err != nil {
		return err
	}
	scale := fmt.Sprintf("rate=%d/s", rate)
	add := func(name string, v float64, unit, note string) {
		d.report.add(Metric{Phase: "P5", Name: name, Server: chancery, Mode: "delta", Scale: scale, Value: v, Unit: unit, Note: note})
	}
	secs := d.scale.p5Duration.Seconds()
	add("writes_per_second", round(float64(c.count)/elapsed.Seconds(), 0), "writes/s",
		fmt.Sprintf("%d writes to %d clients; etcd Put p99 %.1f ms", c.count, f.n, ms(benchapi.Exact(c.putNs).P99)))
	add("lag_p50", ms(sum.Lag.P50), "ms", "")
	add("lag_p99", ms(sum.Lag.P99), "ms", fmt.Sprintf("over %d deliveries (client x write)", sum.Lag.Count))
	add("lag_max", ms(sum.Lag.Max), "ms", "")
	add("drain_after_last_write", ms(drain), "ms", "last write's Put to every client holding it")
	add("pushes_per_client_per_second", round(float64(sum.Responses["endpoints"])/float64(f.n)/secs, 1), "responses/s", "")
	add("resources_per_client_per_second", round(float64(sum.Resources["endpoints"])/float64(f.n)/secs, 1), "resources/s", "")
	add("server_cpu", round(cpu.Seconds()/span.Seconds()*100, 0), "% of one core", "average from the first write until every client had the last")
	add("fleet_cpu", round(fleetCPU.Seconds()/elapsed.Seconds()*100, 0), "% of one core", "the simulated fleet, while writing")
	if rerr == nil && rerr2 == nil {
		add("rebuilds_per_second", round((rebuilds1-rebuilds0)/elapsed.Seconds(), 0), "rebuilds/s", "model snapshots the watcher built (chancery_watch_snapshots_total)")
	}
	return werr
}

// churnResult is what a churn made.
type churnResult struct {
	count int
	last  benchapi.Write // the last write made, raw: the fleet counts who holds it
	putNs []int64        // each Put's own latency
}

// churn writes endpoints at rate for dur, spread over every endpoint of
// the workload. Each key is always written by the same worker, so writes to
// one key commit in sequence order, which the fleet's accounting relies on.
func (d *driver) churn(ctx context.Context, f *fleetProc, w markerWriter, rate int, dur time.Duration) (churnResult, error) {
	const workers = 16
	keys := d.scale.services * d.scale.endpointsPer
	type job struct {
		key  int
		last bool
	}
	jobs := make([]chan job, workers)
	done := make(chan benchapi.Write, 4096)
	var res churnResult
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	for i := range jobs {
		jobs[i] = make(chan job, 1024)
		wg.Go(func() {
			for j := range jobs[i] {
				t := time.Now()
				k := j.key
				wr, err := w.write(ctx, k%d.scale.services, k/d.scale.services, j.last)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					res.putNs = append(res.putNs, time.Since(t).Nanoseconds())
					if j.last {
						res.last = wr
					}
				}
				mu.Unlock()
				if err == nil {
					done <- wr
				}
			}
		})
	}
	posted := make(chan error, 1)
	go func() { posted <- postBatches(f, done) }()

	start := time.Now()
	total := int(float64(rate) * dur.Seconds())
	for i := 0; i < total && ctx.Err() == nil; i++ {
		if wait := time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate))); wait > 0 {
			time.Sleep(wait) // pacing; bounded by dur
		}
		k := i % keys
		jobs[k%workers] <- job{key: k, last: i == total-1}
	}
	for _, ch := range jobs {
		close(ch)
	}
	wg.Wait()
	close(done)
	if err := <-posted; err != nil {
		return res, err
	}
	res.count = len(res.putNs)
	if res.last.Seq == 0 && firstErr == nil {
		firstErr = cmp.Or(ctx.Err(), errors.New("the last write was not made"))
	}
	return res, firstErr
}

// postBatches reports writes to the fleet as they complete, a batch every
// few milliseconds, until done closes. The fleet keeps a delivery it cannot
// account for yet until its write is reported, so batching delays no
// figure.
func postBatches(f *fleetProc, done <-chan benchapi.Write) error {
	var batch []benchapi.Write
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	var err error
	flush := func() {
		if len(batch) > 0 && err == nil {
			err = f.post(batch)
		}
		batch = batch[:0]
	}
	for {
		select {
		case wr, ok := <-done:
			if !ok {
				flush()
				return err
			}
			batch = append(batch, wr)
			if len(batch) >= 500 {
				flush()
			}
		case <-tick.C:
			flush()
		}
	}
}
