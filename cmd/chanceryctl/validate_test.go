package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// validate reports every file's problems in one run: a file that does not
// parse does not hide the field errors of the others, and each field
// error names its full path and its own line.
func TestValidateReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	broken := filepath.Join(dir, "a-broken.yaml")
	writeFile(t, broken, "kind: Service\nname: z\nspec:\n  protocol: [\n")
	routes := filepath.Join(dir, "b-routes.yaml")
	writeFile(t, routes, `kind: Service
name: web
spec: {protocol: http}
---
kind: RouteTable
name: web
spec:
  virtual_hosts:
    - name: web
      domains: ["*"]
      routes:
        - match: {prefix: /}
          service: web
        - match: {prefix: /b}
          service: web
          retries:
            retry_on: 5xx
            num_retry: 2
`)
	listener := filepath.Join(dir, "c-listener.json")
	writeFile(t, listener, `{"kind":"Listener","name":"x","spec":{"port":99999,"protocol":"http","route_table":"web","groups":["edge"]}}`)
	missing := filepath.Join(dir, "d-missing.yaml")

	r := ctl(t, nil, "", "validate", "-f", broken, "-f", routes, "-f", listener, "-f", missing)
	if r.code != exitFailure {
		t.Errorf("exit status %d, want 1", r.code)
	}
	for _, want := range []string{
		"error: " + broken + ": document 1 (line 1): invalid YAML: yaml: line 4:",
		"error: " + missing + ": no such file or directory",
		"error: " + routes + ": document 2 (routes/web, line 5): field virtual_hosts[0].routes[1].retries.num_retry (line 18): unknown field",
		"error: " + listener + ": document 1 (listeners/x): field port: must be 1-65535, got 99999",
		"chanceryctl: validate: 2 problems reading the files, 2 of 3 documents rejected\n",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "valid") {
		t.Errorf("stdout says valid: %s", r.stdout)
	}
}
