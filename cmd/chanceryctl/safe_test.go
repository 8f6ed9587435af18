package main

import (
	"context"
	"strings"
	"testing"
	"unicode/utf8"
)

// What etcd holds reaches the terminal only made safe: the crash key of
// issue 17 (a raw 0xff byte in its name) and a value with a decoded
// escape character are listed escaped, in the table and in -o json/yaml,
// and the key is still reported rejected.
func TestGetShowsKeysAndValuesSafely(t *testing.T) {
	env, cli := startEtcd(t)
	for key, value := range map[string]string{
		"/chancery/v1/services/bad\xffx":  `{"protocol":"http"}`,
		"/chancery/v1/services/web":       `{"protocol":"http"}`,
		"/chancery/v1/endpoints/web/a":    `{"address":"127.0.0.1","port":8080,"zone":"\u001b[2J"}`,
		"/chancery/v1/services/esc\x1b]0": `{"protocol":"http"}`,
	} {
		if _, err := cli.Put(context.Background(), key, value); err != nil {
			t.Fatal(err)
		}
	}
	table := mustRun(t, env, "", "get", "all")
	rows := map[string]string{} // first column -> the rest
	for _, line := range strings.Split(table.stdout, "\n") {
		if name, rest, ok := strings.Cut(line, " "); ok {
			rows[name] = strings.TrimSpace(rest)
		}
	}
	for _, name := range []string{`"services/bad\xffx"`, `"services/esc\x1b]0"`} {
		if !strings.HasPrefix(rows[name], "Rejected") {
			t.Errorf("get all: row %s %q, want it rejected:\n%s", name, rows[name], table.stdout)
		}
	}
	if !strings.Contains(rows["endpoints/web/a"], `zone \x1b[2J`) {
		t.Errorf("get all: endpoint row %q, want its zone escaped", rows["endpoints/web/a"])
	}
	for _, output := range []string{"json", "yaml"} {
		r := mustRun(t, env, "", "get", "services", "-o", output)
		if !strings.Contains(r.stdout, `bad\\xffx`) && !strings.Contains(r.stdout, `bad\xffx`) {
			t.Errorf("get -o %s does not name the crash key escaped:\n%s", output, r.stdout)
		}
		table.stdout += r.stdout
	}
	for _, out := range []string{table.stdout, table.stderr} {
		if !utf8.ValidString(out) || strings.ContainsAny(out, "\x1b\ufffd") {
			t.Errorf("output holds what a terminal should not get: %q", out)
		}
	}
}
