package clustertest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests of one of the cluster's packages, and fails the run
// if a goroutine of the cluster's packages, or an etcd session or election
// one opened, outlives them: every component must be waited for by its
// owner. Call it from TestMain; it does not return.
func Main(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leakedGoroutines(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines leaked by the cluster's packages:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// leakedGoroutines waits up to timeout for every goroutine running code of
// the cluster's packages or of etcd's concurrency package to end, and
// returns the stacks of those that did not.
func leakedGoroutines(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 4<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "testing.(*M)") || strings.Contains(g, "leakedGoroutines") {
				continue
			}
			if strings.Contains(g, "chancery/cluster.") || strings.Contains(g, "chancery/cluster/") || strings.Contains(g, "etcd/client/v3/concurrency.") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond) // polling for goroutines to exit: nothing to wait on
	}
}
