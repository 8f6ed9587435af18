package fault

import (
	"fmt"
	"testing"
	"time"
)

// Scenario 1: SIGKILL the replica that holds both Envoys under steady
// traffic and config changes. Not one request fails; both Envoys resync
// through HAProxy to another replica; a change written after the kill
// reaches them; no Envoy ever holds an older route table than before.
func TestKillReplicaHoldingBothEnvoys(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{})
	l := top.startLoad()
	holder := top.waitHolder(20 * time.Second)
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)
	pids := []int{top.envoys[0].PID(), top.envoys[1].PID()}
	sleepUntil(time.Now().Add(time.Second)) // a steady second before the fault

	killed := time.Now()
	holder.Kill()
	next := top.waitHolder(30*time.Second, holder.ReplicaID())
	resync := time.Since(killed)
	gen := l.waitWritten(t)
	reach := waitGeneration(t, 30*time.Second, gen, l.samplers...)
	time.Sleep(pick(2*time.Second, 20*time.Second)) // traffic and changes go on against the new holder
	f := l.check(t, 100)

	for i, e := range top.envoys {
		if e.PID() != pids[i] {
			t.Errorf("envoy %s restarted", e.NodeID())
		}
	}
	t.Logf("killed %s: both Envoys resynced to %s in %v; gen-%d, written after, reached both in %v; requests sent %d, failed %d; writes failed %d",
		holder.ReplicaID(), next.ReplicaID(), resync.Round(time.Millisecond), gen, reach.Round(time.Millisecond), f.sent, f.failed, l.writer.failed.Load())
	report(t, result{Scenario: "1. SIGKILL of the replica holding both Envoys", Sent: f.sent, Failed: f.failed, Recovery: resync,
		Note: fmt.Sprintf("moved %s → %s; change written after the kill reached both in %v", holder.ReplicaID(), next.ReplicaID(), reach.Round(time.Millisecond))})
	if resync > 15*time.Second {
		t.Errorf("resync took %v, want within 15s (HAProxy marks a dead server down in about 1s)", resync)
	}
}
