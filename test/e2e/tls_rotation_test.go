package e2e

import (
	"fmt"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Bounds of the rotation test: how long a rotation may take to reach new
// handshakes (the issue's target is 1s; this leaves room for a busy
// machine), and how long and how much the load may run.
const (
	rotationBound   = 5 * time.Second
	rotations       = 10
	rotationSpacing = 300 * time.Millisecond
	loadWorkers     = 3
	loadMaxDuration = 90 * time.Second
	loadMaxRequests = 200000
)

// tlsSample is one request of the load: when its connection started, and
// the serial the server presented, or its failure.
type tlsSample struct {
	start  time.Time
	serial *big.Int
	err    string
}

// tlsLoad sends HTTPS requests, each on a new connection, from a few
// workers until stopped or bounded.
type tlsLoad struct {
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	samples []tlsSample
}

func startTLSLoad(p tlsProbe) *tlsLoad {
	l := &tlsLoad{stop: make(chan struct{})}
	deadline := time.Now().Add(loadMaxDuration)
	for range loadWorkers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-l.stop:
					return
				default:
				}
				s := tlsSample{start: time.Now()}
				ans, err := p.get("/")
				switch {
				case err != nil:
					s.err = err.Error()
				case ans.status != 200 || ans.body != "up1":
					s.err = fmt.Sprintf("%d %q", ans.status, ans.body)
				default:
					s.serial = ans.leaf.SerialNumber
				}
				l.mu.Lock()
				l.samples = append(l.samples, s)
				full := len(l.samples) >= loadMaxRequests
				l.mu.Unlock()
				if full {
					return
				}
			}
		}()
	}
	return l
}

func (l *tlsLoad) end() []tlsSample {
	close(l.stop)
	l.wg.Wait()
	return l.samples
}

// rotation is one secret replaced: its new serial, when the put returned
// and when a new handshake first presented the new certificate.
type rotation struct {
	serial    *big.Int
	put, seen time.Time
}

// A certificate replaced in etcd reaches new handshakes within the bound,
// ten times over, while requests run on new connections the whole time:
// none fails, none that starts after a rotation was seen gets an older
// certificate, Envoy is the same process and its listener is not rebuilt.
func TestTLSRotationUnderLoad(t *testing.T) {
	g := newTLSRig(t)
	ca := harness.NewCA(t, "rotation-ca")
	issue := func() (cert, key string, serial *big.Int) {
		cert, key = ca.Issue(t, harness.CertOptions{DNSNames: []string{"rot.example.com"}})
		return cert, key, serialOf(t, cert)
	}
	c0, k0, s0 := issue()
	g.putCert("rot-cert", c0, k0)
	port := harness.FreePort(t)
	g.putJSON("listeners/rot", httpsListener(port, map[string]any{"certificates": []any{sniCert("rot-cert", "rot.example.com")}}))
	probe := tlsProbe{port: port, serverName: "rot.example.com", roots: certPool(t, ca)}
	probe.waitServes(t, "/", "up1", s0)

	pid := g.envoy.PID()
	modified, _ := g.envoy.Stat(t, "listener_manager.listener_modified")
	load := startTLSLoad(probe)
	var rots []rotation
	for i := range rotations {
		c, k, s := issue()
		g.putCert("rot-cert", c, k)
		r := rotation{serial: s, put: time.Now()}
		r.seen = waitSerial(t, probe, s, r.put.Add(2*rotationBound))
		rots = append(rots, r)
		if took := r.seen.Sub(r.put); took > rotationBound {
			t.Errorf("rotation %d: new handshakes presented the new certificate %v after the put, want at most %v", i+1, took, rotationBound)
		}
		for j := range 20 {
			if ans, err := probe.get("/"); err != nil || ans.leaf.SerialNumber.Cmp(s) != 0 {
				t.Errorf("rotation %d: handshake %d after the new certificate was seen: %v, %s", i+1, j, err, ans.serial())
			}
		}
		time.Sleep(time.Until(r.put.Add(rotationSpacing))) // let the load see each certificate a while
	}
	samples := load.end()
	checkLoad(t, samples, s0, rots)
	reportRotations(t, rots)

	if got := g.envoy.PID(); got != pid {
		t.Errorf("Envoy's pid changed from %d to %d", pid, got)
	}
	if after, _ := g.envoy.Stat(t, "listener_manager.listener_modified"); after != modified {
		t.Errorf("listener_manager.listener_modified went from %d to %d: a rotation rebuilt (and drained) the listener instead of updating the secret alone", modified, after)
	}
	if v, _ := g.envoy.Stat(t, "sds.rot-cert.update_success"); v < rotations {
		t.Errorf("sds.rot-cert.update_success = %d, want at least %d", v, rotations)
	}
	g.checkNoNACK()
	g.checkServerNoLeak()
}

// waitSerial polls new handshakes until one presents serial, and returns
// when; past deadline it fails the test.
func waitSerial(t *testing.T, p tlsProbe, serial *big.Int, deadline time.Time) time.Time {
	t.Helper()
	var last string
	for time.Now().Before(deadline) {
		ans, err := p.get("/")
		if err == nil && ans.leaf.SerialNumber.Cmp(serial) == 0 {
			return time.Now()
		}
		last = fmt.Sprint(err)
		if err == nil {
			last = fmt.Sprintf("serial %x", ans.leaf.SerialNumber)
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no handshake presented serial %x by the deadline; last: %s", serial, last)
	return time.Time{}
}

// checkLoad fails on any failed request, and on any request that started
// after a rotation was seen but got an older certificate.
func checkLoad(t *testing.T, samples []tlsSample, first *big.Int, rots []rotation) {
	t.Helper()
	order := map[string]int{first.String(): 0}
	for i, r := range rots {
		order[r.serial.String()] = i + 1
	}
	failed, stale := 0, 0
	for _, s := range samples {
		if s.err != "" {
			if failed++; failed <= 5 {
				t.Errorf("request during the rotations failed: %s", s.err)
			}
			continue
		}
		got, ok := order[s.serial.String()]
		if !ok {
			t.Errorf("a handshake presented serial %x, which no rotation wrote", s.serial)
			continue
		}
		newest := 0 // the newest rotation seen before the request started
		for i, r := range rots {
			if r.seen.Before(s.start) {
				newest = i + 1
			}
		}
		if got < newest {
			if stale++; stale <= 5 {
				t.Errorf("a handshake started %v after rotation %d was seen presented the certificate of rotation %d", s.start.Sub(rots[newest-1].seen), newest, got)
			}
		}
	}
	t.Logf("load during %d rotations: %d requests on new connections from %d workers, %d failed, %d with a stale certificate",
		len(rots), len(samples), loadWorkers, failed, stale)
	if len(samples) < 100 {
		t.Errorf("the load sent only %d requests", len(samples))
	}
}

func reportRotations(t *testing.T, rots []rotation) {
	t.Helper()
	var took []time.Duration
	for _, r := range rots {
		took = append(took, r.seen.Sub(r.put))
	}
	t.Logf("put -> first new handshake with the new certificate, each rotation: %v", roundAll(took))
	slices.Sort(took)
	n := len(took)
	median := (took[(n-1)/2] + took[n/2]) / 2
	t.Logf("rotation put -> new handshake, %d rotations: median %v, min %v, max %v (bound %v, target 1s)",
		n, median.Round(100*time.Microsecond), took[0].Round(100*time.Microsecond), took[n-1].Round(100*time.Microsecond), rotationBound)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(100 * time.Microsecond)
	}
	return out
}
