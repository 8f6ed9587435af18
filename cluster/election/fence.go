package election

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage"
)

// ErrDeposed is returned by a fenced write when this replica no longer holds
// the election key it was elected with: another replica leads, or its session
// ended. Nothing was written.
var ErrDeposed = errors.New("cluster: leadership lost")

// A term's work bounds each fenced write by WriteTimeout and, while it
// leads, tries a failed one again after RetryDelay.
const (
	WriteTimeout = 5 * time.Second
	RetryDelay   = time.Second
)

// Fence makes writes conditional on leadership: every transaction compares
// the create revision of the election key this replica won with, so once the
// key is gone (session expired, resigned, deleted) or belongs to a newer
// campaign, etcd refuses the write. A deposed leader that has not noticed yet
// cannot change anything.
type Fence struct {
	cli *clientv3.Client
	key string // the election key this replica created
	rev int64  // its create revision
}

// NewFence fences writes on the election key key created at revision rev
// (concurrency.Election's Key and Rev after a won Campaign).
func NewFence(cli *clientv3.Client, key string, rev int64) *Fence {
	return &Fence{cli: cli, key: key, rev: rev}
}

// Commit applies ops in as few fenced transactions as etcd's default op
// limit (storage.DefaultMaxTxnOps) allows, in order, and returns the
// revision of the last one. A failed comparison is ErrDeposed; the
// transactions committed before it stay committed, and each was fenced on
// its own.
func (f *Fence) Commit(ctx context.Context, ops []clientv3.Op) (int64, error) {
	var rev int64
	for len(ops) > 0 {
		n := min(len(ops), storage.DefaultMaxTxnOps)
		resp, err := f.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev)).
			Then(ops[:n]...).
			Commit()
		if err != nil {
			return rev, fmt.Errorf("fenced write of %d keys: %w", n, err)
		}
		if !resp.Succeeded {
			return rev, ErrDeposed
		}
		rev = resp.Header.Revision
		ops = ops[n:]
	}
	return rev, nil
}
