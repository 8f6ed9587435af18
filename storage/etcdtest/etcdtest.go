// Package etcdtest starts a real, embedded etcd for integration tests.
package etcdtest

import (
	"fmt"
	"net"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/embedetcd"
)

// Start runs a single-node etcd in t.TempDir() on free loopback ports and
// returns a client to it; both are closed when the test ends.
func Start(t testing.TB) (*embedetcd.Etcd, *clientv3.Client) {
	t.Helper()
	e, err := embedetcd.Start(embedetcd.Config{
		DataDir:   t.TempDir(),
		ClientURL: "http://" + freeAddr(t),
		PeerURL:   "http://" + freeAddr(t),
		Logger:    zap.NewNop(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.Endpoint()}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cli.Close(); err != nil {
			t.Errorf("close etcd client: %v", err)
		}
	})
	return e, cli
}

func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(fmt.Errorf("find a free port: %w", err))
	}
	defer l.Close()
	return l.Addr().String()
}
