// Package harness runs the real binaries of an end-to-end test (etcd, etcdctl,
// Envoy, chancery) and the small loopback servers around them, and cleans all of
// it up when the test ends.
//
// Every process writes its stdout and stderr to a log file under t.TempDir(),
// whose tail is logged when the test fails. Methods that take no testing.TB use
// the one their constructor was given, so call them from the test's goroutine.
package harness

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, found by walking up from the
// working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	root, err := repoRoot()
	if err != nil {
		t.Fatalf("find repository root: %v", err)
	}
	return root
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// binary returns the path of bin/<name> in the repository. A missing binary skips
// the test, or fails it when CHANCERY_E2E=required (as in CI, where a skipped
// end-to-end suite would pass silently).
func binary(t testing.TB, name string) string {
	t.Helper()
	path := filepath.Join(RepoRoot(t), "bin", name)
	info, err := os.Stat(path)
	if err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return path
	}
	if os.Getenv("CHANCERY_E2E") == "required" {
		t.Fatalf("%s is missing: run make tools", path)
	}
	t.Skipf("%s is missing: run make tools (CHANCERY_E2E=required turns this skip into a failure)", path)
	return ""
}

func loopback(port int) string { return fmt.Sprintf("127.0.0.1:%d", port) }
