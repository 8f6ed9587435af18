package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// maxFallbackSteps bounds how many earlier versions of one key are read to
// find its last accepted one. The bound is part of the rule, the same on
// every replica; beyond it only the status record can stand in.
const maxFallbackSteps = 64

// fallBack finds the last accepted version of a key whose live value is
// rejected as a whole, and serves it in the live value's place (see
// lastAccepted). It retries while etcd is unreachable and fails only when
// ctx ends.
func (w *Watcher) fallBack(ctx context.Context, e *entry) error {
	backoff := 100 * time.Millisecond
	for {
		err := lastAccepted(ctx, w.cfg.Client, w.cfg.Keyspace, e, func() (*ServingRecord, error) { return w.records[e.ref], nil })
		if err == nil || ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("reading a rejected object's history failed, retrying", zap.String("key", e.ref.String()),
			zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// lastAccepted serves, in place of a rejected live value, the newest
// earlier version of the same key (since its creation) that is accepted,
// from etcd's history; where that history is compacted, the version the
// leader recorded in status/ for this very live value. Finding neither
// leaves the entry rejected. record returns the status record, if any.
func lastAccepted(ctx context.Context, cli *clientv3.Client, ks Keyspace, e *entry, record func() (*ServingRecord, error)) error {
	found, err := history(ctx, cli, ks, e)
	if found {
		return nil
	}
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return err
	}
	rec, err := record()
	if err != nil {
		return err
	}
	if rec != nil && rec.For == e.mod {
		e.fallBack(rec.Revision, rec.Value)
	}
	return nil
}

// history walks the key's earlier versions, newest first, back to its
// creation, and falls back to the first one accepted.
func history(ctx context.Context, cli *clientv3.Client, ks Keyspace, e *entry) (bool, error) {
	key := ks.Key(e.ref)
	rev := e.mod - 1
	for range maxFallbackSteps {
		if rev < e.created {
			return false, nil
		}
		resp, err := cli.Get(ctx, key, clientv3.WithRev(rev))
		if err != nil {
			return false, fmt.Errorf("read %s at revision %d: %w", key, rev, err)
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != e.created {
			return false, nil // not this incarnation of the key
		}
		old := resp.Kvs[0]
		if e.fallBack(old.ModRevision, old.Value) {
			return true, nil
		}
		rev = old.ModRevision - 1
	}
	return false, nil
}

// readRecord reads the status record of one object.
func readRecord(ctx context.Context, cli *clientv3.Client, ks Keyspace, e *entry) (*ServingRecord, error) {
	return readRecordAt(ctx, cli, ks, e, 0)
}

// readRecordAt reads the status record of one object as it stood at
// revision rev (0: now).
func readRecordAt(ctx context.Context, cli *clientv3.Client, ks Keyspace, e *entry, rev int64) (*ServingRecord, error) {
	key := ks.StatusKey(e.ref)
	var opts []clientv3.OpOption
	if rev != 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctx, key, opts...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return nil, nil
	}
	rec, _ := servingRecord(resp.Kvs[0].Value)
	return rec, nil
}
