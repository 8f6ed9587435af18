package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Server kinds: Chancery, and go-control-plane's stock caches and server
// in two setups (bench-baseline -mode): the common one, a snapshot per node
// id (baseline), and the best, a snapshot per node group with the load
// assignments in a LinearCache behind a MuxCache (baseline-best).
const (
	chancery     = "chancery"
	baseline     = "baseline"
	baselineBest = "baseline-best"
)

// servers are the kinds P1 and P4 measure, in the report's order.
var servers = []string{chancery, baselineBest, baseline}

// transportSuffix tells apart the process names of a run on an extra fleet
// transport.
func (d *driver) transportSuffix(transport string) string {
	if transport == d.cfg.transport() {
		return ""
	}
	return "-" + transport
}

// server is one control-plane replica under test.
type server struct {
	kind, name string
	xds, admin string // host:port
	p          *proc
}

// startServer runs one replica of kind on the keyspace below prefix and
// waits until it is ready (its first full load is published).
func (d *driver) startServer(ctx context.Context, kind, name, prefix string) (*server, error) {
	var lastErr error
	for range 3 {
		xp, err := freePort()
		if err != nil {
			return nil, err
		}
		ap, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &server{kind: kind, name: name, xds: loopback(xp), admin: loopback(ap)}
		common := []string{"--etcd-endpoints", d.etcd.endpoint, "--prefix", prefix,
			"--xds-address", s.xds, "--admin-address", s.admin, "--replica-id", name}
		var bin string
		var args []string
		switch kind {
		case chancery:
			bin = d.bin("chancery")
			args = append(append([]string{"serve"}, common...), "--log-level", "warn")
			args = append(args, d.cfg.chanceryArgs...)
		case baselineBest:
			bin, args = d.bin("bench-baseline"), append(slices.Clip(common), "--mode", "best")
		default:
			bin, args = d.bin("bench-baseline"), append(slices.Clip(common), "--mode", "per-node")
		}
		s.p, _, err = d.procs.start(name, bin, args, false)
		if err != nil {
			return nil, err
		}
		if lastErr = waitHTTP(ctx, s.p, "http://"+s.admin+"/readyz", 60*time.Second); lastErr == nil {
			return s, nil
		}
		s.p.kill()
		if ctx.Err() != nil {
			break
		}
	}
	return nil, lastErr
}

func (s *server) stop() { s.p.stop(15 * time.Second) }

var adminClient = &http.Client{Timeout: 30 * time.Second}

// get fetches an admin path.
func (s *server) get(path string) ([]byte, error) {
	resp, err := adminClient.Get("http://" + s.admin + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s %s: %s", s.name, path, resp.Status)
	}
	return b, nil
}

// metric reads one unlabelled sample (go_goroutines, ...) from /metrics.
func (s *server) metric(name string) (float64, error) {
	b, err := s.get("/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("%s: no metric %s", s.name, name)
}

// allocAndGCs reads how many bytes the server has allocated and how many
// collections it has made since it started.
func (s *server) allocAndGCs() (alloc, gcs float64, err error) {
	if alloc, err = s.metric("go_memstats_alloc_bytes_total"); err != nil {
		return 0, 0, err
	}
	gcs, err = s.metric("go_gc_duration_seconds_count")
	return alloc, gcs, err
}

// memory is a replica's memory at rest.
type memory struct {
	RSS        int64 // bytes, VmRSS
	Goroutines float64
	HeapInuse  float64 // bytes
	StackInuse float64 // bytes of goroutine stacks
	// Unreturned is heap the runtime holds idle but has not returned to
	// the OS yet (heap_idle - heap_released): part of RSS for the seconds
	// the scavenger takes to give it back.
	Unreturned float64
}

// settledMemory collects garbage (pprof's heap?gc=1 runs a GC), gives the
// runtime a moment to return freed pages, and reads RSS and goroutines.
// Two collections: sync.Pool keeps what it holds through the first one,
// and gRPC pools the buffers of every message it sent, which would count
// the initial pushes as memory per idle client.
func (s *server) settledMemory(ctx context.Context) (memory, error) {
	for range 2 {
		if _, err := s.get("/debug/pprof/heap?gc=1"); err != nil {
			return memory{}, err
		}
	}
	if err := sleep(ctx, 2*time.Second); err != nil {
		return memory{}, err
	}
	var m memory
	var err error
	if m.RSS, err = vmRSS(s.p.pid()); err != nil {
		return m, err
	}
	if m.Goroutines, err = s.metric("go_goroutines"); err != nil {
		return m, err
	}
	if m.HeapInuse, err = s.metric("go_memstats_heap_inuse_bytes"); err != nil {
		return m, err
	}
	if m.StackInuse, err = s.metric("go_memstats_stack_inuse_bytes"); err != nil {
		return m, err
	}
	idle, err := s.metric("go_memstats_heap_idle_bytes")
	if err != nil {
		return m, err
	}
	released, err := s.metric("go_memstats_heap_released_bytes")
	m.Unreturned = idle - released
	return m, err
}

// sampler follows a process's CPU and RSS every interval.
type sampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	peakCPU float64 // share of one core, 1.0 = one core busy
	peakRSS int64
	cpu     time.Duration // CPU time used while sampling
}

func startSampler(pid int, interval time.Duration) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		cpu0, _, err := procStat(pid)
		if err != nil {
			return
		}
		prevCPU, prevAt := cpu0, time.Now()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for final := false; !final; {
			select {
			case <-s.stop:
				final = true // one last reading, so the CPU total covers the whole span
			case <-tick.C:
			}
			cpu, rss, err := procStat(pid)
			if err != nil {
				return
			}
			now := time.Now()
			s.mu.Lock()
			if !final || now.Sub(prevAt) >= interval/2 { // a short last span makes a noisy rate
				s.peakCPU = max(s.peakCPU, (cpu-prevCPU).Seconds()/now.Sub(prevAt).Seconds())
			}
			s.peakRSS = max(s.peakRSS, rss)
			s.cpu = cpu - cpu0
			s.mu.Unlock()
			prevCPU, prevAt = cpu, now
		}
	}()
	return s
}

// finish stops sampling and returns the peaks and the CPU time used.
func (s *sampler) finish() (peakCPU float64, peakRSS int64, cpu time.Duration) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakCPU, s.peakRSS, s.cpu
}

// profiled is a process with a pprof endpoint: a replica or the fleet.
type profiled interface {
	get(path string) ([]byte, error)
}

// profileCPU starts a CPU profile of a replica or the fleet when on is set
// and the run was asked for profiles (-profile); the returned function
// waits for it and saves it under <work>/profiles. The profile runs for a
// fixed time, so it covers the start of the measured span.
func (d *driver) profileCPU(s profiled, name string, on bool) (wait func()) {
	if !on || !d.cfg.profile {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := d.saveProfile(s, "/debug/pprof/profile?seconds="+strconv.Itoa(d.cfg.profileSeconds), name+"-cpu.pb.gz"); err != nil {
			d.report.Notes = append(d.report.Notes, fmt.Sprintf("profile %s: %v", name, err))
		}
	}()
	return func() { <-done }
}

// saveProfile fetches a pprof endpoint into <work>/profiles/file.
func (d *driver) saveProfile(s profiled, path, file string) error {
	b, err := s.get(path)
	if err != nil {
		return err
	}
	dir := filepath.Join(d.dir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, file), b, 0o644)
}
