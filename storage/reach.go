package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ErrUnreachable means that no etcd endpoint accepted a connection.
var ErrUnreachable = errors.New("storage: etcd unreachable")

// UnreachableError says why no etcd endpoint accepted a connection. It
// matches ErrUnreachable.
type UnreachableError struct {
	Endpoints []string
	// Refused: the last attempt was refused, as when nothing listens at
	// the address.
	Refused bool
	// Reason is gRPC's account of the last failed attempt, such as a dial
	// or TLS handshake error.
	Reason string
}

// Error is "etcd refused the connection at URL" or "etcd unreachable at URL: reason".
func (e *UnreachableError) Error() string {
	at := strings.Join(e.Endpoints, ",")
	if e.Refused {
		return "etcd refused the connection at " + at
	}
	return fmt.Sprintf("etcd unreachable at %s: %s", at, e.Reason)
}

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *UnreachableError) Is(target error) bool { return target == ErrUnreachable }

// CheckReachable makes one request that fails as soon as an attempt to
// connect fails, where etcd's client would wait for a connection until the
// request's deadline: a refused connection is known at once. It returns an
// *UnreachableError when no endpoint accepts a connection, ctx's error
// when ctx ends first, and nil once any endpoint answers, whatever it
// answers (a request's own error is the request's to report).
func CheckReachable(ctx context.Context, cli *clientv3.Client) error {
	// gRPC fails a request that does not wait for readiness as soon as
	// the channel is in TRANSIENT_FAILURE, that is once every endpoint
	// has failed to connect; a request that reached no server has no
	// peer address.
	var p peer.Peer
	_, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Status(ctx, &pb.StatusRequest{},
		grpc.WaitForReady(false), grpc.Peer(&p))
	if err == nil || p.Addr != nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("connect to etcd at %s: %w", strings.Join(cli.Endpoints(), ","), ctx.Err())
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.Unavailable {
		return nil
	}
	return &UnreachableError{
		Endpoints: cli.Endpoints(),
		Refused:   strings.Contains(st.Message(), syscall.ECONNREFUSED.Error()),
		Reason:    st.Message(),
	}
}

// checkBeforeAuth returns an *UnreachableError if no endpoint of cc
// accepts a connection, found with a client that sends no credentials;
// nil otherwise, leaving every other problem to the real client.
func checkBeforeAuth(cc clientv3.Config) error {
	cc.Username, cc.Password = "", ""
	cli, err := clientv3.New(cc)
	if err != nil {
		return nil // the real client reports it
	}
	defer func() { _ = cli.Close() }() // only in-flight requests can fail to close, and there are none
	ctx, cancel := context.WithTimeout(context.Background(), cc.DialTimeout)
	defer cancel()
	if err := CheckReachable(ctx, cli); errors.Is(err, ErrUnreachable) {
		return err
	}
	return nil
}
