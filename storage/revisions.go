package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// changesSegment holds what chanceryctl records about its own writes
// (ChangesKey). It holds no model object: the watcher rebuilds nothing
// for it and reports it as nothing ignored.
const changesSegment = "changes"

// ChangesKey is "<prefix>/changes/last": the cause of the last write a
// recording Writer made, put in the same transaction as the objects. Its
// history in etcd is the log of those writes: the version whose mod
// revision is an object version's says who made that one. A write without
// one (etcdctl, another tool) has none, and nothing else changes for it.
func (k Keyspace) ChangesKey() string { return k.prefix + "/" + changesSegment + "/last" }

// ChangeCause is who made a write, with what and why.
type ChangeCause struct {
	By      string    `json:"by,omitempty"`      // the operating-system user
	Host    string    `json:"host,omitempty"`    // where the tool ran
	Tool    string    `json:"tool,omitempty"`    // e.g. "chanceryctl rollback"
	Version string    `json:"version,omitempty"` // the tool's version
	Cause   string    `json:"cause,omitempty"`   // the operator's words (--cause)
	At      time.Time `json:"at,omitzero"`       // the tool's clock when it wrote
}

// MaxCauseBytes bounds ChangeCause.Cause.
const MaxCauseBytes = 512

// RecordCause makes every transaction Commit writes also put c at
// ChangesKey. That takes one operation of each transaction.
func (w *Writer) RecordCause(c ChangeCause) error {
	if w.maxOps <= len(guardKinds)+1 {
		return fmt.Errorf("max transaction operations %d: want more than %d to record the change cause", w.maxOps, len(guardKinds)+1)
	}
	if len(c.Cause) > MaxCauseBytes {
		return fmt.Errorf("cause of %d bytes: at most %d", len(c.Cause), MaxCauseBytes)
	}
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("encode change cause: %w", err)
	}
	w.cause = b
	return nil
}

// sideOps is the operations each transaction holds besides the changes
// and the guards.
func (w *Writer) sideOps() int {
	if w.cause != nil {
		return 1
	}
	return 0
}

// ParseChangeCause reads a ChangesKey value; anyone may write that key,
// so a value that does not decode is no cause rather than an error.
func ParseChangeCause(value []byte) (*ChangeCause, bool) {
	var c ChangeCause
	if json.Unmarshal(value, &c) != nil {
		return nil, false
	}
	return &c, true
}

// CompactedError is a revision etcd no longer holds.
type CompactedError struct {
	Revision int64 // the one asked for
	Oldest   int64 // the oldest etcd still holds (its compaction revision)
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("revision %d is compacted; the oldest revision etcd still holds is %d", e.Revision, e.Oldest)
}

// Unwrap makes errors.Is(err, rpctypes.ErrCompacted) true.
func (e *CompactedError) Unwrap() error { return rpctypes.ErrCompacted }

// FutureError is a revision etcd has not reached.
type FutureError struct {
	Revision, Head int64
}

func (e *FutureError) Error() string {
	return fmt.Sprintf("revision %d is in the future; etcd is at revision %d", e.Revision, e.Head)
}

// revisionError explains an error of a read at rev: compacted, naming the
// oldest revision held, or in the future; anything else is returned as is.
func revisionError(ctx context.Context, cli *clientv3.Client, ks Keyspace, rev int64, err error) error {
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		oldest, oerr := OldestRevision(ctx, cli, ks)
		if oerr != nil {
			return fmt.Errorf("revision %d is compacted (the oldest revision held is unknown: %w)", rev, oerr)
		}
		return &CompactedError{Revision: rev, Oldest: oldest}
	case errors.Is(err, rpctypes.ErrFutureRev):
		resp, herr := cli.Get(ctx, ks.ChangesKey(), clientv3.WithCountOnly())
		if herr != nil {
			return err
		}
		return &FutureError{Revision: rev, Head: resp.Header.Revision}
	}
	return err
}

// OldestRevision is the oldest revision etcd still holds: its last
// compaction revision, or 1 if it never compacted. etcd says so only to a
// watch that starts before it, so one is opened on a key that holds
// nothing; without a compaction that reads the whole history once.
func OldestRevision(ctx context.Context, cli *clientv3.Client, ks Keyspace) (int64, error) {
	_, err := ReadEvents(ctx, cli, ks.Prefix()+"\x00", "", 1)
	var ce *CompactedError
	if errors.As(err, &ce) {
		return ce.Oldest, nil
	}
	if err != nil {
		return 0, err
	}
	return 1, nil
}

// EventType is what one write did to a key.
type EventType string

// The event types of a key's history.
const (
	EventCreate EventType = "create"
	EventModify EventType = "modify"
	EventDelete EventType = "delete"
)

// Event is one write to one key, as etcd's history holds it.
type Event struct {
	Key      string
	Type     EventType
	Revision int64  // of the write, a deletion's too
	Value    []byte // nil for a deletion
	Lease    int64  // the lease the value was put under; 0 for none
	Prev     []byte // the value before, when there was one and etcd still holds it
	// PrevRevision is the mod revision of Prev.
	PrevRevision int64
}

// Window is the writes to a range of keys between two revisions.
type Window struct {
	From   int64 // the first revision read
	Head   int64 // etcd's revision when the read started: the last one read
	Events []Event
}

// progressEvery is how often ReadEvents asks etcd whether its watch has
// caught up; etcd answers only once it has.
const progressEvery = 25 * time.Millisecond

// ReadEvents returns every write to the keys [key, end) (key alone if end
// is "") from revision from up to etcd's revision when the call starts,
// oldest first. from 0 means the oldest revision etcd still holds; a from
// etcd has compacted is a *CompactedError. The read is a watch from
// that revision, ended once etcd reports it has sent everything up to
// the head (a progress notification); ctx bounds it.
func ReadEvents(ctx context.Context, cli *clientv3.Client, key, end string, from int64) (*Window, error) {
	head, err := cli.Get(ctx, key, clientv3.WithCountOnly())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	w := &Window{From: from, Head: head.Header.Revision}
	if from == 0 {
		w.From = 1
		err := w.read(ctx, cli, key, end)
		var ce *CompactedError
		if !errors.As(err, &ce) {
			return w, err
		}
		// Compaction may move on between the two reads; the bound is
		// etcd's, not this loop's.
		w.From, w.Events = ce.Oldest, nil
	}
	if w.From > w.Head {
		return w, nil
	}
	return w, w.read(ctx, cli, key, end)
}

func (w *Window) read(ctx context.Context, cli *clientv3.Client, key, end string) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	watcher := clientv3.NewWatcher(cli)
	defer watcher.Close()
	opts := []clientv3.OpOption{clientv3.WithRev(w.From), clientv3.WithPrevKV()}
	if end != "" {
		opts = append(opts, clientv3.WithRange(end))
	}
	ch := watcher.Watch(wctx, key, opts...)
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("read the history of %s: %w", key, ctx.Err())
		case <-tick.C:
			// An error here is the stream's; the watch channel reports it.
			_ = watcher.RequestProgress(wctx)
		case wr, ok := <-ch:
			if !ok {
				if ctx.Err() != nil {
					return fmt.Errorf("read the history of %s: %w", key, ctx.Err())
				}
				return fmt.Errorf("read the history of %s: the watch ended", key)
			}
			if wr.CompactRevision != 0 {
				return &CompactedError{Revision: w.From, Oldest: wr.CompactRevision}
			}
			if err := wr.Err(); err != nil {
				return fmt.Errorf("read the history of %s: %w", key, err)
			}
			for _, ev := range wr.Events {
				if ev.Kv.ModRevision > w.Head {
					return nil
				}
				w.Events = append(w.Events, eventOf(ev))
			}
			if wr.IsProgressNotify() && wr.Header.Revision >= w.Head {
				return nil
			}
		}
	}
}

func eventOf(ev *clientv3.Event) Event {
	e := Event{Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}
	switch {
	case ev.Type == mvccpb.DELETE:
		e.Type = EventDelete
	case ev.IsCreate():
		e.Type, e.Value, e.Lease = EventCreate, ev.Kv.Value, ev.Kv.Lease
	default:
		e.Type, e.Value, e.Lease = EventModify, ev.Kv.Value, ev.Kv.Lease
	}
	if ev.PrevKv != nil {
		e.Prev, e.PrevRevision = ev.PrevKv.Value, ev.PrevKv.ModRevision
	}
	return e
}

// CausesAt reads the change cause recorded at each revision, if any.
func CausesAt(ctx context.Context, cli *clientv3.Client, ks Keyspace, revs []int64) (map[int64]*ChangeCause, error) {
	out := map[int64]*ChangeCause{}
	for _, rev := range revs {
		if _, done := out[rev]; done {
			continue
		}
		resp, err := cli.Get(ctx, ks.ChangesKey(), clientv3.WithRev(rev))
		if err != nil {
			return nil, revisionError(ctx, cli, ks, rev, fmt.Errorf("read %s at revision %d: %w", ks.ChangesKey(), rev, err))
		}
		if len(resp.Kvs) == 1 && resp.Kvs[0].ModRevision == rev {
			if c, ok := ParseChangeCause(resp.Kvs[0].Value); ok {
				out[rev] = c
			}
		}
	}
	return out, nil
}

// ReadContentsAt reads the objects of the given kinds (every kind if none)
// as etcd held them at revision rev, judged as ReadContents judges them:
// a rejected value falls back on its history before rev, or on the
// leader's status record as it stood at rev. A compacted revision is a
// *CompactedError, one not yet reached a *FutureError.
func ReadContentsAt(ctx context.Context, cli *clientv3.Client, ks Keyspace, rev int64, kinds ...model.Kind) (*Contents, error) {
	if rev <= 0 {
		return nil, fmt.Errorf("revision %d: want a positive revision", rev)
	}
	if len(kinds) == 0 {
		kinds = model.Kinds
	}
	c := &Contents{Revision: rev, Objects: map[model.Ref]*Stored{}}
	err := func() error {
		for _, kind := range kinds {
			if err := c.readPrefix(ctx, cli, ks, ks.KindPrefix(kind)); err != nil {
				return err
			}
		}
		if len(kinds) == len(model.Kinds) {
			return c.readIgnored(ctx, cli, ks)
		}
		return nil
	}()
	if err != nil {
		return nil, revisionError(ctx, cli, ks, rev, err)
	}
	for _, st := range c.Objects {
		e := st.entry()
		if !e.wantsFallback() {
			continue
		}
		if err := lastAccepted(ctx, cli, ks, &e, func() (*ServingRecord, error) { return readRecordAt(ctx, cli, ks, &e, rev) }); err != nil {
			return nil, err
		}
		st.Serving = e.serving
	}
	return c, nil
}
