package e2e

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// make demo's script brings the Quick start up in one command, answers
// through Envoy, and on Ctrl-C (SIGINT to its process group, as a terminal
// sends it) stops every process it started and removes its files.
func TestDemoScript(t *testing.T) {
	root := harness.RepoRoot(t)
	requireQuickStartTools(t, root)
	lockQuickStartPorts(t)
	checkQuickStartPorts(t, readFile(t, filepath.Join(root, "scripts", "demo.sh")))

	tmp := t.TempDir()
	env := append(scriptEnv(""), "TMPDIR="+tmp)
	demo := startScript(t, t.TempDir(), "demo", env, filepath.Join(root, "scripts", "demo.sh"))
	start := time.Now()
	demo.waitFor(t, 60*time.Second, "demo: Ctrl-C stops it all.")
	t.Logf("demo up and answering in %v", time.Since(start).Round(time.Millisecond))
	out := demo.output()
	for _, want := range []string{"demo: replica ready", "listeners/hello created", "HTTP/1.1 200 OK", "server: envoy"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if st, body, err := harness.HTTPGet("http://127.0.0.1:10000/", ""); err != nil || st != 200 {
		t.Errorf("through the demo's Envoy: %d %v\n%s", st, err, body)
	}

	if err := syscall.Kill(-demo.cmd.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	err := demo.wait(30 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 130 {
		t.Errorf("demo after Ctrl-C: %v, want exit status 130", err)
	}
	if !strings.HasSuffix(demo.output(), "demo: stopped\n") {
		t.Errorf("the demo did not say it stopped")
	}
	waitPortsFree(t, 30*time.Second)
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) != 0 {
		t.Errorf("the demo left files in TMPDIR: %v %v", left, err)
	}
}
