package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// Scenario 3a: SIGKILL the etcd leader under traffic and config changes
// (in the long form five times in a row). Not one request fails, no
// replica leaves HAProxy; writes resume once a new leader is elected and
// reach both Envoys; every replica stays ready and its watch moves past
// the first revision written after the kill (none is stuck on the dead
// member); restarted, the member catches up.
func TestEtcdLeaderKilled(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)

	var worstWrites, worstRecovery time.Duration
	var killed []string
	for range pick(1, 5) {
		leader := waitEtcdLeader(t, top.etcd)
		start := time.Now()
		leader.Kill()
		gen := l.waitWritten(t)
		writes := time.Since(start)
		waitGeneration(t, 30*time.Second, gen, l.samplers...)
		recovery := time.Since(start)
		waitWatchesPast(t, top, routesRevision(t, top.cli), 20*time.Second)
		if next := waitEtcdLeader(t, top.etcd); next == leader {
			t.Fatalf("killed leader %s still leads", leader.Name())
		}
		sleepUntil(time.Now().Add(pick(2*time.Second, 10*time.Second))) // changes go on against two members
		leader.Start()
		waitMemberAt(t, leader, currentRevision(t, top.cli), 20*time.Second)
		worstWrites, worstRecovery = max(worstWrites, writes), max(worstRecovery, recovery)
		killed = append(killed, leader.Name())
	}
	// Changes go on against the healed cluster and reach every watch.
	waitGeneration(t, 30*time.Second, l.waitWritten(t), l.samplers...)
	waitWatchesPast(t, top, routesRevision(t, top.cli), 20*time.Second)
	f := l.check(t, 100)
	c := mon.take()

	t.Logf("killed etcd leaders %v: writes resumed within %v, the change reached both Envoys within %v of the kill; HAProxy down samples %v of %d; requests sent %d, failed %d; writes failed %d",
		killed, worstWrites.Round(time.Millisecond), worstRecovery.Round(time.Millisecond), c.down, c.samples, f.sent, f.failed, l.writer.failed.Load())
	report(t, result{Scenario: "3a. SIGKILL of the etcd leader", Sent: f.sent, Failed: f.failed, Recovery: worstRecovery,
		Note: fmt.Sprintf("%d leaders killed; writes resumed within %v; every replica ready, its watch past the kill; HAProxy servers down: %d of %d samples",
			len(killed), worstWrites.Round(time.Millisecond), len(c.down), c.samples)})
	if worstWrites > 10*time.Second {
		t.Errorf("writes resumed %v after the leader's kill, want within 10s (an election takes about a second)", worstWrites)
	}
	if len(c.down) != 0 || c.empty != 0 || c.samples == 0 {
		t.Errorf("HAProxy had servers down: %v in %d samples (%d with none up)", c.down, c.samples, c.empty)
	}
}

// Scenario 3b: two of three etcd members stopped (the leader among them):
// no quorum. The replicas go on serving their last snapshot, no request
// fails, HAProxy keeps every replica up, writes fail; once quorum returns
// writes resume and reach both Envoys, and the replicas' watches, leases
// and election settle again.
func TestEtcdQuorumLost(t *testing.T) {
	begin(t)
	o := etcdOutage(t, pick(8*time.Second, 30*time.Second), func(top *topology) []*harness.Etcd {
		leader := waitEtcdLeader(t, top.etcd)
		for _, m := range top.etcd.Members {
			if m != leader {
				return []*harness.Etcd{leader, m}
			}
		}
		return nil
	})
	o.report(t, "3b. etcd quorum lost (2 of 3 members stopped)")
}

// Scenario 3c: every etcd member stopped. As 3b; the load balancer is
// never left empty (docs/readiness.md).
func TestEtcdFullOutage(t *testing.T) {
	begin(t)
	o := etcdOutage(t, pick(10*time.Second, 60*time.Second), func(top *topology) []*harness.Etcd {
		return top.etcd.Members
	})
	o.report(t, "3c. etcd fully down (every member stopped)")
}

// defaultMaxWatchLag is the replicas' --max-watch-lag in these scenarios:
// the default.
const defaultMaxWatchLag = 10 * time.Second

// outage is what etcdOutage measured.
type outage struct {
	stopped      []string
	stopping     time.Duration // SIGTERM to every stopped member gone
	held         time.Duration // from then to etcd started again
	f            figures
	during       lbCounts // HAProxy while etcd was out
	after        lbCounts // and from its return to the end
	writesFailed int64    // writes etcd did not take while out
	restart      time.Duration
	recovery     time.Duration // etcd started again to a change in both Envoys
	settled      time.Duration // to every watch current, three registrations, one leader
}

// etcdOutage runs a topology under load, stops the members that choose
// returns, keeps them down for hold, starts them again and checks what the
// outage scenarios promise: nothing fails, HAProxy keeps every replica,
// writes fail while out and resume after, and the replicas settle.
func etcdOutage(t *testing.T, hold time.Duration, choose func(*topology) []*harness.Etcd) outage {
	t.Helper()
	top := newTopology(t, topologyOptions{})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	before := l.waitWritten(t)
	waitGeneration(t, 20*time.Second, before, l.samplers...)

	var o outage
	members := choose(top)
	stopping := time.Now()
	top.etcd.Stop(members...)
	stopped := time.Now()
	o.stopping = stopped.Sub(stopping)
	for _, m := range members {
		o.stopped = append(o.stopped, m.Name())
	}
	writtenAtStop, failedAtStop := l.writer.written.Load(), l.writer.failed.Load()
	sleepUntil(stopped.Add(hold))
	// Silent past --max-watch-lag, every replica says it serves its last
	// snapshot: no other replica hears from etcd either.
	want := "ready: "
	if hold > defaultMaxWatchLag+3*time.Second {
		want = "nor for any other replica"
	}
	if err := allSay(top, http.StatusOK, want); err != nil {
		t.Errorf("etcd out %v: %v", time.Since(stopped).Round(time.Millisecond), err)
	}
	o.during = mon.take()
	o.held = time.Since(stopped)
	if w := l.writer.written.Load(); w > writtenAtStop+1 { // the one in flight at the stop
		t.Errorf("etcd without quorum took writes: gen-%d written, gen-%d when it stopped", w, writtenAtStop)
	}
	o.writesFailed = l.writer.failed.Load() - failedAtStop

	back := time.Now()
	top.etcd.Start(members...)
	o.restart = time.Since(back)
	gen := l.waitWritten(t)
	waitGeneration(t, 30*time.Second, gen, l.samplers...)
	o.recovery = time.Since(back)
	waitWatchesPast(t, top, routesRevision(t, top.cli), 20*time.Second)
	waitSettled(t, top, back)
	o.settled = time.Since(back)
	o.f = l.check(t, 100)
	o.after = mon.take()

	if o.during.samples == 0 || o.during.empty != 0 || len(o.during.down) != 0 {
		t.Errorf("while etcd was out HAProxy had servers down: %v in %d samples (%d with none up)", o.during.down, o.during.samples, o.during.empty)
	}
	// Nor when etcd returns: a replica whose connection comes back a moment
	// after another's was silent with all of them, not cut off alone.
	if o.after.empty != 0 || len(o.after.down) != 0 {
		t.Errorf("after etcd returned HAProxy had servers down: %v in %d samples (%d with none up)", o.after.down, o.after.samples, o.after.empty)
	}
	if o.writesFailed < 2 {
		t.Errorf("only %d writes failed while etcd was out for %v", o.writesFailed, o.held)
	}
	if o.recovery-o.restart > 20*time.Second {
		t.Errorf("a change took %v after etcd was healthy again to reach both Envoys, want within 20s", o.recovery-o.restart)
	}
	t.Logf("stopped %v (SIGTERM to exit %v), out for %v: HAProxy down samples %v of %d; writes failed %d; restart took %v; a change reached both Envoys %v after the restart began, settled %v; requests sent %d, failed %d",
		o.stopped, o.stopping.Round(time.Millisecond), o.held.Round(time.Millisecond), o.during.down, o.during.samples, o.writesFailed, o.restart.Round(time.Millisecond),
		o.recovery.Round(time.Millisecond), o.settled.Round(time.Millisecond), o.f.sent, o.f.failed)
	return o
}

func (o outage) report(t *testing.T, scenario string) {
	t.Helper()
	report(t, result{Scenario: scenario, Sent: o.f.sent, Failed: o.f.failed, Recovery: o.recovery,
		Note: fmt.Sprintf("out %v after %v of SIGTERM; HAProxy servers down while out: %d of %d samples; %d writes failed while out; etcd healthy %v after the restart began; watches, registrations and leader settled in %v",
			o.held.Round(time.Millisecond), o.stopping.Round(time.Millisecond), len(o.during.down), o.during.samples, o.writesFailed, o.restart.Round(time.Millisecond), o.settled.Round(time.Millisecond))})
}

// Scenario 3d: while the writer runs, write a few MiB of history, compact
// etcd to its current revision and defragment every member, twice (ten
// times in the long form). Not one request fails, no Envoy goes back,
// changes written after each compaction reach both Envoys and every
// replica's watch, and a watch reloads at most once per compaction.
func TestEtcdCompactionDefragUnderLoad(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{})
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)
	reloadsBefore := watchReloads(t, top)

	rounds := pick(2, 10)
	var worstDefrag, worstReach time.Duration
	var dbBefore, dbAfter int64 // of the last round
	for range rounds {
		started := time.Now()
		history := pick(8<<20, 32<<20)
		writeHistory(t, top.cli, history)
		// A member's size counts what its backend committed, in batches.
		harness.Eventually(t, 10*time.Second, 50*time.Millisecond, func() error {
			if smallest := dbSizes(t, top.etcd)[0]; smallest < int64(history) {
				return fmt.Errorf("a member's database is %d KiB, want the %d KiB of history", smallest>>10, history>>10)
			}
			return nil
		})
		dbBefore = largestDB(t, top.etcd)
		rev := currentRevision(t, top.cli)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if _, err := top.cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
			cancel()
			t.Fatalf("compact to %d: %v", rev, err)
		}
		cancel()
		compacted := time.Now()
		// WithCompactPhysical waits for the member the client asked; the
		// others compact on their own time, and a defragmentation before
		// that frees nothing: defragment until every member has shrunk.
		harness.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for _, m := range top.etcd.Members {
				start := time.Now()
				if _, err := top.cli.Defragment(ctx, m.Endpoint()); err != nil {
					return fmt.Errorf("defragment %s: %w", m.Name(), err)
				}
				worstDefrag = max(worstDefrag, time.Since(start))
			}
			if dbAfter = largestDB(t, top.etcd); dbAfter*2 > dbBefore {
				return fmt.Errorf("defragmentation left %d KiB of %d KiB: compaction freed less than half", dbAfter>>10, dbBefore>>10)
			}
			return nil
		})
		gen := l.waitWritten(t)
		waitGeneration(t, 30*time.Second, gen, l.samplers...)
		worstReach = max(worstReach, time.Since(compacted))
		waitWatchesPast(t, top, routesRevision(t, top.cli), 20*time.Second)
		sleepUntil(started.Add(pick(3*time.Second, 10*time.Second))) // traffic and changes go on
	}
	f := l.check(t, 100)
	c := mon.take()
	reloads := watchReloads(t, top) - reloadsBefore

	t.Logf("%d rounds of compaction and defragmentation: largest member database %d KiB before, %d KiB after in the last; longest defragmentation %v, a change after each reached both Envoys within %v of the compaction; watch reloads %v; HAProxy down samples %v of %d; requests sent %d, failed %d; writes failed %d",
		rounds, dbBefore>>10, dbAfter>>10, worstDefrag.Round(time.Millisecond), worstReach.Round(time.Millisecond), reloads, c.down, c.samples, f.sent, f.failed, l.writer.failed.Load())
	report(t, result{Scenario: "3d. etcd compaction and defragmentation under load", Sent: f.sent, Failed: f.failed, Recovery: worstReach,
		Note: fmt.Sprintf("%d rounds, each after %d MiB of history: database %d KiB → %d KiB in the last; longest defragmentation of a member %v; watch reloads %v",
			rounds, pick(8, 32), dbBefore>>10, dbAfter>>10, worstDefrag.Round(time.Millisecond), reloads)})
	if len(c.down) != 0 || c.empty != 0 {
		t.Errorf("HAProxy had servers down: %v in %d samples (%d with none up)", c.down, c.samples, c.empty)
	}
	// A current watch is not touched by a compaction to the current
	// revision; one that lagged may be compacted and must reload, once.
	if reloads > float64(rounds*len(top.replicas)) {
		t.Errorf("%v watch reloads in %d compactions of %d replicas' watches", reloads, rounds, len(top.replicas))
	}
}

// writeHistory overwrites a few keys under /history/ with big values
// until size bytes of history that a compaction can free are written.
func writeHistory(t *testing.T, cli *clientv3.Client, size int) {
	t.Helper()
	value := strings.Repeat("h", fillerValue)
	for i := range size / fillerValue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/history/%d", i%4), value)
		cancel()
		if err != nil {
			t.Fatalf("write history, value %d: %v", i, err)
		}
	}
}

// noSpaceQuota is the members' --quota-backend-bytes in 3e: ample for the
// scenario's own keys, filled by a few dozen big values in a second.
const noSpaceQuota = 16 << 20

// fillerValue is the size of each value that fills the quota, well under
// etcd's default --max-request-bytes (1.5 MiB).
const fillerValue = 512 << 10

// Scenario 3e: etcd runs out of space (its NOSPACE alarm) under load. The
// replicas go on serving, no request fails, HAProxy keeps every replica;
// chanceryctl apply fails with a message that names the alarm and what to
// do. Done as the message says (delete, compact, defragment, disarm with
// etcdctl), writes resume, and a change applied with chanceryctl reaches
// both Envoys.
func TestEtcdNoSpace(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{etcd: harness.EtcdOptions{ExtraArgs: []string{"--quota-backend-bytes", strconv.Itoa(noSpaceQuota)}}})
	endpoints := strings.Join(top.etcd.Endpoints(), ",")
	mon := startLBMonitor(t, top.lb)
	l := top.startLoad()
	waitGeneration(t, 20*time.Second, l.waitWritten(t), l.samplers...)

	start := time.Now()
	fillers := fillUntilNoSpace(t, top.cli)
	filled := time.Since(start)
	if !noSpaceAlarm(t, top.cli) {
		t.Fatal("etcd refused a write for space but lists no NOSPACE alarm")
	}
	writtenAtAlarm, failedAtAlarm := l.writer.written.Load(), l.writer.failed.Load()
	sleepUntil(time.Now().Add(pick(3*time.Second, 30*time.Second)))
	stdout, stderr, code := harness.ChanceryctlInput(t, routeTableDocument(t, 100_000), "--etcd-endpoints", endpoints, "apply", "-f", "-")
	const advice = "chanceryctl: etcd is out of space (alarm NOSPACE): nothing was written; free space: compact, defragment every member, then `etcdctl alarm disarm`\n"
	if code != 1 || stderr != advice {
		t.Errorf("chanceryctl apply under NOSPACE: status %d\nstdout: %s\nstderr: %q\nwant status 1 and %q", code, stdout, stderr, advice)
	}
	if err := allSay(top, http.StatusOK, "ready: "); err != nil {
		t.Errorf("under NOSPACE: %v", err)
	}
	if w := l.writer.written.Load(); w > writtenAtAlarm {
		t.Errorf("etcd took gen-%d under the alarm (gen-%d before)", w, writtenAtAlarm)
	}
	writesFailed := l.writer.failed.Load() - failedAtAlarm
	during := mon.take()

	freeing := time.Now()
	dbBefore, dbAfter := freeSpace(t, top, endpoints)
	gen := l.waitWritten(t)
	waitGeneration(t, 30*time.Second, gen, l.samplers...)
	recovery := time.Since(freeing)
	l.writer.halt() // chanceryctl's write below must not meet the writer's
	applied := l.writer.written.Load() + 1000
	if out, errOut, code := harness.ChanceryctlInput(t, routeTableDocument(t, applied), "--etcd-endpoints", endpoints, "apply", "-f", "-"); code != 0 {
		t.Fatalf("chanceryctl apply after freeing space: status %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	waitGeneration(t, 30*time.Second, applied, l.samplers...)
	waitWatchesPast(t, top, routesRevision(t, top.cli), 20*time.Second)
	f := l.check(t, 100)
	after := mon.take()

	t.Logf("quota %d MiB filled by %d values of %d KiB in %v; under NOSPACE writes failed %d, HAProxy down samples %v of %d; largest member database %d KiB before freeing, %d KiB after; writes back and in both Envoys %v after freeing began; requests sent %d, failed %d",
		noSpaceQuota>>20, fillers, fillerValue>>10, filled.Round(time.Millisecond), writesFailed, during.down, during.samples, dbBefore>>10, dbAfter>>10, recovery.Round(time.Millisecond), f.sent, f.failed)
	report(t, result{Scenario: "3e. etcd out of space (NOSPACE alarm)", Sent: f.sent, Failed: f.failed, Recovery: recovery,
		Note: fmt.Sprintf("--quota-backend-bytes %d MiB filled in %v; %d writes refused meanwhile, chanceryctl apply refused naming the alarm; HAProxy servers down: %d of %d samples; freed (delete, compact, defragment, disarm): database %d KiB → %d KiB",
			noSpaceQuota>>20, filled.Round(time.Millisecond), writesFailed, len(during.down), during.samples, dbBefore>>10, dbAfter>>10)})
	if writesFailed < 2 {
		t.Errorf("only %d writes failed under the alarm", writesFailed)
	}
	if during.samples == 0 || during.empty != 0 || len(during.down) != 0 || after.empty != 0 || len(after.down) != 0 {
		t.Errorf("HAProxy had servers down: %v in %d samples under NOSPACE, %v in %d after", during.down, during.samples, after.down, after.samples)
	}
	if dbAfter >= noSpaceQuota/2 {
		t.Errorf("after freeing, a member's database is %d KiB, want under half the quota", dbAfter>>10)
	}
	if recovery > 20*time.Second {
		t.Errorf("writes reached both Envoys %v after freeing began, want within 20s", recovery)
	}
}

// fillUntilNoSpace puts big values under /filler/ until etcd refuses one
// for space, and returns how many it took.
func fillUntilNoSpace(t *testing.T, cli *clientv3.Client) int {
	t.Helper()
	value := strings.Repeat("x", fillerValue)
	for i := range 4 * noSpaceQuota / fillerValue {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := cli.Put(ctx, fmt.Sprintf("/filler/%04d", i), value)
		cancel()
		if errors.Is(err, rpctypes.ErrNoSpace) {
			return i
		}
		if err != nil {
			t.Fatalf("fill etcd, value %d: %v", i, err)
		}
	}
	t.Fatalf("etcd took %d values of %d KiB within a quota of %d MiB", 4*noSpaceQuota/fillerValue, fillerValue>>10, noSpaceQuota>>20)
	return 0
}

func noSpaceAlarm(t *testing.T, cli *clientv3.Client) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.AlarmList(ctx)
	if err != nil {
		t.Fatalf("list alarms: %v", err)
	}
	return slices.ContainsFunc(resp.Alarms, func(a *pb.AlarmMember) bool { return a.Alarm == pb.AlarmType_NOSPACE })
}

// freeSpace does what chanceryctl's message says, with etcdctl: delete the
// filler, compact, defragment every member, disarm. It returns the largest
// member database before and after.
func freeSpace(t *testing.T, top *topology, endpoints string) (before, after int64) {
	t.Helper()
	before = largestDB(t, top.etcd)
	harness.MustEtcdctl(t, endpoints, "del", "--prefix", "/filler/")
	harness.MustEtcdctl(t, endpoints, "compact", strconv.FormatInt(currentRevision(t, top.cli), 10), "--physical")
	harness.MustEtcdctl(t, endpoints, "defrag")
	harness.MustEtcdctl(t, endpoints, "alarm", "disarm")
	if noSpaceAlarm(t, top.cli) {
		t.Fatal("NOSPACE still listed after etcdctl alarm disarm")
	}
	return before, largestDB(t, top.etcd)
}

func largestDB(t *testing.T, c *harness.EtcdCluster) int64 {
	t.Helper()
	sizes := dbSizes(t, c)
	return sizes[len(sizes)-1]
}

// dbSizes returns the members' database sizes, smallest first.
func dbSizes(t *testing.T, c *harness.EtcdCluster) []int64 {
	t.Helper()
	var sizes []int64
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := m.Client(t).Status(ctx, m.Endpoint())
		cancel()
		if err != nil {
			t.Fatalf("status of %s: %v", m.Name(), err)
		}
		sizes = append(sizes, resp.DbSize)
	}
	slices.Sort(sizes)
	return sizes
}

// routeTableDocument is routes/web at generation gen, as chanceryctl
// apply reads it.
func routeTableDocument(t *testing.T, gen int64) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{"kind": "RouteTable", "name": "web", "spec": routeTable(int(gen))})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitEtcdLeader waits until the running members agree on a leader.
func waitEtcdLeader(t *testing.T, c *harness.EtcdCluster) *harness.Etcd {
	t.Helper()
	var leader *harness.Etcd
	harness.Eventually(t, 20*time.Second, 100*time.Millisecond, func() error {
		var err error
		leader, err = c.Leader()
		return err
	})
	return leader
}

// currentRevision is etcd's revision now, read with quorum.
func currentRevision(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, "/revision-probe")
	if err != nil {
		t.Fatalf("read etcd's revision: %v", err)
	}
	return resp.Header.Revision
}

// routesRevision is the revision of the last write to routes/web, the
// key the writer and the scenarios change: a replica whose watch is live
// serves it or a later one. (A replica serves the revision of its last
// rebuild, which writes to status keys such as replicas/ do not cause.)
func routesRevision(t *testing.T, cli *clientv3.Client) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix+"/routes/web")
	if err != nil {
		t.Fatalf("read routes/web: %v", err)
	}
	if len(resp.Kvs) != 1 {
		t.Fatal("routes/web is gone")
	}
	return resp.Kvs[0].ModRevision
}

// watchState is a replica's /watchz.
type watchState struct {
	Replica  string `json:"replica"`
	Revision int64  `json:"revision"`
	Silent   int64  `json:"silent_ms"`
}

func watchzOf(r *harness.Chancery) (watchState, error) {
	var st watchState
	status, body, err := harness.HTTPGet(r.AdminURL()+"/watchz", "")
	if err != nil {
		return st, err
	}
	if status != http.StatusOK {
		return st, fmt.Errorf("%s /watchz: %d %q", r.ReplicaID(), status, body)
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return st, fmt.Errorf("%s /watchz: %w", r.ReplicaID(), err)
	}
	return st, nil
}

// waitWatchesPast waits until every replica runs, answers 200 on /readyz
// and serves revision rev or later: its watch is live, on a member that is.
func waitWatchesPast(t *testing.T, top *topology, rev int64, timeout time.Duration) {
	t.Helper()
	harness.Eventually(t, timeout, 50*time.Millisecond, func() error {
		for _, r := range top.replicas {
			if !r.Running() {
				return fmt.Errorf("replica %s exited; log %s", r.ReplicaID(), r.LogPath())
			}
			if status, body, err := readyz(r); err != nil || status != http.StatusOK {
				return fmt.Errorf("replica %s /readyz: %d %q %v", r.ReplicaID(), status, strings.TrimSpace(body), err)
			}
			st, err := watchzOf(r)
			if err != nil {
				return err
			}
			if st.Revision < rev {
				return fmt.Errorf("replica %s serves revision %d (silent %dms), want %d or later", r.ReplicaID(), st.Revision, st.Silent, rev)
			}
		}
		return nil
	})
}

// waitMemberAt waits until a member's own copy of the keyspace is at rev
// or later.
func waitMemberAt(t *testing.T, m *harness.Etcd, rev int64, timeout time.Duration) {
	t.Helper()
	cli := m.Client(t)
	harness.Eventually(t, timeout, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		resp, err := cli.Get(ctx, "/revision-probe", clientv3.WithSerializable())
		if err != nil {
			return fmt.Errorf("%s: %w", m.Name(), err)
		}
		if resp.Header.Revision < rev {
			return fmt.Errorf("%s at revision %d, want %d", m.Name(), resp.Header.Revision, rev)
		}
		return nil
	})
}

// waitSettled waits until the replicas are whole again after etcd came
// back at since: each registered under a live lease (checked once the
// sessions of before the outage have had time to expire) and exactly one
// leading.
func waitSettled(t *testing.T, top *topology, since time.Time) {
	t.Helper()
	harness.Eventually(t, 2*sessionTTL+20*time.Second, 100*time.Millisecond, func() error {
		if waited := time.Since(since); waited < 2*sessionTTL {
			return fmt.Errorf("leases of before the outage may live until %v after it", 2*sessionTTL)
		}
		ids, err := registered(top.cli)
		if err != nil {
			return err
		}
		var leaders []string
		for _, r := range top.replicas {
			if !slices.Contains(ids, r.ReplicaID()) {
				return fmt.Errorf("replica %s not registered (replicas/ holds %v)", r.ReplicaID(), ids)
			}
			if v, _ := r.Metric(t, "chancery_leader", nil); v == 1 {
				leaders = append(leaders, r.ReplicaID())
			}
		}
		if len(leaders) != 1 {
			return fmt.Errorf("leading: %v, want one replica", leaders)
		}
		return nil
	})
}

// registered lists the replica ids under replicas/.
func registered(cli *clientv3.Client) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix+"/replicas/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		return nil, fmt.Errorf("read replicas/: %w", err)
	}
	var ids []string
	for _, kv := range resp.Kvs {
		ids = append(ids, strings.TrimPrefix(string(kv.Key), prefix+"/replicas/"))
	}
	return ids, nil
}

// watchReloads sums the replicas' chancery_watch_reloads_total.
func watchReloads(t *testing.T, top *topology) float64 {
	t.Helper()
	var sum float64
	for _, r := range top.replicas {
		v, _ := r.Metric(t, "chancery_watch_reloads_total", nil)
		sum += v
	}
	return sum
}
