package fault

import (
	"fmt"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Bounds of every background loop: a scenario that hangs still ends.
const (
	maxRequests = 100_000
	maxWrites   = 10_000
	maxSamples  = 20_000
)

// traffic is a bounded request loop against one URL: one request at a
// time, each on a new connection, every interval; it counts what it sent
// and every non-2xx answer or connection error.
type traffic struct {
	url          string
	sent, failed atomic.Int64
	stop         chan struct{}
	done         chan struct{}

	mu       sync.Mutex
	failures []string // the first few, for the failure message
}

func startTraffic(t *testing.T, url string, interval time.Duration) *traffic {
	tr := &traffic{url: url, stop: make(chan struct{}), done: make(chan struct{})}
	go tr.run(interval)
	t.Cleanup(tr.halt)
	return tr
}

func (tr *traffic) run(interval time.Duration) {
	defer close(tr.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range maxRequests {
		status, body, err := harness.HTTPGet(tr.url, "")
		tr.sent.Add(1)
		if err != nil || status < 200 || status > 299 {
			tr.failed.Add(1)
			tr.note(fmt.Sprintf("%s: %d %.80q %v", time.Now().Format("15:04:05.000"), status, body, err))
		}
		select {
		case <-tr.stop:
			return
		case <-tick.C:
		}
	}
}

func (tr *traffic) note(failure string) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.failures) < 10 {
		tr.failures = append(tr.failures, failure)
	}
}

// halt stops the loop and waits for it; it may be called more than once.
func (tr *traffic) halt() {
	select {
	case <-tr.stop:
	default:
		close(tr.stop)
	}
	<-tr.done
}

// check stops the loop and fails the test unless it sent at least min
// requests, none of which failed; it returns what was sent.
func (tr *traffic) check(t *testing.T, min int64) int64 {
	t.Helper()
	tr.halt()
	sent, failed := tr.sent.Load(), tr.failed.Load()
	if failed != 0 {
		tr.mu.Lock()
		t.Errorf("%s: %d of %d requests failed; first: %q", tr.url, failed, sent, tr.failures)
		tr.mu.Unlock()
	}
	if sent < min {
		t.Errorf("%s: only %d requests sent, want at least %d", tr.url, sent, min)
	}
	return sent
}

// writer changes the route table at a steady rate: generation 1, 2, ...;
// a write etcd does not take (down, hung) is counted and the next one
// carries the next generation.
type writer struct {
	written atomic.Int64 // the last generation etcd took
	failed  atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

func startWriter(t *testing.T, cli *clientv3.Client, interval time.Duration) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for gen := 1; gen <= maxWrites; gen++ {
			select {
			case <-w.stop:
				return
			case <-tick.C:
			}
			if err := putSpec(cli, "routes/web", routeTable(gen)); err != nil {
				w.failed.Add(1)
				continue
			}
			w.written.Store(int64(gen))
		}
	}()
	t.Cleanup(w.halt)
	return w
}

func (w *writer) halt() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// generationRE finds the route table's generation in Envoy's config dump.
var generationRE = regexp.MustCompile(`"inline_string":\s*"gen-(\d+)"`)

// sampler reads one Envoy's route configuration from its config dump,
// every interval, and records the highest generation it held and any
// sample that held a lower one than an earlier sample: a regression.
type sampler struct {
	envoy       *harness.Envoy
	high        atomic.Int64
	samples     atomic.Int64
	regressions atomic.Int64
	stop        chan struct{}
	done        chan struct{}

	mu    sync.Mutex
	first []string // the first regressions seen
}

func startSampler(t *testing.T, e *harness.Envoy, interval time.Duration) *sampler {
	s := &sampler{envoy: e, stop: make(chan struct{}), done: make(chan struct{})}
	s.high.Store(-1)
	go s.run(interval)
	t.Cleanup(s.halt)
	return s
}

func (s *sampler) run(interval time.Duration) {
	defer close(s.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for range maxSamples {
		if gen, ok := s.read(); ok {
			s.samples.Add(1)
			if high := s.high.Load(); gen < high {
				s.regressions.Add(1)
				s.mu.Lock()
				if len(s.first) < 5 {
					s.first = append(s.first, fmt.Sprintf("gen-%d after gen-%d at %s", gen, high, time.Now().Format("15:04:05.000")))
				}
				s.mu.Unlock()
			} else {
				s.high.Store(gen)
			}
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// read returns the generation the Envoy holds; false if the admin server
// did not answer (the sample is skipped, not counted).
func (s *sampler) read() (int64, bool) {
	status, body, err := harness.HTTPGet(s.envoy.AdminURL()+"/config_dump?resource=dynamic_route_configs", "")
	if err != nil || status != 200 {
		return 0, false
	}
	m := generationRE.FindStringSubmatch(body)
	if m == nil {
		return 0, false
	}
	gen, err := strconv.ParseInt(m[1], 10, 64)
	return gen, err == nil
}

func (s *sampler) halt() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

// check stops the sampler and fails the test on a regression.
func (s *sampler) check(t *testing.T) {
	t.Helper()
	s.halt()
	if n := s.regressions.Load(); n != 0 {
		s.mu.Lock()
		t.Errorf("envoy %s went back %d times in %d samples: %v", s.envoy.NodeID(), n, s.samples.Load(), s.first)
		s.mu.Unlock()
	}
	if s.samples.Load() == 0 {
		t.Errorf("envoy %s: no config dump sampled", s.envoy.NodeID())
	}
}

// waitGeneration waits until every sampler's Envoy holds at least gen and
// returns how long that took.
func waitGeneration(t *testing.T, timeout time.Duration, gen int64, samplers ...*sampler) time.Duration {
	t.Helper()
	start := time.Now()
	harness.Eventually(t, timeout, 20*time.Millisecond, func() error {
		for _, s := range samplers {
			if high := s.high.Load(); high < gen {
				return fmt.Errorf("envoy %s holds gen-%d, want gen-%d or later", s.envoy.NodeID(), high, gen)
			}
		}
		return nil
	})
	return time.Since(start)
}

// load is what runs through a scenario: traffic through each Envoy, a
// sampler of each Envoy's route config and the writer.
type load struct {
	traffic  []*traffic
	samplers []*sampler
	writer   *writer
}

// Rates of the short form: two cores, shared.
const (
	requestInterval = 20 * time.Millisecond  // per Envoy
	writeInterval   = 250 * time.Millisecond // 4 changes a second
	sampleInterval  = 100 * time.Millisecond
)

func (top *topology) startLoad() *load { return top.startLoadWriting(writeInterval) }

// startLoadWriting is startLoad with the writer at its own pace.
func (top *topology) startLoadWriting(writeEvery time.Duration) *load {
	l := &load{writer: startWriter(top.t, top.cli, writeEvery)}
	for i, e := range top.envoys {
		l.traffic = append(l.traffic, startTraffic(top.t, top.url(i, "/"), requestInterval))
		l.samplers = append(l.samplers, startSampler(top.t, e, sampleInterval))
	}
	return l
}

// waitWritten waits until the writer has written a generation after the
// moment of the call, and returns it.
func (l *load) waitWritten(t *testing.T) int64 {
	t.Helper()
	before := l.writer.written.Load()
	var gen int64
	harness.Eventually(t, 30*time.Second, 20*time.Millisecond, func() error {
		if gen = l.writer.written.Load(); gen <= before {
			return fmt.Errorf("no write taken since gen-%d (%d failed)", before, l.writer.failed.Load())
		}
		return nil
	})
	return gen
}

// figures is what a scenario reports.
type figures struct {
	sent, failed int64
}

// check stops everything and asserts no failed request (at least min
// sent through each Envoy) and no regression.
func (l *load) check(t *testing.T, min int64) figures {
	t.Helper()
	l.writer.halt()
	var f figures
	for _, tr := range l.traffic {
		f.sent += tr.check(t, min)
		f.failed += tr.failed.Load()
	}
	for _, s := range l.samplers {
		s.check(t)
	}
	return f
}
