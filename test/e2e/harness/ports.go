package harness

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// The ports FreePort hands out lie below Linux's ephemeral range (32768 and
// up by default), so no outgoing connection of any process can hold one as
// its local port when Envoy or etcd binds it later: a port picked by
// listening on :0 comes from the ephemeral range and was lost that way.
const (
	firstPort = 20000
	lastPort  = 32767
)

// ports is this test binary's share of the range. Each port handed out is
// held by an flock on a file in portLockDir, released by the kernel when the
// process ends, so test binaries of other packages running at the same time
// never hand out the same port.
var ports struct {
	sync.Mutex
	locks []*os.File // held until the process exits
	next  int
}

var portLockDir = filepath.Join(os.TempDir(), "chancery-test-ports")

// FreePort returns a loopback TCP port below the ephemeral range that no other
// test process holds and that was free a moment ago. A process outside the
// tests can still take it before it is bound; the Start functions retry with
// new ports when that happens.
func FreePort(t testing.TB) int {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return port
}

func freePort() (int, error) {
	ports.Lock()
	defer ports.Unlock()
	if err := os.MkdirAll(portLockDir, 0o777); err != nil {
		return 0, err
	}
	const span = lastPort - firstPort + 1
	if ports.next == 0 {
		ports.next = firstPort + rand.IntN(span) // spread the binaries over the range
	}
	for range span {
		port := ports.next
		if ports.next++; ports.next > lastPort {
			ports.next = firstPort
		}
		lock, ok := lockPort(port)
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", loopback(port))
		if err != nil {
			lock.Close() // something outside the tests has it
			continue
		}
		if err := l.Close(); err != nil {
			lock.Close()
			return 0, err
		}
		ports.locks = append(ports.locks, lock)
		return port, nil
	}
	return 0, fmt.Errorf("every port in %d-%d is held", firstPort, lastPort)
}

// lockPort takes the port's lock file, or reports that another live test
// process holds it.
func lockPort(port int) (*os.File, bool) {
	f, err := os.OpenFile(filepath.Join(portLockDir, fmt.Sprint(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, false
	}
	return f, true
}
