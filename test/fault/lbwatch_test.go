package fault

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// maxLBSamples bounds the monitor: ten minutes at its interval.
const maxLBSamples = 6000

// lbMonitor samples HAProxy's server states every 100ms and counts, per
// server, the samples in which it was down (no new connection would go
// to it), and the samples in which every server was.
type lbMonitor struct {
	lb   *harness.HAProxy
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	down    map[string]int
	empty   int
	samples int
}

func startLBMonitor(t *testing.T, lb *harness.HAProxy) *lbMonitor {
	m := &lbMonitor{lb: lb, stop: make(chan struct{}), done: make(chan struct{}), down: map[string]int{}}
	go m.run()
	t.Cleanup(m.halt)
	return m
}

func (m *lbMonitor) run() {
	defer close(m.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range maxLBSamples {
		if status, err := m.lb.ServerStatus(); err == nil {
			m.record(status)
		}
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

func (m *lbMonitor) record(status map[string]string) {
	up := harness.UpServers(status)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.samples++
	if len(up) == 0 {
		m.empty++
	}
	for name := range status {
		if !slices.Contains(up, name) {
			m.down[name]++
		}
	}
}

// lbCounts is what the monitor saw over a stretch of time.
type lbCounts struct {
	samples, empty int
	down           map[string]int // server -> samples down
}

// take returns the counts since the last take and starts counting anew.
func (m *lbMonitor) take() lbCounts {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := lbCounts{samples: m.samples, empty: m.empty, down: m.down}
	m.samples, m.empty, m.down = 0, 0, map[string]int{}
	return c
}

func (m *lbMonitor) halt() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}
