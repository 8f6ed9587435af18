package main

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
)

// measure waits until every endpoint has a verdict (the new leader's first
// round), then samples the steady state for o.duration and prints both.
func measure(ctx context.Context, o options, cli *clientv3.Client, ks storage.Keyspace, reg *prometheus.Registry) error {
	start, cpu0 := time.Now(), cpuTime()
	healthPrefix := ks.Prefix() + "health/"
	deadline := start.Add(10*o.interval + 2*time.Minute)
	for {
		resp, err := cli.Get(ctx, healthPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return fmt.Errorf("count verdicts: %w", err)
		}
		if int(resp.Count) >= o.endpoints {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d verdicts after %v", resp.Count, o.endpoints, time.Since(start))
		}
		time.Sleep(100 * time.Millisecond) // polling etcd: the measurement has nothing to wait on
	}
	first, cpu1 := time.Since(start), cpuTime()
	rev0, err := revision(ctx, cli)
	if err != nil {
		return err
	}
	checks0, fails0 := counter(reg, "chancery_health_checks_total", "", ""), counter(reg, "chancery_health_checks_total", "result", "fail")
	var peak memory
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for end := time.Now().Add(o.duration); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if m := sampleMemory(); m.rss > peak.rss {
			peak = m
		}
	}
	cpu2 := cpuTime()
	last := sampleMemory()
	rev1, err := revision(ctx, cli)
	if err != nil {
		return err
	}
	checks := counter(reg, "chancery_health_checks_total", "", "") - checks0
	fails := counter(reg, "chancery_health_checks_total", "result", "fail") - fails0

	fmt.Printf("leader checking %d endpoints (half HTTP, half TCP) every %v, concurrency %d\n", o.endpoints, o.interval, o.concurrency)
	fmt.Printf("first round: every endpoint has a verdict after %v, CPU %.2f s (%.2f CPU-s/s)\n",
		first.Round(time.Millisecond), (cpu1 - cpu0).Seconds(), (cpu1-cpu0).Seconds()/first.Seconds())
	fmt.Printf("steady %v: %.0f checks (%.0f/s, expected %.0f/s), %.0f failed, %d etcd writes\n",
		o.duration, checks, checks/o.duration.Seconds(), float64(o.endpoints)/o.interval.Seconds(), fails, rev1-rev0)
	fmt.Printf("steady CPU: %.2f s over %v = %.3f CPU-seconds per second\n",
		(cpu2 - cpu1).Seconds(), o.duration, (cpu2-cpu1).Seconds()/o.duration.Seconds())
	fmt.Printf("memory: RSS %.1f MiB (peak sampled %.1f MiB, VmHWM %.1f MiB), Go heap in use %.1f MiB (sys %.1f MiB), %d goroutines, %d threads\n",
		mib(last.rss), mib(peak.rss), mib(last.peakRSS), mib(last.heapInuse), mib(last.heapSys), last.goroutines, last.threads)
	return nil
}

func revision(ctx context.Context, cli *clientv3.Client) (int64, error) {
	resp, err := cli.Get(ctx, "revision-probe")
	if err != nil {
		return 0, fmt.Errorf("read etcd's revision: %w", err)
	}
	return resp.Header.Revision, nil
}

func splitAddr(a string) (string, int) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a, 0
	}
	p, err := strconv.Atoi(port)
	if err != nil {
		return host, 0
	}
	return host, p
}
