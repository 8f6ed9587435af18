package storage_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
	"github.com/chancery-xds/chancery/storage/model"
)

func TestCanonicalJSON(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"port": 8080, "address": "10.0.0.1"}`, `{"address":"10.0.0.1","port":8080}`},
		{"{\n  \"b\": {\"z\": 1, \"a\": [3, 1]},\n  \"a\": null\n}", `{"a":null,"b":{"a":[3,1],"z":1}}`},
		// Numbers stay as written, large ones included; HTML is not escaped.
		{`{"n": 18446744073709551615, "f": 1.50, "body": "<a>&"}`, `{"body":"<a>&","f":1.50,"n":18446744073709551615}`},
	}
	for _, c := range cases {
		got, err := storage.CanonicalJSON([]byte(c.in))
		if err != nil || string(got) != c.want {
			t.Errorf("CanonicalJSON(%s) = %s, %v; want %s", c.in, got, err, c.want)
		}
		again, err := storage.CanonicalJSON(got)
		if err != nil || string(again) != string(got) {
			t.Errorf("CanonicalJSON is not idempotent on %s: %s, %v", got, again, err)
		}
	}
	for _, bad := range []string{``, `{"a":`, `{"a":1} {"b":2}`, `{"a":1} x`} {
		if got, err := storage.CanonicalJSON([]byte(bad)); err == nil {
			t.Errorf("CanonicalJSON(%q) = %s, want an error", bad, got)
		}
	}
}

func TestSameObject(t *testing.T) {
	svc := model.Ref{Kind: model.KindService, Name: "web"}
	same := [][2]string{
		{`{"protocol":"http","connect_timeout":"60s"}`, "{\n \"connect_timeout\": \"1m\",\n \"protocol\": \"http\"\n}"},
		{`{"protocol":"http"}`, `{"protocol":"http","lb_policy":""}`},
	}
	for _, p := range same {
		if !storage.SameObject(svc, []byte(p[0]), []byte(p[1])) {
			t.Errorf("SameObject(%s, %s) = false, want true", p[0], p[1])
		}
	}
	differ := [][2]string{
		{`{"protocol":"http"}`, `{"protocol":"http2"}`},
		{`{"protocol":"http"}`, `{"protocol":"htp"}`}, // one side does not validate
		{`{"protocol":"http"`, `{"protocol":"http"}`}, // one side is not JSON
	}
	for _, p := range differ {
		if storage.SameObject(svc, []byte(p[0]), []byte(p[1])) {
			t.Errorf("SameObject(%s, %s) = true, want false", p[0], p[1])
		}
	}
}

// read reads the test keyspace, failing the test on error.
func read(t *testing.T, cli *clientv3.Client) *storage.Contents {
	t.Helper()
	c, err := storage.ReadContents(context.Background(), cli, storage.NewKeyspace(prefix))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newWriter(t *testing.T, cli *clientv3.Client, maxOps int) *storage.Writer {
	t.Helper()
	w, err := storage.NewWriter(cli, storage.NewKeyspace(prefix), maxOps)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var (
	webRef   = model.Ref{Kind: model.KindService, Name: "web"}
	routeRef = model.Ref{Kind: model.KindRouteTable, Name: "main"}
)

// Created, then unchanged (even when etcd holds the same object in another
// layout, as etcdctl writes it), then configured; unchanged writes nothing.
func TestWriterActions(t *testing.T) {
	_, cli := etcdtest.Start(t)
	ctx := context.Background()
	w := newWriter(t, cli, 0)
	value := []byte(`{"protocol":"http"}`)

	cur := read(t, cli)
	c := storage.PlanPut(cur, webRef, value)
	if c.Action != storage.Created {
		t.Fatalf("first plan: %s, want created", c.Action)
	}
	res, err := w.Commit(ctx, cur.Revision, []storage.Change{c})
	if err != nil || res.Transactions != 1 {
		t.Fatalf("commit: %+v, %v", res, err)
	}

	put(t, cli, "services/web", "{ \"protocol\" : \"http\" }")
	cur = read(t, cli)
	c = storage.PlanPut(cur, webRef, value)
	if c.Action != storage.Unchanged {
		t.Fatalf("same object, other layout: %s, want unchanged", c.Action)
	}
	res, err = w.Commit(ctx, cur.Revision, []storage.Change{c})
	if err != nil || res.Transactions != 0 || res.Revision != cur.Revision {
		t.Fatalf("commit of unchanged: %+v, %v; want no transaction at revision %d", res, err, cur.Revision)
	}
	if after := read(t, cli).Revision; after != cur.Revision {
		t.Fatalf("revision moved from %d to %d on an unchanged commit", cur.Revision, after)
	}

	c = storage.PlanPut(cur, webRef, []byte(`{"protocol":"http2"}`))
	if c.Action != storage.Configured || c.Current == nil {
		t.Fatalf("changed object: %+v, want configured with the current value", c)
	}
	if _, err := w.Commit(ctx, cur.Revision, []storage.Change{c}); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, cli).Objects[webRef].Value); got != `{"protocol":"http2"}` {
		t.Fatalf("stored %s", got)
	}

	del, err := storage.PlanDelete(read(t, cli), webRef)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(ctx, read(t, cli).Revision, []storage.Change{del}); err != nil {
		t.Fatal(err)
	}
	if _, err := storage.PlanDelete(read(t, cli), webRef); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("PlanDelete of a deleted key: %v, want ErrNotFound", err)
	}
}

// A write to a key being written, or to any service, route table or
// listener since the read, fails the commit and writes nothing.
func TestWriterConflict(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		meddle   string // key written between read and commit
		wantRefs string
	}{
		{"same key", "services/web", "[services/web]"},
		{"another route table", "routes/other", "[routes/other]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cli := etcdtest.Start(t)
			put(t, cli, "services/web", `{"protocol":"http"}`)
			cur := read(t, cli)
			changes := []storage.Change{
				storage.PlanPut(cur, webRef, []byte(`{"protocol":"grpc"}`)),
				storage.PlanPut(cur, routeRef, []byte(`{"virtual_hosts":[]}`)),
			}
			put(t, cli, tc.meddle, `{"protocol":"tcp"}`)
			before := read(t, cli)
			_, err := newWriter(t, cli, 0).Commit(ctx, cur.Revision, changes)
			var ce *storage.ConflictError
			if !errors.As(err, &ce) || !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("commit after a concurrent write: %v, want a ConflictError", err)
			}
			if got := fmt.Sprint(ce.Changed); got != tc.wantRefs {
				t.Errorf("conflict names %s, want %s", got, tc.wantRefs)
			}
			t.Logf("conflict message: %v", err)
			if after := read(t, cli); after.Revision != before.Revision {
				t.Errorf("a failed commit wrote something: revision %d -> %d", before.Revision, after.Revision)
			}
		})
	}
}

// Past the operation limit a commit is split into transactions, services
// first and listeners last, and every object is written.
func TestWriterBatches(t *testing.T) {
	_, cli := etcdtest.Start(t)
	cur := read(t, cli)
	var changes []storage.Change
	for i := range 6 {
		changes = append(changes,
			storage.PlanPut(cur, model.Ref{Kind: model.KindListener, Name: fmt.Sprintf("l%d", i)}, []byte(`{}`)),
			storage.PlanPut(cur, model.Ref{Kind: model.KindService, Name: fmt.Sprintf("s%d", i)}, []byte(`{}`)))
	}
	w := newWriter(t, cli, 7)
	batches := w.Batches(changes)
	var sizes []int
	for _, b := range batches {
		sizes = append(sizes, len(b))
	}
	// The first transaction leaves room for the five guard comparisons.
	if fmt.Sprint(sizes) != "[2 7 3]" {
		t.Fatalf("batch sizes %v, want [2 7 3]", sizes)
	}
	if first, last := batches[0][0].Ref, batches[2][2].Ref; first.Kind != model.KindService || last.Kind != model.KindListener {
		t.Errorf("first write %s, last %s: want services first, listeners last", first, last)
	}
	res, err := w.Commit(context.Background(), cur.Revision, changes)
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions != 3 || res.Revision != cur.Revision+3 {
		t.Errorf("commit: %+v, want 3 transactions ending at revision %d", res, cur.Revision+3)
	}
	if n := len(read(t, cli).Objects); n != 12 {
		t.Errorf("%d objects stored, want 12", n)
	}
	// Large values are split by size too; one larger than the limit goes alone.
	big := make([]storage.Change, 5)
	for i := range big {
		size := storage.MaxTxnBytes/2 - 100
		if i == 3 {
			size = storage.MaxTxnBytes + 1
		}
		big[i] = storage.Change{Ref: model.Ref{Kind: model.KindService, Name: fmt.Sprintf("big%d", i)}, Action: storage.Created, Value: make([]byte, size)}
	}
	sizes = nil
	for _, b := range newWriter(t, cli, 0).Batches(big) {
		sizes = append(sizes, len(b))
	}
	if fmt.Sprint(sizes) != "[2 1 1 1]" {
		t.Errorf("batch sizes by bytes %v, want [2 1 1 1]", sizes)
	}
	if _, err := storage.NewWriter(cli, storage.NewKeyspace(prefix), 5); err == nil {
		t.Error("NewWriter accepted a limit that leaves no room beside the guards")
	}
}

// ReadContents keeps the raw bytes of values that do not decode, and
// skips keys of the prefix that hold no model object.
func TestReadContents(t *testing.T) {
	_, cli := etcdtest.Start(t)
	put(t, cli, "services/web", `{"protocol":"http"`)
	put(t, cli, "replicas/r1", `{}`)
	put(t, cli, "endpoints/web/a", `{"address":"10.0.0.1","port":80}`)
	c := read(t, cli)
	if got := fmt.Sprint(c.Refs()); got != "[endpoints/web/a services/web]" {
		t.Fatalf("refs %s", got)
	}
	if got := string(c.Objects[webRef].Value); got != `{"protocol":"http"` {
		t.Errorf("raw value %q", got)
	}
	snap := c.Snapshot()
	if _, ok := snap.RejectionOf(webRef); !ok || len(snap.Endpoints["web"]) != 1 {
		t.Errorf("snapshot: rejected %v, endpoints %v", snap.Rejected, snap.Endpoints)
	}
	only, err := storage.ReadContents(context.Background(), cli, storage.NewKeyspace(prefix), model.KindEndpoint)
	if err != nil || len(only.Objects) != 1 {
		t.Errorf("endpoints only: %v, %v", only, err)
	}
}
