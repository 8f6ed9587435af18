package manifest

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

const linesYAML = `# line 1
kind: Service
name: web
spec:
  protocol: http
---
kind: RouteTable
name: main
spec:
  virtual_hosts:
    - name: all
      domains: ["*"]
      routes:
        - match: {prefix: /}
          service: web
        - match: {prefix: /b}
          service: web
          retries:
            retry_on: 5xx
            num_retry: 2
---
kind: Endpoint
name: web/a
spec:
  address: 10.0.0.1
  port: 8080
  metadata:
    "odd key": x
    team: blue
---
- kind: Listener
  name: l1
  spec: {port: 80, protocol: http, route_table: main, groups: [g]}
- kind: Listener
  name: l2
  spec:
    port: 99999
`

// A field error names the field's own line in the file, whatever the
// document it is in, however it is nested.
func TestFieldLines(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "f.yaml", linesYAML)
	set := Read([]string{p}, false, nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	docs := map[string]Document{}
	for _, d := range set.Documents {
		docs[d.Ref.String()] = d
	}
	for _, tc := range []struct {
		ref, field string
		line       int // 0: no line of its own
	}{
		{"services/web", "protocol", 5},
		{"services/web", "connect_timeout", 0}, // not written: the document's line is all there is
		{"routes/main", "virtual_hosts[0].routes[1].retries.num_retry", 20},
		{"routes/main", "virtual_hosts[0].routes[1].retries", 18},
		{"routes/main", "virtual_hosts[0].routes[0].match", 14},
		{"routes/main", "virtual_hosts[0].routes[0].timeout", 14}, // missing: its route's line
		{"routes/main", "virtual_hosts[0].domains[0]", 12},
		{"routes/main", "virtual_hosts[3].name", 10}, // no such item: the list's line
		{"endpoints/web/a", `metadata["odd key"]`, 28},
		{"endpoints/web/a", `metadata["team"]`, 29},
		{"endpoints/web/a", "port", 26},
		{"listeners/l1", "port", 33},
		{"listeners/l2", "port", 37},
		{"listeners/l2", "name", 35}, // the envelope's own field
		{"listeners/l2", "routes[", 0},
	} {
		d, ok := docs[tc.ref]
		if !ok {
			t.Fatalf("no document %s", tc.ref)
		}
		err := &Error{Source: d.Source, Ref: d.Ref, Err: model.FieldErrors{{Field: tc.field, Msg: "bad"}}}
		want := fmt.Sprintf("field %s (line %d): bad", tc.field, tc.line)
		if tc.line == 0 {
			want = fmt.Sprintf("field %s: bad", tc.field)
		}
		wantAll := fmt.Sprintf("%s: document %d (%s, line %d): %s", p, d.Source.Index, d.Ref, d.Source.Line, want)
		if got := err.Error(); got != wantAll {
			t.Errorf("%s %s:\n got %s\nwant %s", tc.ref, tc.field, got, wantAll)
		}
	}
}

// Each field error of a joined, wrapped error gets its own line; JSON
// documents get none.
func TestFieldLinesJoinedAndJSON(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "f.yaml", linesYAML)
	j := write(t, dir, "g.json", `{"kind":"Service","name":"api","spec":{"protocol":"http"}}`)
	set := Read([]string{p, j}, false, nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	rt, api := set.Documents[1], set.Documents[5]
	inner := model.FieldErrors{
		{Field: "virtual_hosts[0].routes[0].service", Msg: "service \"web\" is rejected"},
		{Field: "virtual_hosts[0].routes[1].service", Msg: "service \"web\" is rejected"},
	}
	err := &Error{Source: rt.Source, Ref: rt.Ref, Err: fmt.Errorf("would be rejected after this change: %w", errors.Join(inner))}
	want := p + `: document 2 (routes/main, line 7): would be rejected after this change: ` +
		`field virtual_hosts[0].routes[0].service (line 15): service "web" is rejected; ` +
		`field virtual_hosts[0].routes[1].service (line 17): service "web" is rejected`
	if got := err.Error(); got != want {
		t.Errorf("joined:\n got %s\nwant %s", got, want)
	}
	jerr := &Error{Source: api.Source, Ref: api.Ref, Err: &model.FieldError{Field: "protocol", Msg: "bad"}}
	if got, want := jerr.Error(), filepath.Join(dir, "g.json")+": document 1 (services/api): field protocol: bad"; got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

func TestParseFieldPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []pathStep
	}{
		{"a.b[2].c", []pathStep{{name: "a"}, {name: "b"}, {index: 2, isIndex: true}, {name: "c"}}},
		{`m["k.x"]`, []pathStep{{name: "m"}, {name: "k.x"}}},
		{`"odd key".x`, []pathStep{{name: "odd key"}, {name: "x"}}},
		{"[0]", []pathStep{{index: 0, isIndex: true}}},
	} {
		got, ok := parseFieldPath(tc.in)
		if !ok || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("parseFieldPath(%q) = %v, %v; want %v", tc.in, got, ok, tc.want)
		}
	}
	for _, bad := range []string{"", "a[", "a[x]", `a["k`, `a["k"`, `"x`} {
		if got, ok := parseFieldPath(bad); ok {
			t.Errorf("parseFieldPath(%q) = %v, want a failure", bad, got)
		}
	}
}
