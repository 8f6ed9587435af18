package fault

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// rollingWriteInterval is the writer's pace in this scenario, the issue's
// ten changes a second: two cores keep up with it in the short form too.
const rollingWriteInterval = 100 * time.Millisecond

// Bounds of one step of the rolling restart, with both cores busy.
const (
	// maxDrain is the replicas' --drain-timeout (its default): a Stop
	// that takes it cut the streams instead of draining them.
	maxDrain = 10 * time.Second
	maxMove  = 15 * time.Second // SIGTERM to both Envoys in sync on another replica
	maxStep  = 45 * time.Second // SIGTERM to the replica back up in HAProxy and ready
)

// convergeTimeout bounds the wait, after the last write, for both Envoys to
// hold exactly the translation of etcd's last revision.
const convergeTimeout = 20 * time.Second

// step is one replica's restart, timed from its SIGTERM.
type step struct {
	replica  string
	from, to string        // the Envoys' holder before the SIGTERM and after it
	drained  time.Duration // until the process exited (Stop)
	down     time.Duration // until HAProxy marked it DOWN
	moved    time.Duration // until both Envoys were in sync on another replica
	back     time.Duration // until it was UP in HAProxy again and knew its peers
	gen      int64         // a generation written while it was down
	reach    time.Duration // for gen to reach both Envoys once written
	writes   int64         // generations written during the step
}

func (s step) String() string {
	return fmt.Sprintf("%s: exited %v, Envoys %s→%s %v, DOWN %v, gen-%d reached both in %v, back UP %v, %d writes",
		s.replica, s.drained.Round(time.Millisecond), s.from, s.to, s.moved.Round(time.Millisecond),
		s.down.Round(time.Millisecond), s.gen, s.reach.Round(time.Millisecond), s.back.Round(time.Millisecond), s.writes)
}

// Scenario 2: SIGTERM and restart r1, r2 and r3 in turn, each back up and
// ready before the next, under traffic and ten config changes a second.
// Each replica exits 0 after draining; the Envoys move through HAProxy
// without restarting; not one request fails; no Envoy ever holds an older
// route table than before; and once the writer stops, each Envoy holds
// exactly the translation of etcd's last revision: no update is lost.
func TestRollingRestartLosesNothing(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoadWriting(rollingWriteInterval)
	top.waitHolder(20 * time.Second)
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)
	pids := []int{top.envoys[0].PID(), top.envoys[1].PID()}
	steady := pick(time.Second, 20*time.Second) // traffic and changes between steps

	var steps []step
	for n, r := range top.replicas {
		sleepUntil(time.Now().Add(steady))
		steps = append(steps, top.restart(l, r, n))
		t.Logf("step %s", steps[len(steps)-1])
	}
	sleepUntil(time.Now().Add(steady))
	l.writer.halt()
	last := l.writer.written.Load()
	waitGeneration(t, convergeTimeout, last, l.samplers...)
	diffs, rev, compared, converged := top.converge(convergeTimeout)
	f := l.check(t, 100)
	lb := mon.take()

	for i, e := range top.envoys {
		if e.PID() != pids[i] {
			t.Errorf("envoy %s restarted", e.NodeID())
		}
	}
	var longest time.Duration
	var notes []string
	for _, s := range steps {
		longest = max(longest, s.back)
		notes = append(notes, s.String())
	}
	t.Logf("rolling restart under %v writes: requests sent %d, failed %d; writes %d (failed %d), last gen-%d; both Envoys matched etcd revision %d (%d resources) %v after it; HAProxy had no server up in %d of %d samples; mismatched resources %d",
		rollingWriteInterval, f.sent, f.failed, last, l.writer.failed.Load(), last, rev, compared, converged.Round(time.Millisecond), lb.empty, lb.samples, len(diffs))
	report(t, result{Scenario: "2. Rolling restart of all three replicas (SIGTERM, drain)", Sent: f.sent, Failed: f.failed,
		Recovery: longest, Lost: int64(len(diffs)),
		Note: fmt.Sprintf("%s; %d route table writes at one per %v; after the last, both Envoys held exactly etcd's translation (%d resources) within %v",
			strings.Join(notes, "; "), last, rollingWriteInterval, compared, converged.Round(time.Millisecond))})

	if len(diffs) != 0 {
		t.Errorf("after %v, the Envoys do not hold the translation of etcd revision %d (%d resources differ): %s",
			convergeTimeout, rev, len(diffs), strings.Join(diffs, "; "))
	}
	// Each Envoy: its listener and one per restart, route table web,
	// cluster web and its load assignment.
	if want := len(top.envoys) * (1 + len(steps) + 3); compared != want {
		t.Errorf("compared %d resources, want %d", compared, want)
	}
	if n := l.writer.failed.Load(); n != 0 {
		t.Errorf("%d writes failed: etcd is not under test here", n)
	}
	if lb.empty != 0 {
		t.Errorf("HAProxy had no server up in %d of %d samples", lb.empty, lb.samples)
	}
	for _, s := range steps {
		if s.drained >= maxDrain || s.moved > maxMove || s.back > maxStep {
			t.Errorf("step %s: want the exit within %v (no drain timeout), the Envoys moved within %v, back UP within %v",
				s, maxDrain, maxMove, maxStep)
		}
	}
}

// restart stops r gracefully (it must exit 0), waits until both Envoys
// are in sync on another replica, HAProxy marks it down and a change
// written meanwhile reached them, then starts it again and waits until it
// is up in HAProxy, ready and knows its peers. Besides the writer's route
// tables, two changes land in the drain: a listener added just before the
// SIGTERM, which nothing later supersedes, and the weight and metadata of
// endpoint up1 (the nth restart's) just after the exit, while the Envoys
// reconnect; the final comparison finds either if it was lost.
func (top *topology) restart(l *load, r *harness.Chancery, n int) step {
	t := top.t
	t.Helper()
	s := step{replica: r.ReplicaID(), from: top.waitHolder(20 * time.Second).ReplicaID()}
	before := l.writer.written.Load()
	top.put("listeners/rolling-"+s.replica, map[string]any{"address": "127.0.0.1", "port": harness.FreePort(t),
		"protocol": "http", "route_table": "web", "groups": []string{"edge-a", "edge-b"}})
	start := time.Now()
	r.Stop() // a test error unless it exits 0 within the harness's StopTimeout
	s.drained = time.Since(start)
	host, port := top.up[0].Addr()
	top.put("endpoints/web/"+top.up[0].Name(), map[string]any{"address": host, "port": port,
		"weight": 2 + n, "metadata": map[string]string{"restarted": s.replica}})
	s.to = top.waitHolder(maxMove+10*time.Second, s.replica).ReplicaID()
	s.moved = time.Since(start)
	top.lb.WaitStatus(t, 20*time.Second, map[string]string{s.replica: "DOWN"})
	s.down = time.Since(start)
	s.gen = l.waitWritten(t)
	s.reach = waitGeneration(t, 20*time.Second, s.gen, l.samplers...)

	r.Start()
	top.lb.WaitStatus(t, 30*time.Second, map[string]string{s.replica: "UP"})
	top.waitPeers()
	s.back = time.Since(start)
	s.writes = l.writer.written.Load() - before
	return s
}

// converge waits until every Envoy holds exactly its group's translation
// of etcd's current revision, reading both anew each time, and returns
// what still differed at the deadline (nil once they matched), the
// revision last compared, how many resources its translation has for the
// Envoys (summed over them) and how long it took.
func (top *topology) converge(timeout time.Duration) (diffs []string, rev int64, compared int, took time.Duration) {
	t := top.t
	t.Helper()
	start := time.Now()
	for {
		want, err := expectedResources(top.cli)
		if err != nil {
			t.Fatal(err)
		}
		rev, diffs, compared = want.Revision, nil, 0
		for _, e := range top.envoys {
			g := want.Groups[e.Group()]
			if g == nil || len(g.Listeners) == 0 || len(g.Routes) == 0 || len(g.Clusters) == 0 || len(g.Endpoints) == 0 {
				t.Fatalf("revision %d: group %s lacks a type of resource, the comparison would not cover it", rev, e.Group())
			}
			compared += len(g.Listeners) + len(g.Routes) + len(g.Clusters) + len(g.Endpoints) + len(g.Secrets)
			d, err := e.ConfigDump()
			if err != nil {
				t.Fatal(err)
			}
			got, err := mismatches(want.Groups[e.Group()], d)
			if err != nil {
				t.Fatalf("envoy %s: %v", e.NodeID(), err)
			}
			for _, g := range got {
				diffs = append(diffs, e.NodeID()+": "+g)
			}
		}
		took = time.Since(start)
		if len(diffs) == 0 || took > timeout {
			return diffs, rev, compared, took
		}
		time.Sleep(200 * time.Millisecond)
	}
}
