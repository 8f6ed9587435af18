package objectstatus

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/translator"
	"github.com/chancery-xds/chancery/xdsserver"
)

// fuzzPrefix is the keyspace the fuzzed keys are written below.
const fuzzPrefix = "/chancery/v1"

// liveKeyspace is what a replica serves when a bad write arrives: a
// fuzzed key may land beside it or over one of its keys.
var liveKeyspace = [][2]string{
	{"services/web", `{"protocol":"http","connect_timeout":"1s"}`},
	{"services/db", `{"protocol":"tcp"}`},
	{"endpoints/web/a", `{"address":"127.0.0.1","port":8081}`},
	{"endpoints/db/a", `{"address":"127.0.0.1","port":5432}`},
	{"routes/web", `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[` +
		`{"match":{"prefix":"/ghost"},"service":"ghost"},{"match":{"prefix":"/"},"service":"web"}]}]}`},
	{"listeners/main", `{"address":"127.0.0.1","port":10000,"protocol":"http","route_table":"web","groups":["edge"]}`},
	{"listeners/db", `{"address":"127.0.0.1","port":10001,"protocol":"tcp","service":"db","groups":["edge","internal"]}`},
	{"health/web/a", `{"status":"healthy","since":"2025-01-01T00:00:00Z"}`},
	{"secrets/web-cert", `{"tls_certificate":{"certificate_chain":` + strconv.Quote(fuzzCert) + `,"private_key":` + strconv.Quote(fuzzKey) + `}}`},
	{"listeners/tls", `{"address":"127.0.0.1","port":10443,"protocol":"https","route_table":"web","groups":["edge"],` +
		`"tls":{"certificates":[{"secret":"web-cert"}]}}`},
}

// FuzzBadWrites feeds arbitrary keys and values, written beside or over a
// live keyspace, through what a replica does with them: the watcher's
// judging of keys (storage.SnapshotOf), translation, publishing with real
// metrics and a JSON log, and the leader's object status. Nothing may
// panic; every metric label, log line, rejection and status record must be
// valid and bounded; every snapshot must pass Envoy's validation; every
// rejected key must be reported; and once the bad keys are gone the
// replica serves exactly what it served before.
// The committed corpus (testdata/fuzz/FuzzBadWrites) holds the bad writes
// of issue 17; .ci/run fuzzes for a bounded time.
func FuzzBadWrites(f *testing.F) {
	f.Add("services/bad\xffx", []byte(`{"protocol":"http"}`), "", []byte(nil))
	f.Add("routes/web", []byte(`{"virtual_hosts":[{"name":"all",`), "services/web", []byte(`{"protocol":"grpc"}`))
	f.Add("secrets/web-cert", []byte(`{"tls_certificate":{"certificate_chain":"x","private_key":`+strconv.Quote(fuzzKey)+`}}`), "", []byte(nil))
	f.Fuzz(func(t *testing.T, key1 string, value1 []byte, key2 string, value2 []byte) {
		writes := [][2]string{{key1, string(value1)}}
		if key2 != "" {
			writes = append(writes, [2]string{key2, string(value2)})
		}
		checkBadWrites(t, writes)
	})
}

// replicaUnderTest is the part of a replica a snapshot goes through.
type replicaUnderTest struct {
	ks   storage.Keyspace
	reg  *prometheus.Registry
	logs *bytes.Buffer
	srv  *xdsserver.Server
	memo *translator.Memo
}

func newReplicaUnderTest() *replicaUnderTest {
	r := &replicaUnderTest{ks: storage.NewKeyspace(fuzzPrefix), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, memo: translator.NewMemo()}
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	log := zap.New(zapcore.NewCore(enc, zapcore.AddSync(r.logs), zap.DebugLevel))
	r.srv = xdsserver.New(context.Background(), xdsserver.Config{Logger: log, Registerer: r.reg})
	return r
}

// apply judges the keys as the watcher does, at one revision, and
// translates and publishes them as the rebuilder does.
func (r *replicaUnderTest) apply(t *testing.T, keys [][2]string) (*model.Snapshot, *translator.Resources, error) {
	t.Helper()
	kvs := make([]*mvccpb.KeyValue, 0, len(keys))
	latest := map[string]int{} // a key written twice holds its last value
	for _, kv := range keys {
		key := fuzzPrefix + "/" + kv[0]
		if i, ok := latest[key]; ok {
			kvs[i].Value, kvs[i].ModRevision = []byte(kv[1]), int64(len(kvs)+1)
			continue
		}
		latest[key] = len(kvs)
		rev := int64(len(kvs) + 1)
		kvs = append(kvs, &mvccpb.KeyValue{Key: []byte(key), Value: []byte(kv[1]), CreateRevision: rev, ModRevision: rev, Version: 1})
	}
	snap := storage.SnapshotOf(r.ks, int64(len(keys)+1), kvs)
	res, _ := r.memo.Translate(snap) // the rejections travel in res.Rejected
	return snap, res, r.srv.Publish(&res.Resources)
}

func checkBadWrites(t *testing.T, writes [][2]string) {
	r := newReplicaUnderTest()
	_, _, err := r.apply(t, liveKeyspace)
	if err != nil {
		t.Fatalf("the live keyspace does not publish: %v", err)
	}
	before := r.versions()

	snap, res, err := r.apply(t, append(append([][2]string{}, liveKeyspace...), writes...))
	if err != nil {
		// Envoy's own validation refused a snapshot: the group keeps
		// its last one, and no other change reaches it either.
		t.Errorf("publish after the bad writes: %v", err)
	}
	r.checkReported(t, res)
	r.checkLog(t)
	checkStatus(t, r.ks, &Input{Snapshot: snap, Rejected: res.Rejected})
	checkNoKey(t, "the log", r.logs.String())
	for key, st := range desiredStatus(r.ks, &Input{Snapshot: snap, Rejected: res.Rejected}) {
		b, _ := json.Marshal(st)
		checkNoKey(t, "status record "+key, string(b))
	}

	if _, _, err := r.apply(t, liveKeyspace); err != nil {
		t.Fatalf("the live keyspace does not publish after the bad writes: %v", err)
	}
	if after := r.versions(); !maps.EqualFunc(before, after, maps.Equal) {
		t.Errorf("the bad writes gone, versions %v, want those served before %v", after, before)
	}
}

func (r *replicaUnderTest) versions() map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, g := range r.srv.Groups() {
		v, _ := r.srv.Versions(g)
		out[g] = v.Versions
	}
	return out
}

// checkReported gathers the metrics (which fails on a label that is not
// valid UTF-8) and finds every rejection under its safe key.
func (r *replicaUnderTest) checkReported(t *testing.T, res *translator.Resources) {
	t.Helper()
	families, err := r.reg.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	labels := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				checkShown(t, "metric "+f.GetName()+" label "+l.GetName(), l.GetValue(), model.KeyTextMax)
				if f.GetName() == "chancery_object_rejected" && l.GetName() == "key" {
					labels[l.GetValue()] = true
				}
			}
		}
	}
	shown := r.srv.Rejections()
	for key, reason := range shown {
		checkShown(t, "rejection key", key, model.KeyTextMax)
		checkShown(t, "rejection reason", reason, model.ReasonTextMax)
	}
	for _, rj := range res.Rejected {
		key := model.SafeText(rj.Ref.String(), model.KeyTextMax)
		if _, ok := shown[key]; !ok || !labels[key] {
			t.Errorf("rejection of %q: listed %v, exported %v", rj.Ref.String(), ok, labels[key])
		}
	}
}

// checkLog decodes every log line: valid JSON, valid UTF-8, and no field
// longer than a reason may be.
func (r *replicaUnderTest) checkLog(t *testing.T) {
	t.Helper()
	if !utf8.Valid(r.logs.Bytes()) {
		t.Fatalf("the log is not valid UTF-8:\n%q", r.logs.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(r.logs.String()), "\n") {
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		for field, v := range entry {
			if s, ok := v.(string); ok && field != "error" {
				checkShown(t, "log field "+field, s, model.ReasonTextMax)
			}
		}
	}
}

// checkStatus computes the leader's status records: each reads back from
// JSON as it was (or the leader would rewrite it on every sync), with a
// reason safe to show and a key no longer than a valid name allows.
func checkStatus(t *testing.T, ks storage.Keyspace, in *Input) {
	t.Helper()
	maxKey := len(ks.StatusPrefix()) + len("endpoints/") + model.KeyTextMax
	for key, st := range desiredStatus(ks, in) {
		if len(key) > maxKey {
			t.Errorf("status key of %d bytes", len(key))
		}
		checkShown(t, "status reason", st.Reason, model.ReasonTextMax)
		b, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("encode status %q: %v", key, err)
		}
		var back storage.ObjectStatus
		if err := json.Unmarshal(b, &back); err != nil || !back.Same(st) {
			t.Errorf("status %q reads back as %+v (%v), written %+v", key, back, err, st)
		}
	}
}

// checkShown fails unless s is valid UTF-8, printable and at most limit
// bytes: what SafeText returns.
func checkShown(t *testing.T, what, s string, limit int) {
	t.Helper()
	if len(s) > limit {
		t.Errorf("%s: %d bytes, more than %d", what, len(s), limit)
	}
	if !utf8.ValidString(s) {
		t.Errorf("%s %q: not valid UTF-8", what, s)
		return
	}
	for _, c := range s {
		if !strconv.IsPrint(c) {
			t.Errorf("%s %q: holds %U", what, s, c)
			return
		}
	}
}

// checkNoKey fails if text holds a line of the live secret's private key.
func checkNoKey(t *testing.T, where, text string) {
	t.Helper()
	for _, line := range strings.Split(fuzzKey, "\n") {
		if len(line) > 16 && !strings.HasPrefix(line, "-----") && strings.Contains(text, line) {
			t.Fatalf("%s shows the private key", where)
		}
	}
}
