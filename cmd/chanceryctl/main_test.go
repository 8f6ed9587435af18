package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// result is what one in-process run printed and returned.
type result struct {
	stdout, stderr string
	code           int
}

// ctl runs chanceryctl in-process with the given environment (nothing of
// the real one leaks in) and stdin.
func ctl(t *testing.T, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	return ctlContext(t, context.Background(), env, stdin, args...)
}

func ctlContext(t *testing.T, ctx context.Context, env map[string]string, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	code := run(ctx, args, strings.NewReader(stdin), &out, &errOut, lookup)
	return result{stdout: out.String(), stderr: errOut.String(), code: code}
}

// oneLineError checks that a failed run printed exactly one line, the
// error, and nothing that looks like a crash.
func oneLineError(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit status %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "chanceryctl: ") {
		t.Errorf("stderr is not one error line: %q", r.stderr)
	}
	if !strings.Contains(r.stderr, want) {
		t.Errorf("stderr %q does not mention %q", r.stderr, want)
	}
	for _, crash := range []string{"panic", "goroutine ", ".go:"} {
		if strings.Contains(r.stderr, crash) {
			t.Errorf("stderr looks like a crash (%q): %q", crash, r.stderr)
		}
	}
}

// Every command has help with an example, reachable with --help.
func TestHelpForEveryCommand(t *testing.T) {
	var walk func(c *cobra.Command)
	seen := 0
	walk = func(c *cobra.Command) {
		seen++
		path := strings.Fields(c.CommandPath())[1:]
		if c.Example == "" {
			t.Errorf("%q has no example", c.CommandPath())
		}
		if c.Short == "" {
			t.Errorf("%q has no short description", c.CommandPath())
		}
		r := ctl(t, nil, "", append(path, "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") || !strings.Contains(r.stdout, "Usage:") {
			t.Errorf("%s --help: status %d, output %q", c.CommandPath(), r.code, r.stdout)
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot(&app{env: func(string) (string, bool) { return "", false }}))
	if seen < 11 {
		t.Errorf("walked %d commands, want every one", seen)
	}
	if r := ctl(t, nil, "", "help", "apply"); r.code != 0 || !strings.Contains(r.stdout, "--dry-run") {
		t.Errorf("help apply: %d %q", r.code, r.stdout)
	}
	if r := ctl(t, nil, "", "version"); r.code != 0 || strings.TrimSpace(r.stdout) != version {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
}

// Wrong usage is one line on stderr and status 2; never a stack trace.
func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"aply"}, nil, `unknown command "aply" for "chanceryctl" (did you mean apply?)`},
		{[]string{"apply", "--bogus"}, nil, "unknown flag: --bogus (see 'chanceryctl apply --help')"},
		{[]string{"get"}, nil, "accepts between 1 and 2 arg(s)"},
		{[]string{"get", "gizmo"}, nil, `unknown kind "gizmo"`},
		{[]string{"get", "services", "-o", "xml"}, nil, `--output "xml"`},
		{[]string{"delete", "service"}, nil, "accepts 2 arg(s)"},
		{[]string{"apply", "-f", "x", "--max-txn-ops", "0"}, nil, "--max-txn-ops must be positive"},
		{[]string{"get", "services", "--etcd-timeout", "soon"}, nil, `invalid argument "soon"`},
		{[]string{"get", "services"}, map[string]string{"CHANCERY_ETCD_TIMEOUT": "soon"}, `CHANCERY_ETCD_TIMEOUT="soon"`},
		{[]string{"bootstrap", "--xds", "127.0.0.1:18000"}, nil, "--group and --xds are required"},
		{[]string{"bootstrap", "--group", "g", "--xds", "nowhere"}, nil, `xDS address "nowhere": want host:port`},
		{[]string{"bootstrap", "--group", "g", "--xds", "127.0.0.1:1", "--xds-sni", "x"}, nil, "needs a CA file"},
		{[]string{"endpoint", "register", "--service", "web"}, nil, "--service, --address and --port are required"},
		{[]string{"endpoint", "register", "--service", "web", "--address", "web.local", "--port", "80"}, nil, `want an IP address, got "web.local"`},
		{[]string{"endpoint", "register", "--service", "web", "--address", "10.0.0.1", "--port", "80", "--ttl", "100ms"}, nil, "--ttl 100ms"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			oneLineError(t, ctl(t, tc.env, "", tc.args...), exitUsage, tc.want)
		})
	}
}

// An etcd that refuses the connection is one line naming it, status 1, at
// once rather than after --etcd-timeout; one that accepts connections but
// does not answer is one line within the timeout.
func TestUnreachableEtcd(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	silent := "http://" + silentListener(t)
	dir := t.TempDir()
	file := dir + "/svc.yaml"
	writeFile(t, file, "kind: Service\nname: web\nspec: {protocol: http}\n")
	for _, args := range [][]string{
		{"get", "services"},
		{"apply", "-f", file},
		{"delete", "service", "web"},
		{"endpoint", "list"},
		{"status"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			// The timeout is long: the refusal must not wait for it.
			env := map[string]string{"CHANCERY_ETCD_ENDPOINTS": refused, "CHANCERY_ETCD_TIMEOUT": "30s"}
			start := time.Now()
			r := ctl(t, env, "", args...)
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("the refusal took %v", took)
			}
			oneLineError(t, r, exitFailure, "connection refused at "+refused+"; is `chancery serve` or etcd running?")
			env = map[string]string{"CHANCERY_ETCD_ENDPOINTS": silent, "CHANCERY_ETCD_TIMEOUT": "300ms"}
			oneLineError(t, ctl(t, env, "", args...), exitFailure, "etcd at "+silent+" did not answer within 300ms")
		})
	}
	r := ctl(t, map[string]string{"CHANCERY_ETCD_ENDPOINTS": refused}, "", "diff", "-f", file)
	oneLineError(t, r, exitUsage, "connection refused at "+refused)
}

// silentListener accepts connections and never says a word; it returns
// its address.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}
