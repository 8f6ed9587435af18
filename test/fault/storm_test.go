package fault

import (
	"bufio"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/test/bench/benchapi"
	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// connectionGrace is how long gRPC lets a connection's streams run on
// after --max-connection-age before it cuts them (the replicas' default
// --max-connection-age-grace): an xDS stream never ends by itself, so a
// connection is cut, and its Envoy moves, age (±10%) + grace after it opened.
const connectionGrace = 10 * time.Second

// stormSpec is the keyspace the simulated fleet is served: the benchmarks'
// (100 services × 5 endpoints, one route table, one listener for 10
// groups), so the fleet recognises a marked endpoint change.
var stormSpec = workload.Spec{Services: 100, EndpointsPer: 5, Groups: workload.Groups(10)}

// Scenario 6: a reconnect storm through HAProxy. Simulated Envoys
// (bin/bench-fleet, pick(1000, 5000)) spread roundrobin over three replicas
// that admit a limited rate of new streams and age their connections out;
// one replica is SIGKILLed. Every client holds a change written after the
// kill within 10 s; the survivors refuse the streams beyond their rate; no
// replica's peak RSS passes its budget; started again, the killed replica
// holds a fair share of the streams once every connection open at its
// restart has aged out, and a change written then reaches every client.
// On the way it measures what docs/capacity.md
// quotes: memory per stream, CPU per change, the writes to the keyspace,
// etcd's watchers and their fan-out.
func TestReconnectStorm(t *testing.T) {
	begin(t)
	n := pick(1000, 5000)
	args := stormArgs{rate: pick(150, 400), burst: pick(50, 100), age: pick(5*time.Second, 30*time.Second)}
	s := newStorm(t, args)
	t.Logf("replicas: --xds-stream-rate %d --xds-stream-burst %d --max-connection-age %v; %d clients", args.rate, args.burst, args.age, n)

	// Below what the replicas admit together: the initial sync is no storm.
	f := s.syncFleet(n, float64(pick(300, 900)))
	idle := s.measureIdle(pick(3*time.Second, 10*time.Second))
	// Changes apart, each pushed and settled before the next; then back
	// to back, each written as soon as every client holds the one before:
	// a fleet under constant churn.
	s.measureChanges(f, pick(5, 10), 500*time.Millisecond, idle)
	s.measureChanges(f, pick(5, 20), 0, idle)
	st := s.killOne(f)
	if st.resync > 10*time.Second {
		t.Errorf("the last client held the change written after the kill %v after it, want within 10s", st.resync.Round(time.Millisecond))
	}
	if st.refused <= 0 || st.refusalSeen == 0 || st.admitted <= 0 {
		t.Errorf("no admission limiting seen: %d stream attempts ended beyond the %d the kill ended, %d fleet samples naming a refusal, the survivors counted %d refusals",
			st.refused, st.moved, st.refusalSeen, st.admitted)
	}

	victim := s.replicas[0]
	victim.Start()
	restarted := time.Now()
	// Every connection open at the restart is cut within 1.1 × age +
	// grace; the rest of the bound is for the reconnects.
	fair := s.waitFair(2*args.age+connectionGrace, n, 0.2)
	fairIn := time.Since(restarted)
	connected, err := f.Status()
	if err != nil {
		t.Fatal(err)
	}
	served := 0
	for _, v := range fair {
		served += v
	}
	t.Logf("restart: every replica holds ≥20%% of the streams %v after %s restarted: %v; %d of %d clients hold a stream, %d of them one no replica serves; etcd meanwhile %s",
		fairIn.Round(time.Millisecond), victim.ReplicaID(), fair, connected.Connected, n, max(connected.Connected-served, 0), s.window())
	// Every client holds a change written now within the grace and a
	// margin: a stream no replica serves must not outlive its connection.
	final := s.change(f)
	finalLats := f.WaitDelivered(t, final.Seq, connectionGrace+10*time.Second)
	t.Logf("a change written then reached all %d clients in %v", n, time.Duration(slices.Max(finalLats)).Round(time.Millisecond))

	budget := rssBudget(n)
	peaks := map[string]int64{victim.ReplicaID(): st.victimPeak, victim.ReplicaID() + " restarted": s.figures(victim).PeakRSS}
	for _, r := range s.replicas[1:] {
		peaks[r.ReplicaID()] = s.figures(r).PeakRSS
	}
	t.Logf("peak RSS (VmHWM), MiB: %v; budget %.0f", mibs(peaks), mib(budget))
	for id, p := range peaks {
		if p > budget {
			t.Errorf("replica %s: peak RSS (VmHWM) %.0f MiB, over the budget of %.0f MiB for %d clients", id, mib(p), mib(budget), n)
		}
	}
	report(t, result{Scenario: "6. Reconnect storm through HAProxy", Recovery: st.resync,
		Note: fmt.Sprintf("%d simulated Envoys, --xds-stream-rate %d/burst %d: %d on the killed replica resynced, %d attempts refused (the survivors counted %d); peak RSS ≤ %.0f MiB (budget %.0f); fair share again %v after the restart (--max-connection-age %v + %v grace)",
			n, args.rate, args.burst, st.moved, st.refused, st.admitted, mib(slices.Max(slices.Collect(maps.Values(peaks)))), mib(budget), fairIn.Round(time.Second), args.age, connectionGrace)})
}

// rssBudget is the peak RSS (VmHWM) a replica may reach with n clients
// spread over three, one of which is killed: twice what was measured
// (79–89 MiB at 1,000 clients, 256–281 MiB at 5,000; docs/capacity.md).
func rssBudget(n int) int64 {
	return 80<<20 + int64(n)*96<<10
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func mibs(m map[string]int64) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[k] = strconv.FormatFloat(mib(v), 'f', 1, 64)
	}
	return out
}

// syncFleet starts n clients through HAProxy, waits until every one is
// synced, the streams are spread over the replicas and their records are
// in etcd, and logs what that cost.
func (s *storm) syncFleet(n int, connectRate float64) *harness.Fleet {
	s.t.Helper()
	base := map[string]harness.ProcFigures{}
	for _, r := range s.replicas {
		base[r.ReplicaID()] = s.figures(r)
	}
	s.window()
	started := time.Now()
	f := harness.StartFleet(s.t, harness.FleetOptions{Clients: n, XDSAddresses: []string{s.lb.Addr()}, ConnectRate: connectRate})
	f.WaitSynced(s.t, time.Duration(float64(n)/connectRate*float64(time.Second))+30*time.Second)
	streams := s.waitShare(f, 20*time.Second, 0.2)
	took := time.Since(started)
	s.waitRecords(20*time.Second, streams)
	load := s.window()
	baseRSS, perStream := map[string]string{}, map[string]string{}
	for _, r := range s.replicas {
		id := r.ReplicaID()
		baseRSS[id] = strconv.FormatFloat(mib(base[id].RSS), 'f', 1, 64)
		grown := s.figures(r).RSS - base[id].RSS
		perStream[id] = strconv.FormatFloat(float64(grown)/1024/float64(streams[id]), 'f', 1, 64)
	}
	proxies, proxySize := s.recordSize("proxies")
	registrations, registrationSize := s.recordSize("replicas")
	s.t.Logf("sync: %d clients at %.0f/s synced in %v, streams %v; RSS before the fleet %v MiB, RSS per stream after %v KiB; etcd %s (one watcher is this test's); proxies/ %d records of %.0f bytes, replicas/ %d of %.0f",
		n, connectRate, took.Round(time.Millisecond), streams, baseRSS, perStream, load, proxies, proxySize, registrations, registrationSize)
	return f
}

// idleFigures are the system at rest.
type idleFigures struct {
	span time.Duration
	cpu  map[string]time.Duration // each replica's
}

// measureIdle watches the system at rest for span.
func (s *storm) measureIdle(span time.Duration) idleFigures {
	s.window()
	before := s.cpu()
	time.Sleep(span) // the measurement window itself
	after := s.cpu()
	f := idleFigures{span: span, cpu: map[string]time.Duration{}}
	for id, c := range after {
		f.cpu[id] = c - before[id]
	}
	s.t.Logf("idle: replica CPU %v; etcd %s", f.cpu, s.window())
	return f
}

// measureChanges writes count changes, one after the other, each waited
// for until every client holds it and followed by pause, and logs how
// long the last client took and what the replicas and etcd spent, the
// replicas' idle CPU over the same time deducted.
func (s *storm) measureChanges(f *harness.Fleet, count int, pause time.Duration, idle idleFigures) {
	s.t.Helper()
	s.window()
	cpu0 := s.cpu()
	start := time.Now()
	var lasts []time.Duration
	for range count {
		w := s.change(f)
		lats := f.WaitDelivered(s.t, w.Seq, 30*time.Second)
		lasts = append(lasts, time.Duration(slices.Max(lats)))
		time.Sleep(pause) // part of the measured load: changes this far apart
	}
	span := time.Since(start)
	cpu1 := s.cpu()
	var used, idleCPU time.Duration
	for id := range cpu1 {
		used += cpu1[id] - cpu0[id]
		idleCPU += time.Duration(float64(idle.cpu[id]) * span.Seconds() / idle.span.Seconds())
	}
	slices.Sort(lasts)
	s.t.Logf("%d changes %v apart, each to %d streams: write to its last client p50 %v, max %v; replica CPU per change %v, all replicas (idle CPU deducted: %v); etcd %s",
		count, pause, f.Clients(), lasts[len(lasts)/2].Round(time.Microsecond), lasts[len(lasts)-1].Round(time.Microsecond),
		((used - idleCPU) / time.Duration(count)).Round(time.Microsecond), (idleCPU / time.Duration(count)).Round(time.Microsecond), s.window())
}

// stormFigures are the kill of one replica and what followed.
type stormFigures struct {
	victimPeak int64 // its VmHWM just before the kill
	moved      int   // streams it held
	resync     time.Duration
	p50        time.Duration // of the change written after the kill
	refused    int64         // stream attempts that ended beyond those the kill ended
	// admitted is what the survivors' chancery_xds_streams_refused_total
	// counted over the storm.
	admitted int64
	// refusalSeen counts the fleet samples whose last error was a refusal
	// by the admission limit, of samples taken while the clients moved.
	refusalSeen, samples int
}

// killOne SIGKILLs r1, writes a change at once and waits until every
// client holds it, the survivors hold every stream and the killed
// replica's records have left etcd with its lease.
func (s *storm) killOne(f *harness.Fleet) stormFigures {
	s.t.Helper()
	victim := s.replicas[0]
	st := stormFigures{victimPeak: s.figures(victim).PeakRSS, moved: s.streams()[victim.ReplicaID()]}
	before, err := f.Status()
	if err != nil {
		s.t.Fatal(err)
	}
	s.window()
	cpu0 := s.cpu()
	refused0 := s.refusedByAdmission()
	watch := watchRefusals(s.t, f)
	killed := time.Now()
	victim.Kill()
	w := s.change(f)
	lats := f.WaitDelivered(s.t, w.Seq, 30*time.Second)
	slices.Sort(lats)
	st.resync = time.Unix(0, w.PutNs+lats[len(lats)-1]).Sub(killed)
	st.p50 = time.Unix(0, w.PutNs+lats[len(lats)/2]).Sub(killed)
	streams := s.waitShare(f, 20*time.Second, 0.2)
	st.refusalSeen, st.samples = watch()
	after, err := f.Status()
	if err != nil {
		s.t.Fatal(err)
	}
	st.refused = after.StreamErrors - before.StreamErrors - int64(st.moved)
	st.admitted = s.refusedByAdmission() - refused0
	cpu1 := s.cpu()
	cpu := map[string]time.Duration{}
	for id := range cpu1 {
		cpu[id] = cpu1[id] - cpu0[id]
	}
	// The killed replica's proxy records go with its lease, the survivors
	// write those of the clients they took.
	s.waitRecords(sessionTTL+20*time.Second, streams)
	s.t.Logf("storm: killed %s holding %d streams; every client held the change written after the kill %v after it (p50 %v); %d stream attempts refused or failed beyond the kill's, %d of %d fleet samples naming the admission limit; survivors' CPU %v; streams %v; etcd until the records settled %s",
		victim.ReplicaID(), st.moved, st.resync.Round(time.Millisecond), st.p50.Round(time.Millisecond), st.refused, st.refusalSeen, st.samples, cpu, streams, s.window())
	return st
}

// refusedByAdmission sums chancery_xds_streams_refused_total over the
// running replicas.
func (s *storm) refusedByAdmission() int64 {
	var n float64
	for _, r := range s.replicas {
		if r.Running() {
			v, _ := r.Metric(s.t, "chancery_xds_streams_refused_total", nil)
			n += v
		}
	}
	return int64(n)
}

// watchRefusals samples the fleet's last error every 10 ms until the
// returned function is called, which returns how many samples named the
// admission limit, of how many.
func watchRefusals(t *testing.T, f *harness.Fleet) func() (refusals, samples int) {
	stop, done := make(chan struct{}), make(chan struct{})
	halt := sync.OnceFunc(func() {
		close(stop)
		<-done
	})
	t.Cleanup(halt)
	var refusals, samples int
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for range maxSamples {
			if st, err := f.Status(); err == nil {
				samples++
				if strings.Contains(st.LastError, "admitting at most") {
					refusals++
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (int, int) {
		halt()
		return refusals, samples
	}
}

// storm is the scenario's system: a 3-member etcd, three replicas behind
// HAProxy balancing roundrobin, no Envoy but the simulated fleet.
type storm struct {
	t        *testing.T
	etcd     *harness.EtcdCluster
	cli      *clientv3.Client
	replicas []*harness.Chancery
	lb       *harness.HAProxy
	seq      uint64 // the last marker written
	load     *keyspaceLoad
	etcdLast etcdSample // at the last window
}

// stormArgs are the replicas' flags under test: admission at rate new
// streams a second with bursts of burst, and a short connection age.
type stormArgs struct {
	rate, burst int
	age         time.Duration
}

func newStorm(t *testing.T, a stormArgs) *storm {
	t.Helper()
	s := &storm{t: t}
	s.etcd = harness.StartEtcdCluster(t, 3)
	s.cli = s.etcd.Client(t)
	s.seed(workload.Objects(stormSpec))
	var backends []harness.HAProxyBackend
	for i := range 3 {
		r := harness.StartChancery(t, harness.ChanceryOptions{
			ReplicaID: fmt.Sprintf("r%d", i+1), EtcdEndpoints: s.etcd.Endpoints(),
			ExtraArgs: []string{"--session-ttl", sessionTTL.String(), "--log-level", "warn",
				"--xds-stream-rate", strconv.Itoa(a.rate), "--xds-stream-burst", strconv.Itoa(a.burst),
				"--max-connection-age", a.age.String()},
		})
		s.replicas = append(s.replicas, r)
		backends = append(backends, harness.HAProxyBackend{Name: r.ReplicaID(), Addr: r.XDSAddress(), CheckPort: adminPort(t, r)})
	}
	s.lb = harness.StartHAProxy(t, harness.HAProxyOptions{Backends: backends, Balance: "roundrobin"})
	s.lb.WaitStatus(t, 20*time.Second, map[string]string{"r1": "UP", "r2": "UP", "r3": "UP"})
	s.load = watchKeyspace(t, s.cli)
	s.window()
	return s
}

// seed writes objects in transactions within etcd's default 128 operations.
func (s *storm) seed(objs []workload.Object) {
	ks := storage.NewKeyspace(prefix)
	for batch := range slices.Chunk(objs, 100) {
		var ops []clientv3.Op
		for _, o := range batch {
			ops = append(ops, clientv3.OpPut(ks.Key(o.Ref), string(o.Value)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := s.cli.Txn(ctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			s.t.Fatalf("seed the workload: %v", err)
		}
	}
}

// change writes the next marked endpoint change and tells the fleet of it.
func (s *storm) change(f *harness.Fleet) benchapi.Write {
	s.t.Helper()
	s.seq++
	svc := int(s.seq) % stormSpec.Services
	o := workload.Endpoint(svc, 0, s.seq)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.cli.Put(ctx, storage.NewKeyspace(prefix).Key(o.Ref), string(o.Value)); err != nil {
		s.t.Fatalf("write marker %d: %v", s.seq, err)
	}
	w := benchapi.Write{Seq: s.seq, Key: workload.ServiceName(svc) + "/" + workload.EndpointID(0), PutNs: time.Now().UnixNano(), Raw: true}
	if err := f.Post(w); err != nil {
		s.t.Fatal(err)
	}
	return w
}

// streams returns each running replica's open xDS streams, by replica id.
func (s *storm) streams() map[string]int {
	out := map[string]int{}
	for _, r := range s.replicas {
		if r.Running() {
			v, _ := r.Metric(s.t, "chancery_xds_streams", nil)
			out[r.ReplicaID()] = int(v)
		}
	}
	return out
}

// waitShare waits until the running replicas hold a stream of each of
// the fleet's clients, each replica at least share of them, and returns
// the counts.
func (s *storm) waitShare(f *harness.Fleet, timeout time.Duration, share float64) map[string]int {
	s.t.Helper()
	n := f.Clients()
	var got map[string]int
	harness.Eventually(s.t, timeout, 250*time.Millisecond, func() error {
		got = s.streams()
		sum := 0
		for _, v := range got {
			sum += v
		}
		for id, v := range got {
			if float64(v) < share*float64(n) {
				return fmt.Errorf("streams %v: %s holds fewer than %.0f%% of %d", got, id, share*100, n)
			}
		}
		if sum != n {
			st, err := f.Status()
			return fmt.Errorf("streams %v: %d in all, want %d; fleet %+v %v", got, sum, n, st, err)
		}
		return nil
	})
	return got
}

// waitFair waits until every running replica holds at least share of n
// streams, and returns the counts. It does not ask for all n: while
// connections age out, a few clients hold a stream their replica does not
// serve until their connection is cut (see docs/capacity.md).
func (s *storm) waitFair(timeout time.Duration, n int, share float64) map[string]int {
	s.t.Helper()
	var got map[string]int
	harness.Eventually(s.t, timeout, 250*time.Millisecond, func() error {
		got = s.streams()
		for id, v := range got {
			if float64(v) < share*float64(n) {
				return fmt.Errorf("streams %v: %s holds fewer than %.0f%% of %d", got, id, share*100, n)
			}
		}
		return nil
	})
	return got
}

// figures reads a running replica's CPU time and memory.
func (s *storm) figures(r *harness.Chancery) harness.ProcFigures {
	s.t.Helper()
	pf, err := harness.ReadProcFigures(r.PID())
	if err != nil {
		s.t.Fatalf("replica %s: %v", r.ReplicaID(), err)
	}
	return pf
}

// cpu returns the running replicas' CPU time, by replica id.
func (s *storm) cpu() map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, r := range s.replicas {
		if r.Running() {
			out[r.ReplicaID()] = s.figures(r).CPU
		}
	}
	return out
}

// etcdSample is what the etcd members say of themselves, summed over them.
type etcdSample struct {
	watchers float64 // open now
	sent     float64 // events sent to watchers since they started
	cpu      float64 // CPU seconds since they started
}

func (s *storm) etcdSample() etcdSample {
	s.t.Helper()
	var es etcdSample
	for _, m := range s.etcd.Members {
		status, body, err := harness.HTTPGet(m.Endpoint()+"/metrics", "")
		if err != nil || status != 200 {
			s.t.Fatalf("etcd %s /metrics: %d %v", m.Name(), status, err)
		}
		es.watchers += sample(body, "etcd_debugging_mvcc_watcher_total")
		es.sent += sample(body, "etcd_debugging_mvcc_events_total")
		es.cpu += sample(body, "process_cpu_seconds_total")
	}
	return es
}

// window returns the writes to the keyspace and etcd's work since the
// last window.
func (s *storm) window() loadWindow {
	s.t.Helper()
	es := s.etcdSample()
	w := s.load.take()
	w.sent, w.etcdCPU, w.watchers = es.sent-s.etcdLast.sent, es.cpu-s.etcdLast.cpu, es.watchers
	s.etcdLast = es
	return w
}

// waitRecords waits until proxies/ holds, for each replica, a record of
// each of its streams, and none of a replica not in streams.
func (s *storm) waitRecords(timeout time.Duration, streams map[string]int) {
	s.t.Helper()
	harness.Eventually(s.t, timeout, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := s.cli.Get(ctx, prefix+"/proxies/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return err
		}
		got := map[string]int{}
		for _, kv := range resp.Kvs {
			replica, _, _ := strings.Cut(strings.TrimPrefix(string(kv.Key), prefix+"/proxies/"), "/")
			got[replica]++
		}
		if !maps.Equal(got, streams) {
			return fmt.Errorf("proxies/ holds records %v, want %v", got, streams)
		}
		return nil
	})
}

// recordSize returns how many keys are below the keyspace's segment seg
// and their mean size, key and value, in bytes.
func (s *storm) recordSize(seg string) (keys int, mean float64) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := s.cli.Get(ctx, prefix+"/"+seg+"/", clientv3.WithPrefix())
	if err != nil {
		s.t.Fatalf("read %s/: %v", seg, err)
	}
	total := 0
	for _, kv := range resp.Kvs {
		total += len(kv.Key) + len(kv.Value)
	}
	return len(resp.Kvs), float64(total) / float64(max(len(resp.Kvs), 1))
}

// sample is the value of an unlabelled sample in Prometheus text; 0 if absent.
func sample(text, name string) float64 {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return f
		}
	}
	return 0
}

// keyspaceLoad counts the writes made to the keyspace, from a watch of the
// whole prefix: events (keys put or deleted) by the key's first segment
// (proxies, replicas, health, status, services, ...) and transactions
// (distinct revisions).
type keyspaceLoad struct {
	mu     sync.Mutex
	events map[string]int
	txns   int
	last   int64 // the last revision counted
	since  time.Time
}

// loadWindow is what keyspaceLoad counted over a stretch of time, and
// what etcd did meanwhile.
type loadWindow struct {
	events   map[string]int
	txns     int
	span     time.Duration
	sent     float64 // events the members sent to watchers: the fan-out
	etcdCPU  float64 // CPU seconds the members used
	watchers float64 // open at the end
}

func watchKeyspace(t *testing.T, cli *clientv3.Client) *keyspaceLoad {
	k := &keyspaceLoad{events: map[string]int{}, since: time.Now()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute) // bounded even if the test hangs
	done := make(chan struct{})
	watch := cli.Watch(ctx, prefix+"/", clientv3.WithPrefix())
	go func() {
		defer close(done)
		for resp := range watch {
			k.count(resp.Events)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return k
}

func (k *keyspaceLoad) count(events []*clientv3.Event) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, ev := range events {
		seg, _, _ := strings.Cut(strings.TrimPrefix(string(ev.Kv.Key), prefix+"/"), "/")
		k.events[seg]++
		if ev.Kv.ModRevision != k.last {
			k.txns++
			k.last = ev.Kv.ModRevision
		}
	}
}

// take returns the counts since the last take and starts anew.
func (k *keyspaceLoad) take() loadWindow {
	k.mu.Lock()
	defer k.mu.Unlock()
	w := loadWindow{events: k.events, txns: k.txns, span: time.Since(k.since)}
	k.events, k.txns, k.since = map[string]int{}, 0, time.Now()
	return w
}

// String gives events a second by segment, and transactions a second.
func (w loadWindow) String() string {
	var parts []string
	total := 0
	for _, seg := range slices.Sorted(maps.Keys(w.events)) {
		total += w.events[seg]
		parts = append(parts, fmt.Sprintf("%s %d", seg, w.events[seg]))
	}
	sec := w.span.Seconds()
	return fmt.Sprintf("over %.1fs: %d keys written (%.0f/s; %s) in %d transactions (%.1f/s); %.0f events sent to watchers (%.0f/s); etcd CPU %.2fs (all members); %.0f watchers",
		sec, total, float64(total)/sec, strings.Join(parts, ", "), w.txns, float64(w.txns)/sec, w.sent, w.sent/sec, w.etcdCPU, w.watchers)
}
