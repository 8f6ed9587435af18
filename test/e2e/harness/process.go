package harness

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// How much of a log is printed when a test fails: the last tailLines lines,
// read from at most the last tailBytes.
const (
	tailLines = 60
	tailBytes = 16 << 10
)

// process is a child process that can be stopped and started again with the
// same arguments; every run appends to the same log file.
type process struct {
	t       testing.TB
	name    string
	binary  string
	args    []string
	logPath string

	run      *run  // the current or last run; nil before the first start
	logStart int64 // log size when the current run started
}

type run struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error // how the process exited; read only after done is closed
}

// newProcess registers the cleanups: the process is stopped when the test ends,
// and then, if the test failed, the end of its log is printed.
func newProcess(t testing.TB, name, binary, logPath string, args []string) *process {
	p := &process{t: t, name: name, binary: binary, args: args, logPath: logPath}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- end of %s log %s ---\n%s", p.name, p.logPath, tailFile(p.logPath))
		}
	})
	t.Cleanup(p.halt)
	return p
}

func (p *process) start() error {
	if p.running() {
		return fmt.Errorf("%s is already running", p.name)
	}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("open %s log: %w", p.name, err)
	}
	p.logStart = info.Size()
	if _, err := fmt.Fprintf(f, "=== %s %s %s\n", time.Now().Format(time.RFC3339Nano), p.binary, strings.Join(p.args, " ")); err != nil {
		return fmt.Errorf("write %s log: %w", p.name, err)
	}
	cmd := exec.Command(p.binary, p.args...)
	cmd.Stdout, cmd.Stderr = f, f
	// If the test binary dies without running its cleanups, take the child along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	r := &run{cmd: cmd, done: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	p.run = r
	return nil
}

func (p *process) running() bool {
	if p.run == nil {
		return false
	}
	select {
	case <-p.run.done:
		return false
	default:
		return true
	}
}

// exitErr reports whether the current run has ended, and how.
func (p *process) exitErr() (exited bool, err error) {
	if p.run == nil {
		return false, nil
	}
	select {
	case <-p.run.done:
		return true, p.run.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM and waits; after timeout it sends SIGKILL. It returns how
// the run ended, or why it had to be killed.
func (p *process) stop(timeout time.Duration) error {
	if !p.running() {
		if p.run == nil {
			return fmt.Errorf("%s was never started", p.name)
		}
		return fmt.Errorf("%s had already exited: %v", p.name, p.run.err)
	}
	killed, err := p.terminate(timeout)
	if err != nil {
		return err
	}
	if killed {
		return fmt.Errorf("%s did not exit within %v of SIGTERM; killed it", p.name, timeout)
	}
	return p.run.err
}

// terminate sends SIGTERM, waits up to timeout, then sends SIGKILL; it reports
// whether it had to kill.
func (p *process) terminate(timeout time.Duration) (killed bool, err error) {
	if err := p.run.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return false, fmt.Errorf("signal %s: %w", p.name, err)
	}
	select {
	case <-p.run.done:
		return false, nil
	case <-time.After(timeout):
		return true, p.kill()
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *process) kill() error {
	if !p.running() {
		return nil
	}
	if err := p.run.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("kill %s: %w", p.name, err)
	}
	<-p.run.done
	return nil
}

// halt is the cleanup: whatever still runs gets a short grace period. How it
// exits is not the test's concern at this point, only that it is gone.
func (p *process) halt() {
	if !p.running() {
		return
	}
	killed, err := p.terminate(10 * time.Second)
	if err != nil {
		p.t.Errorf("stop %s: %v", p.name, err)
	}
	if killed {
		p.t.Logf("%s did not exit within 10s of SIGTERM; killed it", p.name)
	}
}

// waitUntil polls cond until it returns nil; it gives up early when the process
// exits, since then cond can never become true.
func (p *process) waitUntil(timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		if exited, exitErr := p.exitErr(); exited {
			return fmt.Errorf("%s exited (%v) before %s; log %s", p.name, exitErr, what, p.logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no %s within %v: %w; log %s", p.name, what, timeout, err, p.logPath)
		}
		select {
		case <-tick.C:
		case <-p.run.done:
		}
	}
}

// portClash reports whether the current run failed because a port picked for it
// was taken by someone else in between.
func (p *process) portClash() bool {
	f, err := os.Open(p.logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(p.logStart, io.SeekStart); err != nil {
		return false
	}
	b, err := io.ReadAll(f)
	return err == nil && strings.Contains(strings.ToLower(string(b)), "address already in use")
}

// tailFile returns the last lines of a file.
func tailFile(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	offset := max(info.Size()-tailBytes, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, offset, info.Size()-offset))
	if err != nil {
		return fmt.Sprintf("(cannot read: %v)", err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	if offset > 0 {
		lines = lines[1:] // a partial line
	}
	return strings.Join(lines[max(len(lines)-tailLines, 0):], "")
}

// startRetrying calls launch, which picks fresh ports and starts and waits for
// its processes, up to three times while a failure is a port clash.
func startRetrying(t testing.TB, what string, launch func() ([]*process, error)) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		procs, err := launch()
		if err == nil {
			return
		}
		clash := false
		for _, p := range procs {
			clash = clash || p.portClash()
			if err := p.kill(); err != nil {
				t.Fatal(err)
			}
		}
		if !clash || attempt == 3 {
			t.Fatalf("start %s: %v", what, err)
		}
		t.Logf("start %s: a port was taken meanwhile, trying again with new ports: %v", what, err)
	}
}
