package manifest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func refs(docs []Document) string {
	var out []string
	for _, d := range docs {
		out = append(out, fmt.Sprintf("%s@%d:%d", d.Ref, d.Source.Index, d.Source.Line))
	}
	return strings.Join(out, " ")
}

func TestReadYAMLAndJSON(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.yaml", `# leading comment, then an empty document
---
kind: service
name: web
spec: {protocol: http, connect_timeout: 60s}
---
---
- kind: Endpoint
  name: web/a
  spec: {address: 10.0.0.1, port: 8080}
- kind: endpoints
  name: web/b
  spec: {address: 10.0.0.2, port: 8080}
  status: {accepted: true}
`)
	write(t, dir, "b.json", `{"kind":"RouteTable","name":"main","spec":{"virtual_hosts":[]}}
[{"kind":"Listener","name":"l","spec":{"port":80}}]`)
	write(t, dir, "notes.txt", "not a manifest")
	write(t, dir, "sub/c.yaml", "kind: Service\nname: deep\nspec: {protocol: tcp}\n")

	set := Read([]string{dir}, false, nil)
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	want := "services/web@1:3 endpoints/web/a@2:8 endpoints/web/b@3:8 routes/main@1:0 listeners/l@2:0"
	if got := refs(set.Documents); got != want {
		t.Errorf("documents\n got %s\nwant %s", got, want)
	}
	if got := string(set.Documents[0].Value); got != `{"connect_timeout":"60s","protocol":"http"}` {
		t.Errorf("canonical value %s", got)
	}
	if set := Read([]string{dir}, true, nil); len(set.Documents) != 6 {
		t.Errorf("recursive read found %d documents, want 6", len(set.Documents))
	}
	stdin := Read([]string{Stdin}, false, strings.NewReader(`[{"kind":"Service","name":"x","spec":{"protocol":"http"}}]`))
	if err := stdin.Err(); err != nil || refs(stdin.Documents) != "services/x@1:0" {
		t.Errorf("stdin: %s, %v", refs(stdin.Documents), err)
	}
}

// Every problem is reported, each naming the file, the document and, when
// it is known, the object and the field.
func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "bad.yaml", `kind: Service
name: web
spec: {protocol: http}
---
kind: Service
name: web
spec: {protocol: grpc}
---
kind: Gizmo
name: g
spec: {}
---
kind: Service
spec: {protocol: http}
---
kind: Service
name: x
spec: {protocol: http}
extra: 1
---
kind: Endpoint
name: no-slash
spec: {address: 10.0.0.1, port: 1}
---
kind: Health
name: web/a
spec: {status: healthy}
---
kind: Service
name: nospec
---
kind: Service
name: list
spec: [1]
---
kind: Service
name: y
  bad: indentation
---
just a string
`)
	set := Read([]string{p, filepath.Join(dir, "missing.yaml")}, false, nil)
	want := []string{
		"bad.yaml: document 2 (services/web, line 5): defined twice: also in " + p + ": document 1 (line 1)",
		"bad.yaml: document 3 (line 9): field kind: unknown kind \"Gizmo\"",
		"bad.yaml: document 4 (line 13): field name: required",
		"bad.yaml: document 5 (line 16): field extra (line 19): unknown field",
		"bad.yaml: document 6 (endpoints/no-slash, line 21): field name: name \"no-slash\": want <service>/<id>",
		"bad.yaml: document 7 (health/web/a, line 25): field kind: Health verdicts are written by the elected replica",
		"bad.yaml: document 8 (services/nospec, line 29): field spec: required",
		"bad.yaml: document 9 (services/list, line 32): field spec: want an object",
		"bad.yaml: document 10 (line 36): invalid YAML: yaml: line 38:",
		"bad.yaml: document 11 (line 40): want an object with kind, name and spec",
		"missing.yaml: no such file or directory",
	}
	if len(set.Errors) != len(want) {
		t.Errorf("%d errors, want %d:\n%v", len(set.Errors), len(want), set.Err())
	}
	for i, err := range set.Errors {
		if i < len(want) && !strings.Contains(err.Error(), want[i]) {
			t.Errorf("error %d:\n got %v\nwant it to contain %s", i, err, want[i])
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("error %d spans lines: %q", i, err)
		}
	}
	if len(set.Documents) != 1 {
		t.Errorf("%d documents read, want the one good one", len(set.Documents))
	}
	if set := Read(nil, false, nil); set.Err() == nil {
		t.Error("no paths: no error")
	}
	if set := Read([]string{t.TempDir()}, false, nil); set.Err() == nil || !strings.Contains(set.Err().Error(), "no .yaml") {
		t.Errorf("empty directory: %v", set.Err())
	}
}

func TestReadCRLF(t *testing.T) {
	p := write(t, t.TempDir(), "win.yaml", "kind: Service\r\nname: a\r\nspec: {protocol: http}\r\n---\r\nkind: Service\r\nname: b\r\nspec: {protocol: tcp}\r\n")
	set := Read([]string{p}, false, nil)
	if err := set.Err(); err != nil || refs(set.Documents) != "services/a@1:1 services/b@2:5" {
		t.Errorf("CRLF: %s, %v", refs(set.Documents), err)
	}
}
