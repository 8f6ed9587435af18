// Command chanceryctl is the operator's tool for Chancery: it applies and
// validates configuration, shows what the replicas accept, generates Envoy
// bootstraps and registers a VM's endpoints under an etcd lease.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/chancery-xds/chancery/storage/model"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit statuses. diff also exits 1 when it finds differences, as diff(1)
// and kubectl diff do.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	// SIGTERM and SIGINT end the context: `endpoint register` deregisters
	// and exits 0; any other command stops its etcd request.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit status. Everything
// the command reads and writes goes through its arguments, so tests run
// it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) (string, bool)) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, env: env}
	root := newRoot(a)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	code, usage := exitFailure, false
	var ee *exitError
	switch {
	case errors.As(err, &ee):
		code, usage = ee.code, ee.usage
	case !a.started:
		// Cobra failed before any command ran: an unknown command or
		// flag, or wrong arguments.
		code, usage = exitUsage, true
	}
	msg := model.SafeText(oneLine(err.Error()), model.ReasonTextMax) // it may quote a key as etcd holds it
	if usage {
		msg += fmt.Sprintf(" (see '%s --help')", strings.TrimSpace("chanceryctl "+commandPath(root, args)))
	}
	if msg != "" {
		fmt.Fprintf(stderr, "chanceryctl: %s\n", msg)
	}
	return code
}

// exitError is an error with a specific exit status.
type exitError struct {
	code  int
	usage bool // the command line is wrong: point at --help
	err   error
}

// Error is the message, empty for a bare status (diff finding differences).
func (e *exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}

// Unwrap returns the error carried.
func (e *exitError) Unwrap() error { return e.err }

// usageErrorf is an error in how the command was called: exit status 2.
func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, usage: true, err: fmt.Errorf(format, args...)}
}

// oneLine keeps an error on one line: cobra's suggestions and joined errors
// come with newlines and tabs.
func oneLine(s string) string {
	if before, after, ok := strings.Cut(s, "\n\nDid you mean this?\n"); ok {
		s = before + " (did you mean " + strings.Join(strings.Fields(after), " or ") + "?)"
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == '\t' })
	for i := range fields {
		fields[i] = strings.TrimSpace(fields[i])
	}
	return strings.Join(fields, "; ")
}

// commandPath names the command args select, for the usage hint.
func commandPath(root *cobra.Command, args []string) string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == root {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), root.Name()+" ")
}
