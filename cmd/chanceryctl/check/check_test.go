package check

import (
	"fmt"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

func doc(kind model.Kind, name, value string) manifest.Document {
	return manifest.Document{
		Source: manifest.Source{File: "f.yaml", Index: 1, Line: 1},
		Ref:    model.Ref{Kind: kind, Name: name}, Value: []byte(value),
	}
}

func contents(objs map[string]string) *storage.Contents {
	ks := storage.NewKeyspace("")
	c := &storage.Contents{Revision: 7, Objects: map[model.Ref]*storage.Stored{}}
	for key, v := range objs {
		ref, ok := ks.Parse(ks.Prefix() + key)
		if !ok {
			panic("bad key " + key)
		}
		c.Objects[ref] = &storage.Stored{Ref: ref, Value: []byte(v), ModRevision: 3}
	}
	return c
}

func messages(fs []Finding) string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Error())
	}
	return strings.Join(out, "\n")
}

const routeToPay = `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"pay"}]}]}`

// Offline, a reference outside the files is a warning and the rest of the
// document is still judged; a real problem is an error.
func TestOffline(t *testing.T) {
	docs := []manifest.Document{
		doc(model.KindRouteTable, "main", routeToPay),
		doc(model.KindListener, "edge", `{"port":80,"protocol":"http","route_table":"main","groups":["edge"]}`),
		doc(model.KindListener, "db", `{"port":5432,"protocol":"tcp","service":"pg","groups":["edge"]}`),
		doc(model.KindEndpoint, "ghost/a", `{"address":"10.0.0.1","port":1}`),
	}
	r := Offline(docs)
	if !r.OK() {
		t.Fatalf("errors: %s", messages(r.Errors))
	}
	w := messages(r.Warnings)
	for _, want := range []string{
		`(routes/main, line 1): field virtual_hosts[0].routes[0].service: service "pay" is not in these files`,
		`(listeners/db, line 1): field service: service "pg" is not in these files`,
		`(endpoints/ghost/a, line 1): service "ghost" is not defined`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings lack %s:\n%s", want, w)
		}
	}

	docs = append(docs, doc(model.KindService, "pay", `{"protocol":"htp"}`))
	r = Offline(docs)
	e, c := messages(r.Errors), messages(r.Consequences)
	if e != `f.yaml: document 1 (services/pay, line 1): field protocol: unknown protocol "htp": want one of http, http2, grpc, tcp` {
		t.Errorf("errors:\n%s", e)
	}
	if !strings.Contains(c, `(routes/main, line 1): field virtual_hosts[0].routes[0].service: service "pay" is rejected`) {
		t.Errorf("consequences:\n%s", c)
	}
	if !strings.HasPrefix(e, "f.yaml") || strings.Contains(e, "in etcd") {
		t.Errorf("offline errors should all name documents:\n%s", e)
	}
}

// Online, a missing reference is an error, and so is breaking an object
// that etcd holds and Chancery accepts now.
func TestOnline(t *testing.T) {
	cur := contents(map[string]string{
		"services/web":       `{"protocol":"http"}`,
		"listeners/web-http": `{"port":80,"protocol":"http","route_table":"web","groups":["edge"]}`,
		"routes/web":         `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`,
	})
	r := Online(cur, []manifest.Document{doc(model.KindRouteTable, "main", routeToPay)})
	if got := messages(r.Errors); !strings.Contains(got, `service "pay" not found`) {
		t.Errorf("dangling reference: %s", got)
	}
	// A new listener never takes port 80 from web-http, whatever its name.
	r = Online(cur, []manifest.Document{doc(model.KindListener, "a-first", `{"port":80,"protocol":"http","route_table":"web","groups":["edge"]}`)})
	if got := messages(r.Errors); got != `f.yaml: document 1 (listeners/a-first, line 1): field port: 0.0.0.0:80 overlaps older listener "web-http" (0.0.0.0:80) in group "edge"; listener not sent` {
		t.Errorf("breaking an accepted object: %q", got)
	}
	if r := Online(cur, []manifest.Document{doc(model.KindService, "pay", `{"protocol":"grpc"}`), doc(model.KindRouteTable, "main", routeToPay)}); !r.OK() {
		t.Errorf("valid documents refused: %s", messages(r.Errors))
	}
	if r := Delete(cur, model.Ref{Kind: model.KindService, Name: "web"}); r.OK() || !strings.Contains(messages(r.Errors), "routes/web (in etcd)") {
		t.Errorf("deleting a referenced service: %s", messages(r.Errors))
	}
	if r := Delete(cur, model.Ref{Kind: model.KindListener, Name: "web-http"}); !r.OK() {
		t.Errorf("deleting an unreferenced listener: %s", messages(r.Errors))
	}
}

// An object etcd already rejects does not stop an unrelated write.
func TestOnlineIgnoresExistingRejections(t *testing.T) {
	cur := contents(map[string]string{"services/broken": `{"protocol":`})
	if r := Online(cur, []manifest.Document{doc(model.KindService, "web", `{"protocol":"http"}`)}); !r.OK() {
		t.Errorf("refused: %s", messages(r.Errors))
	}
}

// Only the root cause is an error: a route to a rejected service, or a
// listener of a rejected route table, is a consequence. A route table with
// a problem of its own stays an error.
func TestConsequences(t *testing.T) {
	cur := contents(map[string]string{"services/web": `{"protocol":"http"}`})
	listener := doc(model.KindListener, "edge", `{"port":80,"protocol":"http","route_table":"main","groups":["edge"]}`)
	for _, tc := range []struct {
		name         string
		docs         []manifest.Document
		errors, cons string
	}{
		{"bad service", []manifest.Document{
			doc(model.KindService, "pay", `{"protocol":"http","lb_policy":"fastest"}`),
			doc(model.KindRouteTable, "main", routeToPay), listener,
		}, "[services/pay]", "[routes/main]"},
		{"bad route table", []manifest.Document{
			doc(model.KindRouteTable, "main", `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"regex":"("},"service":"web"}]}]}`),
			listener,
		}, "[routes/main]", "[listeners/edge]"},
		{"dangling reference", []manifest.Document{
			doc(model.KindRouteTable, "main", `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"nowhere"}]}]}`),
			listener,
		}, "[routes/main]", "[]"},
	} {
		r := Online(cur, tc.docs)
		if got, cons := refsOf(r.Errors), refsOf(r.Consequences); got != tc.errors || cons != tc.cons {
			t.Errorf("%s: errors %s, consequences %s; want %s and %s", tc.name, got, cons, tc.errors, tc.cons)
		}
	}
}

func refsOf(fs []Finding) string {
	refs := make([]model.Ref, len(fs))
	for i, f := range fs {
		refs[i] = f.Ref
	}
	return fmt.Sprint(refs)
}
