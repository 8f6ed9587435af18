package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// script is a shell script running in a process group of its own, with
// everything it starts in the background: the Quick start, the demo.
type script struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // how it exited; read after done is closed
}

// startScript runs argv in dir with env, its output in dir/name.log. SIGINT
// is left at its default in the child even when this test was started with
// it ignored (as by a shell's &): a handler installed while the child
// starts is reset by exec, an ignored signal is not.
func startScript(t *testing.T, dir, name string, env []string, argv ...string) *script {
	t.Helper()
	qs := &script{logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	log, err := os.Create(qs.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	qs.cmd = exec.Command(argv[0], argv[1:]...)
	qs.cmd.Dir = dir
	qs.cmd.Env = env
	qs.cmd.Stdout, qs.cmd.Stderr = log, log
	qs.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	interrupts := make(chan os.Signal, 1)
	signal.Notify(interrupts, os.Interrupt)
	err = qs.cmd.Start()
	signal.Stop(interrupts)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		qs.err = qs.cmd.Wait()
		close(qs.done)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- %s output %s ---\n%s", name, qs.logPath, qs.output())
		}
		qs.stopGroup(t)
	})
	return qs
}

// scriptEnv is the test's environment without CHANCERY_* (the README sets
// none), with the shims, if any, first in PATH.
func scriptEnv(shims string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "CHANCERY_"):
		case strings.HasPrefix(kv, "PATH=") && shims != "":
			env = append(env, "PATH="+shims+string(os.PathListSeparator)+strings.TrimPrefix(kv, "PATH="))
		default:
			env = append(env, kv)
		}
	}
	return env
}

func (qs *script) output() string {
	b, err := os.ReadFile(qs.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", qs.logPath, err)
	}
	return string(b)
}

// waitFor waits until a line of the output is line, failing if the script
// ends first.
func (qs *script) waitFor(t *testing.T, timeout time.Duration, line string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains("\n"+qs.output(), "\n"+line+"\n") {
		select {
		case <-qs.done:
			t.Fatalf("the script ended (%v) before %q", qs.err, line)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within %v", line, timeout)
		}
	}
}

func (qs *script) wait(timeout time.Duration) error {
	select {
	case <-qs.done:
		return qs.err
	case <-time.After(timeout):
		return fmt.Errorf("still running after %v", timeout)
	}
}

// stopGroup ends whatever the script left running: SIGTERM to its process
// group, then SIGKILL.
func (qs *script) stopGroup(t *testing.T) {
	pgid := qs.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		t.Errorf("stop the script: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for syscall.Kill(-pgid, 0) == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if syscall.Kill(-pgid, syscall.SIGKILL) == nil {
		t.Logf("the script's processes outlived SIGTERM by 15s; killed them")
	}
	<-qs.done
}

// checkQuickStartOutput checks what the commands printed: the replica's
// ready line, curl's answer through Envoy, examples/ applied beside it.
func checkQuickStartOutput(t *testing.T, out string) {
	t.Helper()
	for _, want := range []string{
		`"xds-address": "127.0.0.1:18000", "admin-address": "127.0.0.1:9400"`, // the ready line
		"ready: revision",                   // /readyz
		"hello created",                     // the Quick start's objects
		"HTTP/1.1 200 OK",                   // curl through Envoy...
		"server: envoy",                     // ...answered by Envoy...
		"Directory listing for /",           // ...with the upstream's page
		"listeners/edge-http created",       // examples/ applied beside it
		`"virtual_hosts":[{"domains":["*"]`, // etcdctl reads the route table
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the Quick start's output lacks %q", want)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "\tINFO\t") && strings.Contains(line, "\tready\t") {
			return
		}
	}
	t.Errorf("no ready line in the replica's log")
}

// checkQuickStartRunning checks, while the Quick start runs, that Envoy
// still answers with examples/ applied, and that status shows it synced.
func checkQuickStartRunning(t *testing.T) {
	t.Helper()
	st, body, err := harness.HTTPGet("http://127.0.0.1:10000/", "")
	if err != nil || st != 200 || !strings.Contains(body, "Directory listing for /") {
		t.Errorf("through Envoy after examples/ was applied: %d %v\n%s", st, err, body)
	}
	harness.Eventually(t, 20*time.Second, 200*time.Millisecond, func() error {
		out, errOut, code := harness.Chanceryctl(t, "status")
		if code != 0 || !strings.Contains(out, "quickstart-1") || strings.Contains(out, "STALE") || strings.Contains(out, "NACK") ||
			!strings.Contains(out, "SYNCED") {
			return fmt.Errorf("chanceryctl status: %d\n%s%s", code, out, errOut)
		}
		return nil
	})
}
