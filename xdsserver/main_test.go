package xdsserver

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts, the server's and the clients', has ended
// when the package's tests are done: a stream, server or subscription that
// leaks a goroutine fails the run, naming the goroutine's stack.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
