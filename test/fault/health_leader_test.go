package fault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// The health check of scenario 5: verdicts change within about
// checkInterval × threshold, and a stable endpoint would have to miss
// unhealthyThreshold checks of checkTimeout in a row to be judged down.
const (
	checkInterval      = 500 * time.Millisecond
	checkTimeout       = 500 * time.Millisecond
	healthyThreshold   = 2
	unhealthyThreshold = 3
	// flapPeriod is how long the flapping endpoint keeps each answer: well
	// over what a verdict takes (the first check up to an interval after
	// the flip, then threshold checks, each up to a tenth late), so that
	// every flip changes the verdict.
	flapPeriod = 3 * time.Second
	healthPath = "/healthz"
)

// Scenario 5: the health leader is SIGKILLed while one endpoint of web
// flaps (its health answer, not its traffic) and two stay healthy. etcd
// elects another leader within the session TTL (+1s), which goes on
// following the flaps; no verdict is written twice; nothing is written to
// health/ while the dead leader still holds its key, and a write under its
// fence is refused afterwards; the stable endpoints are never unhealthy
// in either Envoy; traffic never fails.
func TestHealthLeaderLostWhileFlapping(t *testing.T) {
	begin(t)
	top := newTopology(t, topologyOptions{})
	rec := startEtcdRecorder(t, top.cli)
	flap := harness.StartHealthUpstream(t, "flap", healthPath)
	top.checkWeb(flap)
	l := top.startLoad()
	harness.Eventually(t, 20*time.Second, 20*time.Millisecond, func() error {
		return rec.wantVerdicts(map[string]string{"web/up1": "healthy", "web/up2": "healthy", "web/flap": "healthy"})
	})
	mon := startEnvoyHealthMonitor(t, top, flap)
	flapped := rec.revision()
	flap.Flap(flapPeriod)

	// The old leader follows the flaps before it dies.
	before := pick(2, 6)
	harness.Eventually(t, time.Duration(before+2)*flapPeriod+10*time.Second, 20*time.Millisecond, func() error {
		return rec.wantPuts("health/web/flap", flapped, before)
	})
	oldKey, old := rec.leader()
	leader := top.replica(old.value)
	if err := onlyLeader(top, leader); err != nil {
		t.Fatal(err)
	}
	holder := top.waitHolder(10 * time.Second)
	o := healthFailover{failover: takeLeadership(t, top, rec, leader, oldKey)}

	after := pick(2, 6)
	harness.Eventually(t, time.Duration(after+2)*flapPeriod+10*time.Second, 20*time.Millisecond, func() error {
		return rec.wantPuts("health/web/flap", o.delRev, after)
	})
	fenced := writeUnderFence(t, top, oldKey, old.create)
	flap.StopFlap()
	f := l.check(t, 100)
	o.env = mon.halt()
	o.verdicts, o.newVerdicts = len(rec.puts("health/web/flap", flapped)), rec.puts("health/web/flap", o.delRev)
	o.firstWrite = o.newVerdicts[0].at.Sub(o.deleted)
	o.flips = len(flap.Flips())

	t.Logf("killed health leader %s (Envoys on %s): its election key gone %v after the kill (etcd-side), %s leads (chancery_leader) %v after; its first verdict %v after the key went; flap verdicts %d before, %d after; flips %d; its fenced write: %v; Envoy samples %d, flap unhealthy in %d; requests sent %d, failed %d",
		leader.ReplicaID(), holder.ReplicaID(), o.keyGone.Round(time.Millisecond), o.next.ReplicaID(), o.leads.Round(time.Millisecond), o.firstWrite.Round(time.Millisecond),
		o.verdicts-len(o.newVerdicts), len(o.newVerdicts), o.flips, fenced, o.env.samples, o.env.flapDown, f.sent, f.failed)
	report(t, result{Scenario: "5. Health leader loss while an endpoint flaps", Sent: f.sent, Failed: f.failed, Recovery: o.keyGone,
		Note: fmt.Sprintf("--session-ttl %v; recovery: the old election key gone from etcd after the kill; %s → %s, which said it led %v after the kill and wrote its first flap verdict %v after the key went; %d flips, %d verdicts, none twice, no write under the dead leader's fence; stable endpoints healthy in all %d Envoy samples",
			sessionTTL, leader.ReplicaID(), o.next.ReplicaID(), o.leads.Round(time.Millisecond), o.firstWrite.Round(time.Millisecond), o.flips, o.verdicts, o.env.samples)})
	o.check(t, rec)
	if !errors.Is(fenced, election.ErrDeposed) {
		t.Errorf("a write under the dead leader's fence: %v, want %v", fenced, election.ErrDeposed)
	}
}

// healthFailover is what scenario 5 measured.
type healthFailover struct {
	failover
	env         envoyHealth
	verdicts    int           // of the flapping endpoint, since it began to flap
	newVerdicts []etcdRecord  // of those, the new leader's
	firstWrite  time.Duration // the new leader's first, after the old key went
	flips       int
}

// check asserts the figures and what the recorder saw.
func (o healthFailover) check(t *testing.T, rec *etcdRecorder) {
	t.Helper()
	// etcd expires a lease on a 500ms sweep; the watch and the metric add
	// milliseconds on loopback: 1s over the TTL holds with both cores busy.
	if limit := sessionTTL + time.Second; o.keyGone > limit || o.leads > limit {
		t.Errorf("failover: election key gone %v and new leader leading %v after the kill, want both within %v", o.keyGone, o.leads, limit)
	}
	// The next flip comes within a period; a verdict within an interval
	// plus threshold checks of it, each a tenth late, plus 2s of slack.
	if limit := flapPeriod + checkInterval*(1+unhealthyThreshold)*11/10 + 2*time.Second; o.firstWrite > limit {
		t.Errorf("the new leader's first verdict came %v after it was elected, want within %v", o.firstWrite, limit)
	}
	// Each flip is judged well within its period, so each brings one
	// verdict, but for two the failover may leave unjudged (flipped and
	// flipped back while no one checked: the TTL is under two periods), the
	// last, which StopFlap may cut short, and one more for a busy machine.
	if o.verdicts < o.flips-4 {
		t.Errorf("%d flips of the endpoint brought %d verdicts, want at least %d", o.flips, o.verdicts, o.flips-4)
	}
	if dups := rec.duplicates(); len(dups) != 0 {
		t.Errorf("verdicts written twice: %v", dups)
	}
	if orphans := rec.putsBetween("health/", o.killRev, o.delRev); len(orphans) != 0 {
		t.Errorf("health/ written after the kill while the dead leader still held its key: %v", orphans)
	}
	if down := rec.unhealthyOf(map[string]bool{"web/up1": true, "web/up2": true}); len(down) != 0 {
		t.Errorf("stable endpoints judged unhealthy in etcd: %v", down)
	}
	if o.env.samples < 10 || len(o.env.stableBad) != 0 {
		t.Errorf("stable endpoints not healthy in Envoy: %v in %d samples (first: %v)", o.env.stableBad, o.env.samples, o.env.first)
	}
	if o.env.flapDown == 0 || o.env.flapUp == 0 {
		t.Errorf("Envoy never saw the flapping endpoint change: unhealthy in %d samples, healthy in %d", o.env.flapDown, o.env.flapUp)
	}
	if err := rec.failed(); err != nil {
		t.Error(err)
	}
}

// checkWeb health-checks service web over HTTP and adds flap to its
// endpoints.
func (top *topology) checkWeb(flap *harness.HealthUpstream) {
	top.put("services/web", map[string]any{"protocol": "http", "health_check": map[string]any{
		"type": "http", "path": healthPath, "interval": checkInterval.String(), "timeout": checkTimeout.String(),
		"healthy_threshold": healthyThreshold, "unhealthy_threshold": unhealthyThreshold,
	}})
	host, port := flap.Addr()
	top.put("endpoints/web/"+flap.Name(), map[string]any{"address": host, "port": port})
}

// failover is what the kill of the health leader looked like.
//
// Measurement: killed is taken just before SIGKILL is sent, and every
// other instant is when the test saw something happen, so each interval
// is an over-estimate. deleted is when the test's etcd watch delivered the
// deletion of the dead leader's election key: its lease expired, TTL after
// its last keep-alive (at most TTL after the kill) plus etcd's 500ms expiry
// sweep. At that revision etcd's election has a new leader: the candidate
// whose key has the lowest create revision. That candidate only acts once
// its own Campaign returns; leads is when it first says so
// (chancery_leader, polled every 20ms), a replica-side check that the
// candidate etcd elected is the one that took over.
type failover struct {
	killRev, delRev int64
	deleted         time.Time
	keyGone, leads  time.Duration // after the kill
	next            *harness.Chancery
}

// takeLeadership SIGKILLs the leader and waits for etcd and the replicas
// to have another.
func takeLeadership(t *testing.T, top *topology, rec *etcdRecorder, leader *harness.Chancery, oldKey string) failover {
	t.Helper()
	var ft failover
	killed := time.Now()
	leader.Kill()
	ft.killRev = rec.revision()
	var del etcdRecord
	harness.Eventually(t, sessionTTL+10*time.Second, 10*time.Millisecond, func() error {
		var ok bool
		if del, ok = rec.deletion(oldKey); !ok {
			return fmt.Errorf("election key of %s still there", leader.ReplicaID())
		}
		return nil
	})
	ft.delRev, ft.deleted, ft.keyGone = del.rev, del.at, del.at.Sub(killed)
	_, next := rec.leaderAt(del.rev)
	ft.next = top.replica(next.value)
	harness.Eventually(t, 10*time.Second, 20*time.Millisecond, func() error {
		return onlyLeader(top, ft.next)
	})
	ft.leads = time.Since(killed)
	return ft
}

// onlyLeader checks that want, and no other running replica, says it leads.
func onlyLeader(top *topology, want *harness.Chancery) error {
	for _, r := range top.replicas {
		if !r.Running() {
			continue
		}
		leads, err := leading(r)
		if err != nil {
			return err
		}
		if leads != (r == want) {
			return fmt.Errorf("replica %s leading: %v, want only %s", r.ReplicaID(), leads, want.ReplicaID())
		}
	}
	return nil
}

// leading reads a replica's chancery_leader gauge.
func leading(r *harness.Chancery) (bool, error) {
	status, body, err := harness.HTTPGet(r.AdminURL()+"/metrics", "")
	if err != nil || status != 200 {
		return false, fmt.Errorf("%s /metrics: %d %v", r.ReplicaID(), status, err)
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, "chancery_leader "); ok {
			return strings.TrimSpace(v) == "1", nil
		}
	}
	return false, fmt.Errorf("%s /metrics: no chancery_leader", r.ReplicaID())
}

// writeUnderFence tries what a late write of the dead leader would do: mark
// a stable endpoint unhealthy under the fence it was elected with.
func writeUnderFence(t *testing.T, top *topology, key string, rev int64) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fence := election.NewFence(top.cli, prefix+"/"+key, rev)
	_, err := fence.Commit(ctx, []clientv3.Op{clientv3.OpPut(prefix+"/health/web/up1",
		`{"status":"unhealthy","since":"2026-01-01T00:00:00Z","reason":"late write of a dead leader"}`)})
	return err
}

// maxRecords bounds the recorder.
const maxRecords = 100_000

// etcdRecord is one key of leader/ or health/ as the recorder saw it.
type etcdRecord struct {
	at     time.Time // when the watch delivered it: at or after etcd applied it
	rev    int64     // the revision of the change (of the first read, for a key read)
	key    string    // below prefix/, e.g. "health/web/up1"
	put    bool      // false: deleted
	value  string
	create int64 // the key's create revision
}

// etcdRecorder keeps every change of leader/ and health/ from the moment
// it starts: first what is there, then, from the next revision, what the
// watch delivers, in revision order.
type etcdRecorder struct {
	cli    *clientv3.Client
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	records []etcdRecord
	err     error
}

func startEtcdRecorder(t *testing.T, cli *clientv3.Client) *etcdRecorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := &etcdRecorder{cli: cli, cancel: cancel, done: make(chan struct{})}
	rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := cli.Txn(rctx).Then(clientv3.OpGet(prefix+"/leader/", clientv3.WithPrefix()),
		clientv3.OpGet(prefix+"/health/", clientv3.WithPrefix())).Commit()
	rcancel()
	if err != nil {
		cancel()
		t.Fatalf("read leader/ and health/: %v", err)
	}
	now := time.Now()
	for _, r := range resp.Responses {
		for _, kv := range r.GetResponseRange().Kvs {
			rec.records = append(rec.records, etcdRecord{at: now, rev: resp.Header.Revision, key: strings.TrimPrefix(string(kv.Key), prefix+"/"),
				put: true, value: string(kv.Value), create: kv.CreateRevision})
		}
	}
	go rec.run(clientv3.WithRequireLeader(ctx), resp.Header.Revision+1)
	t.Cleanup(func() {
		cancel()
		<-rec.done
	})
	return rec
}

func (rec *etcdRecorder) run(ctx context.Context, rev int64) {
	defer close(rec.done)
	for wr := range rec.cli.Watch(ctx, prefix+"/", clientv3.WithPrefix(), clientv3.WithRev(rev)) {
		if err := wr.Err(); err != nil {
			rec.fail(fmt.Errorf("watch from revision %d: %w", rev, err))
			return
		}
		now := time.Now()
		for _, ev := range wr.Events {
			key := strings.TrimPrefix(string(ev.Kv.Key), prefix+"/")
			if !strings.HasPrefix(key, "leader/") && !strings.HasPrefix(key, "health/") {
				continue
			}
			if !rec.add(etcdRecord{at: now, rev: ev.Kv.ModRevision, key: key, put: ev.Type == clientv3.EventTypePut,
				value: string(ev.Kv.Value), create: ev.Kv.CreateRevision}) {
				return
			}
		}
	}
}

func (rec *etcdRecorder) add(r etcdRecord) bool {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.records) >= maxRecords {
		rec.err = fmt.Errorf("recorder full at %d records", maxRecords)
		return false
	}
	rec.records = append(rec.records, r)
	return true
}

func (rec *etcdRecorder) fail(err error) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.err = err
}

// failed returns why the recorder stopped early; nil if it did not.
func (rec *etcdRecorder) failed() error {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return rec.err
}

// revision returns etcd's revision now: every change the recorder shows
// with a higher one happened after the call.
func (rec *etcdRecorder) revision() int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := rec.cli.Get(ctx, prefix+"/leader/", clientv3.WithCountOnly())
	if err != nil {
		rec.fail(fmt.Errorf("read revision: %w", err))
		return 0
	}
	return resp.Header.Revision
}

func (rec *etcdRecorder) snapshot() []etcdRecord {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]etcdRecord(nil), rec.records...)
}

// leaderAt returns the election's leader once the changes up to rev are
// applied: the candidate key with the lowest create revision.
func (rec *etcdRecorder) leaderAt(rev int64) (string, etcdRecord) {
	live := map[string]etcdRecord{}
	for _, r := range rec.snapshot() {
		if r.rev > rev || !strings.HasPrefix(r.key, "leader/") {
			continue
		}
		if r.put {
			live[r.key] = r
		} else {
			delete(live, r.key)
		}
	}
	var key string
	var best etcdRecord
	for k, r := range live {
		if key == "" || r.create < best.create {
			key, best = k, r
		}
	}
	return key, best
}

// leader is the election's leader as far as the recorder has seen.
func (rec *etcdRecorder) leader() (string, etcdRecord) {
	return rec.leaderAt(1<<62 - 1)
}

// deletion returns the deletion of key, if the recorder has seen it.
func (rec *etcdRecorder) deletion(key string) (etcdRecord, bool) {
	for _, r := range rec.snapshot() {
		if r.key == key && !r.put {
			return r, true
		}
	}
	return etcdRecord{}, false
}

// puts returns the puts of key after revision rev.
func (rec *etcdRecorder) puts(key string, rev int64) []etcdRecord {
	var out []etcdRecord
	for _, r := range rec.snapshot() {
		if r.key == key && r.put && r.rev > rev {
			out = append(out, r)
		}
	}
	return out
}

func (rec *etcdRecorder) wantPuts(key string, rev int64, n int) error {
	if got := len(rec.puts(key, rev)); got < n {
		return fmt.Errorf("%s written %d times since revision %d, want %d", key, got, rev, n)
	}
	return nil
}

// putsBetween returns the puts below sub with a revision in (from, to).
func (rec *etcdRecorder) putsBetween(sub string, from, to int64) []string {
	var out []string
	for _, r := range rec.snapshot() {
		if r.put && strings.HasPrefix(r.key, sub) && r.rev > from && r.rev < to {
			out = append(out, fmt.Sprintf("%s@%d", r.key, r.rev))
		}
	}
	return out
}

// verdictStatus is the status of a verdict's value; "unreadable" if it is not one.
func verdictStatus(value string) string {
	var h struct{ Status string }
	if err := json.Unmarshal([]byte(value), &h); err != nil || h.Status == "" {
		return "unreadable"
	}
	return h.Status
}

// verdicts returns health/ as the recorder has seen it: name -> status.
func (rec *etcdRecorder) verdicts() map[string]string {
	out := map[string]string{}
	for _, r := range rec.snapshot() {
		name, ok := strings.CutPrefix(r.key, "health/")
		switch {
		case !ok:
		case r.put:
			out[name] = verdictStatus(r.value)
		default:
			delete(out, name)
		}
	}
	return out
}

func (rec *etcdRecorder) wantVerdicts(want map[string]string) error {
	if got := rec.verdicts(); fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("verdicts %v, want %v", got, want)
	}
	return nil
}

// duplicates returns every verdict written with the status its key held
// already: a transition written twice, or a standing verdict rewritten.
func (rec *etcdRecorder) duplicates() []string {
	last := map[string]string{}
	var out []string
	for _, r := range rec.snapshot() {
		if !strings.HasPrefix(r.key, "health/") {
			continue
		}
		if !r.put {
			delete(last, r.key)
			continue
		}
		st := verdictStatus(r.value)
		if last[r.key] == st {
			out = append(out, fmt.Sprintf("%s %s@%d", r.key, st, r.rev))
		}
		last[r.key] = st
	}
	return out
}

// unhealthyOf returns the unhealthy verdicts written for the names given.
func (rec *etcdRecorder) unhealthyOf(names map[string]bool) []string {
	var out []string
	for _, r := range rec.snapshot() {
		if name, ok := strings.CutPrefix(r.key, "health/"); ok && names[name] && r.put && verdictStatus(r.value) != "healthy" {
			out = append(out, fmt.Sprintf("%s@%d", r.key, r.rev))
		}
	}
	return out
}

// envoyHealth is what the Envoy health monitor saw.
type envoyHealth struct {
	samples          int            // one per Envoy per tick that answered
	stableBad        map[string]int // stable endpoint -> samples not healthy (or missing)
	first            []string       // the first of those
	flapDown, flapUp int            // samples with the flapping endpoint unhealthy, healthy
}

// envoyHealthMonitor samples every Envoy's /clusters every 100ms and
// records the health_flags of web's hosts: the stable upstreams must
// always say healthy.
type envoyHealthMonitor struct {
	top    *topology
	stable map[string]string // host:port -> name
	flap   string            // host:port
	stop   chan struct{}
	done   chan struct{}

	mu  sync.Mutex
	got envoyHealth
}

func startEnvoyHealthMonitor(t *testing.T, top *topology, flap *harness.HealthUpstream) *envoyHealthMonitor {
	m := &envoyHealthMonitor{top: top, stable: map[string]string{}, stop: make(chan struct{}), done: make(chan struct{}),
		got: envoyHealth{stableBad: map[string]int{}}}
	for _, u := range top.up {
		m.stable[hostPort(u.Addr())] = u.Name()
	}
	m.flap = hostPort(flap.Addr())
	go m.run()
	t.Cleanup(func() { m.halt() })
	return m
}

func hostPort(host string, port int) string { return host + ":" + strconv.Itoa(port) }

func (m *envoyHealthMonitor) run() {
	defer close(m.done)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for range maxSamples {
		for _, e := range m.top.envoys {
			if status, body, err := harness.HTTPGet(e.AdminURL()+"/clusters", ""); err == nil && status == 200 {
				m.record(e.NodeID(), webHostFlags(body))
			}
		}
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
	}
}

// webHostFlags returns the health_flags of cluster web's hosts by host:port.
func webHostFlags(clusters string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(clusters, "\n") {
		rest, ok := strings.CutPrefix(line, "web::")
		if !ok {
			continue
		}
		if addr, flags, ok := strings.Cut(rest, "::health_flags::"); ok {
			out[addr] = strings.TrimSpace(flags)
		}
	}
	return out
}

func (m *envoyHealthMonitor) record(node string, flags map[string]string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got.samples++
	for addr, name := range m.stable {
		if f, ok := flags[addr]; !ok || f != "healthy" {
			m.got.stableBad[name]++
			if len(m.got.first) < 5 {
				m.got.first = append(m.got.first, fmt.Sprintf("%s %s %s: %q", time.Now().Format("15:04:05.000"), node, name, f))
			}
		}
	}
	switch f, ok := flags[m.flap]; {
	case ok && strings.Contains(f, "failed_eds_health"):
		m.got.flapDown++
	case ok && f == "healthy":
		m.got.flapUp++
	}
}

// halt stops the monitor and returns what it saw; it may be called more
// than once.
func (m *envoyHealthMonitor) halt() envoyHealth {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.got
}
