package fault

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// readinessLag is the replicas' --max-watch-lag in the readiness
// scenarios: short enough to test, well above the 1s progress interval.
const readinessLag = 3 * time.Second

// Scenario 4, shared: every etcd member hung (SIGSTOP: connections open,
// nothing answers) for well over --max-watch-lag. No replica leaves
// HAProxy, each says on /readyz that it serves its last snapshot; the
// Envoys of a replica killed meanwhile reconnect through HAProxy to
// another; traffic never fails; after etcd resumes a change reaches both.
func TestEtcdHungForAllKeepsReplicasReady(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{maxWatchLag: readinessLag})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	holder := top.waitHolder(20 * time.Second)
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)

	for _, m := range top.etcd.Members {
		m.Pause()
	}
	paused := time.Now()
	harness.Eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		return allSay(top, http.StatusOK, "nor for any other replica")
	})
	// Past the lag with a margin: HAProxy's checks have had time to act.
	sleepUntil(paused.Add(readinessLag + pick(3*time.Second, 30*time.Second)))
	hung := mon.take()

	killed := time.Now()
	holder.Kill()
	next := top.waitHolder(30*time.Second, holder.ReplicaID())
	reconnect := time.Since(killed)
	if err := allSay(top, http.StatusOK, "nor for any other replica"); err != nil {
		t.Errorf("after the Envoys moved: %v", err)
	}
	hungFor := time.Since(paused)
	for _, m := range top.etcd.Members {
		m.Resume()
	}
	gen := l.waitWritten(t)
	reach := waitGeneration(t, 30*time.Second, gen, l.samplers...)
	f := l.check(t, 100)
	after := mon.take()

	t.Logf("etcd hung %v (--max-watch-lag %v): HAProxy servers down %v in %d samples, none empty; Envoys moved from killed %s to %s in %v; gen-%d after resume reached both in %v; requests sent %d, failed %d",
		hungFor.Round(time.Millisecond), readinessLag, hung.down, hung.samples, holder.ReplicaID(), next.ReplicaID(), reconnect.Round(time.Millisecond), gen, reach.Round(time.Millisecond), f.sent, f.failed)
	report(t, result{Scenario: "4a. every etcd member hung (SIGSTOP), holder killed meanwhile", Sent: f.sent, Failed: f.failed, Recovery: reconnect,
		Note: fmt.Sprintf("hung %v; HAProxy servers down while hung: %d of %d samples; change after resume reached both in %v",
			hungFor.Round(time.Millisecond), len(hung.down), hung.samples, reach.Round(time.Millisecond))})
	if len(hung.down) != 0 || hung.empty != 0 || hung.samples == 0 {
		t.Errorf("while etcd hung, HAProxy had servers down: %v in %d samples (%d with none up)", hung.down, hung.samples, hung.empty)
	}
	if after.empty != 0 {
		t.Errorf("after the kill, HAProxy had no server up in %d of %d samples", after.empty, after.samples)
	}
	for _, r := range top.replicas {
		if r != holder && after.down[r.ReplicaID()] != 0 {
			t.Errorf("replica %s was down in HAProxy for %d samples", r.ReplicaID(), after.down[r.ReplicaID()])
		}
	}
}

// Scenario 4, alone: the replica that holds both Envoys is cut off etcd
// (TCP proxies between it and every member cut), the others see etcd.
// It turns unready once its watch is quiet for --max-watch-lag, HAProxy
// marks it down and shuts its connections, the Envoys move to a replica
// that sees etcd and get the changes written meanwhile; the others never
// leave HAProxy; traffic never fails; restored, the replica comes back.
func TestReplicaCutOffAloneLeaves(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{maxWatchLag: readinessLag, linked: []int{0}})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	cutOff := top.replicas[0]
	if holder := top.waitHolder(20 * time.Second); holder != cutOff {
		t.Fatalf("the Envoys are on %s, want %s (HAProxy balances first)", holder.ReplicaID(), cutOff.ReplicaID())
	}
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)

	for _, p := range top.links[0] {
		p.Cut()
	}
	cut := time.Now()
	next := top.waitHolder(readinessLag+30*time.Second, cutOff.ReplicaID())
	moved := time.Since(cut)
	if status, body, err := readyz(cutOff); err != nil || status != http.StatusServiceUnavailable || !strings.Contains(body, "hears from it") {
		t.Errorf("cut-off %s /readyz: %d %q %v, want 503 naming a replica that hears etcd", cutOff.ReplicaID(), status, body, err)
	}
	gen := l.waitWritten(t)
	reach := waitGeneration(t, 30*time.Second, gen, l.samplers...)

	for _, p := range top.links[0] {
		p.Restore()
	}
	restored := time.Now()
	top.lb.WaitStatus(t, 30*time.Second, map[string]string{cutOff.ReplicaID(): "UP"})
	back := time.Since(restored)
	f := l.check(t, 100)
	c := mon.take()

	t.Logf("cut %s off etcd (--max-watch-lag %v): Envoys moved to %s in %v; gen-%d, written after, reached both in %v; back in HAProxy %v after restore; HAProxy down samples %v of %d; requests sent %d, failed %d",
		cutOff.ReplicaID(), readinessLag, next.ReplicaID(), moved.Round(time.Millisecond), gen, reach.Round(time.Millisecond), back.Round(time.Millisecond), c.down, c.samples, f.sent, f.failed)
	report(t, result{Scenario: "4b. holder alone cut off etcd", Sent: f.sent, Failed: f.failed, Recovery: moved,
		Note: fmt.Sprintf("--max-watch-lag %v; change written after the cut reached both in %v; back in HAProxy %v after restore",
			readinessLag, reach.Round(time.Millisecond), back.Round(time.Millisecond))})
	if moved < readinessLag {
		t.Errorf("the Envoys moved %v after the cut, before --max-watch-lag %v: something else than readiness moved them", moved, readinessLag)
	}
	if c.empty != 0 {
		t.Errorf("HAProxy had no server up in %d of %d samples", c.empty, c.samples)
	}
	for _, r := range top.replicas[1:] {
		if n := c.down[r.ReplicaID()]; n != 0 {
			t.Errorf("replica %s, which sees etcd, was down in HAProxy for %d samples", r.ReplicaID(), n)
		}
	}
}

// allSay checks that every running replica's /readyz answers status with
// a body containing want.
func allSay(top *topology, status int, want string) error {
	for _, r := range top.replicas {
		if !r.Running() {
			continue
		}
		got, body, err := readyz(r)
		if err != nil {
			return err
		}
		if got != status || !strings.Contains(body, want) {
			return fmt.Errorf("replica %s /readyz: %d %q, want %d with %q", r.ReplicaID(), got, strings.TrimSpace(body), status, want)
		}
	}
	return nil
}

// sleepUntil lets a fault last until t: the scenario's exposure, not a
// synchronisation.
func sleepUntil(t time.Time) {
	time.Sleep(time.Until(t))
}
