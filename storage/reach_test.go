package storage_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/etcdtest"
)

// A refused connection is known well before the 5 s that etcd's client
// waits for one; the margin allows for two busy cores.
const refusedWithin = 3 * time.Second

// closedPort returns a loopback URL where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return "http://" + addr
}

func TestCheckReachableRefusedAtOnce(t *testing.T) {
	url := closedPort(t)
	cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = storage.CheckReachable(ctx, cli)
	took := time.Since(start)
	var ue *storage.UnreachableError
	if !errors.As(err, &ue) || !errors.Is(err, storage.ErrUnreachable) {
		t.Fatalf("CheckReachable = %v, want an UnreachableError", err)
	}
	if !ue.Refused || err.Error() != "etcd refused the connection at "+url {
		t.Errorf("error %q (refused %v), want a refusal at %s", err, ue.Refused, url)
	}
	if took > refusedWithin {
		t.Errorf("refusal known after %v, want within %v", took, refusedWithin)
	}
}

func TestCheckReachableAnswers(t *testing.T) {
	e, _ := etcdtest.Start(t)
	cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{closedPort(t), e.Endpoint()}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := storage.CheckReachable(ctx, cli); err != nil {
		t.Fatalf("one endpoint of two answers: CheckReachable = %v, want nil", err)
	}
}

// With a user, the client fetches a token before Dial returns: a refusal
// must still be known at once, not after the dial timeout.
func TestDialWithUserRefusedAtOnce(t *testing.T) {
	url := closedPort(t)
	start := time.Now()
	cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{url}, Username: "root", Password: "pw"})
	if err == nil {
		cli.Close()
		t.Fatal("Dial succeeded with nothing listening")
	}
	if took := time.Since(start); !errors.Is(err, storage.ErrUnreachable) || took > refusedWithin {
		t.Errorf("Dial = %v after %v, want ErrUnreachable within %v", err, took, refusedWithin)
	}
	if strings.Contains(err.Error(), "pw") {
		t.Errorf("the error shows the password: %v", err)
	}
}

// The check made before authenticating sends no credentials; an etcd
// with auth on still lets the real client in.
func TestDialWithUserAuthEnabled(t *testing.T) {
	e, root := etcdtest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "pw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("enable auth: %v", err)
		}
	}
	cli, err := storage.Dial(storage.ClientConfig{Endpoints: []string{e.Endpoint()}, Username: "root", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := storage.CheckReachable(ctx, cli); err != nil {
		t.Fatalf("CheckReachable = %v", err)
	}
	if _, err := cli.Put(ctx, "/k", "v"); err != nil {
		t.Fatalf("put as root: %v", err)
	}
}
