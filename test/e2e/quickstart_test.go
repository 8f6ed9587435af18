package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// The Quick start runs on the fixed ports it documents: the replica's
// defaults (embedded etcd 2379 and 2380, admin 9400), the xDS address of
// make run (18000), the bootstrap's Envoy admin port (9901), and the
// listener and upstream ports it writes (10000, 8081). Every other test
// takes its ports from the kernel's ephemeral range (harness.FreePort),
// which on Linux starts well above these; checkQuickStartPorts makes sure
// that holds here and that nothing listens on them, and a lock file keeps
// two runs of this test (two `go test` at once) apart.
var quickStartPorts = []int{2379, 2380, 9400, 18000, 9901, 10000, 8081}

// The checkpoint the test inserts before the README's last block: the
// script says it is there and waits until the test has looked.
const checkpointLine = "quickstart: checkpoint"

// TestReadmeQuickStart runs the README's Quick start as written, command
// by command, in a scratch directory (its data directory, bootstrap and
// logs go there; make runs in the repository), and checks that its curl
// is answered by the upstream through a real Envoy, that examples/ goes
// beside it without a collision, and that its last command stops it all.
func TestReadmeQuickStart(t *testing.T) {
	root := harness.RepoRoot(t)
	blocks := quickStartBlocks(t, filepath.Join(root, "README.md"))
	tools := requireQuickStartTools(t, root)
	lockQuickStartPorts(t)
	checkQuickStartPorts(t, strings.Join(blocks, "\n"))

	dir := t.TempDir()
	for _, name := range []string{"bin", "examples"} {
		if err := os.Symlink(filepath.Join(root, name), filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	shims := filepath.Join(dir, ".shims")
	// make runs in the repository, as in a clone, with its data directory
	// in the scratch directory.
	writeExecutable(t, filepath.Join(shims, "make"), fmt.Sprintf("#!/bin/sh\nexec %q -C %q DATA_DIR=%q \"$@\"\n",
		tools["make"], root, filepath.Join(dir, "chancery-data")))
	gate := filepath.Join(dir, ".gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	last := blocks[len(blocks)-1]
	if !strings.Contains(last, "kill") {
		t.Fatalf("the Quick start's last block does not stop what it started:\n%s", last)
	}
	script := strings.Join(blocks[:len(blocks)-1], "\n") +
		fmt.Sprintf("\necho %q\nread -r _ < %q\n", checkpointLine, gate) + last
	writeExecutable(t, filepath.Join(dir, ".quickstart.sh"), script)

	start := time.Now()
	qs := startScript(t, dir, "quickstart", scriptEnv(shims), tools["bash"], "-e", "-x", ".quickstart.sh")
	qs.waitFor(t, 150*time.Second, checkpointLine)
	t.Logf("Quick start up to its last block: %v", time.Since(start).Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("--- Quick start output ---\n%s", qs.output())
	}
	checkQuickStartOutput(t, qs.output())
	checkQuickStartRunning(t)

	if err := os.WriteFile(gate, []byte("go\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := qs.wait(30 * time.Second); err != nil {
		t.Fatalf("Quick start script: %v\n%s", err, qs.output())
	}
	waitPortsFree(t, 30*time.Second)
	t.Logf("Quick start, stopped: %v", time.Since(start).Round(time.Millisecond))
}

// quickStartBlocks returns the sh code blocks of the README's Quick start
// section, in order.
func quickStartBlocks(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Quick start\n")
	if !ok {
		t.Fatal("README.md has no ## Quick start section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var blocks []string
	for {
		_, rest, ok := strings.Cut(section, "\n```sh\n")
		if !ok {
			break
		}
		block, after, ok := strings.Cut(rest, "\n```\n")
		if !ok {
			t.Fatal("README.md: a Quick start code block is not closed")
		}
		blocks = append(blocks, block+"\n")
		section = after
	}
	if len(blocks) < 2 {
		t.Fatalf("README.md: %d sh blocks in the Quick start", len(blocks))
	}
	return blocks
}

// requireQuickStartTools returns the programs the Quick start runs, by
// name; a missing one skips the test (fails it with CHANCERY_E2E=required).
func requireQuickStartTools(t *testing.T, root string) map[string]string {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CHANCERY_E2E") == "required" {
			t.Fatalf("%s is missing: run make envoy build", what)
		}
		t.Skipf("%s is missing: run make envoy build (CHANCERY_E2E=required turns this skip into a failure)", what)
	}
	for _, name := range []string{"envoy", "etcdctl", "chancery", "chanceryctl"} {
		if _, err := os.Stat(filepath.Join(root, "bin", name)); err != nil {
			missing("bin/" + name)
		}
	}
	tools := map[string]string{}
	for _, name := range []string{"make", "bash", "curl", "python3"} {
		path, err := exec.LookPath(name)
		if err != nil {
			missing(name)
		}
		tools[name] = path
	}
	return tools
}

// lockQuickStartPorts holds a lock, machine-wide, until the test ends:
// one Quick start at a time.
func lockQuickStartPorts(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "chancery-readme-quickstart.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
	harness.Eventually(t, 5*time.Minute, 200*time.Millisecond, func() error {
		return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	})
}

// checkQuickStartPorts fails unless the ports are out of the kernel's
// ephemeral range and free, and names the ports the script writes.
func checkQuickStartPorts(t *testing.T, script string) {
	t.Helper()
	for _, p := range []string{"127.0.0.1:9400", "127.0.0.1:18000", "127.0.0.1:10000", "port: 10000", "8081"} {
		if !strings.Contains(script, p) {
			t.Fatalf("the Quick start no longer uses %s: update quickStartPorts", p)
		}
	}
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		var lo, hi int
		if _, err := fmt.Sscan(string(b), &lo, &hi); err == nil {
			for _, p := range quickStartPorts {
				if p >= lo && p <= hi {
					t.Fatalf("port %d is in the ephemeral range %d-%d, where other tests take their ports", p, lo, hi)
				}
			}
		}
	}
	for _, p := range quickStartPorts {
		if err := quickStartPortFree(p); err != nil {
			t.Fatalf("the Quick start needs port %d: %v (a make run or make demo still running?)", p, err)
		}
	}
}

func quickStartPortFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return err
	}
	return l.Close()
}

func waitPortsFree(t *testing.T, timeout time.Duration) {
	t.Helper()
	harness.Eventually(t, timeout, 100*time.Millisecond, func() error {
		var errs []error
		for _, p := range quickStartPorts {
			if err := quickStartPortFree(p); err != nil {
				errs = append(errs, fmt.Errorf("port %d still taken after the last block: %w", p, err))
			}
		}
		return errors.Join(errs...)
	})
}

func writeExecutable(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}
