package harness

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// Pause sends SIGSTOP: the member keeps its connections open and answers
// nothing, as a hung process or host does. The test's end resumes it.
func (e *Etcd) Pause() {
	e.t.Helper()
	if err := e.proc.signal(syscall.SIGSTOP); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		// Resumed already, or gone: either way nothing is left stopped.
		if e.proc.running() {
			if err := e.proc.signal(syscall.SIGCONT); err != nil {
				e.t.Errorf("resume %s: %v", e.name, err)
			}
		}
	})
}

// Resume sends SIGCONT to a paused member.
func (e *Etcd) Resume() {
	e.t.Helper()
	if err := e.proc.signal(syscall.SIGCONT); err != nil {
		e.t.Fatal(err)
	}
}

// signal sends sig to the current run.
func (p *process) signal(sig syscall.Signal) error {
	if !p.running() {
		return fmt.Errorf("signal %s: not running", p.name)
	}
	if err := p.run.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s with %v: %w", p.name, sig, err)
	}
	return nil
}
