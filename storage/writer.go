package storage

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// Action is what a write does to one object, in the words the CLI prints.
type Action string

// The actions of a planned write.
const (
	Created    Action = "created"
	Configured Action = "configured"
	Unchanged  Action = "unchanged"
	Deleted    Action = "deleted"
)

// Change is one object's planned write, judged against what was read.
type Change struct {
	Ref     model.Ref
	Action  Action
	Value   []byte  // the value to write; nil for Deleted
	Current *Stored // what etcd held when read; nil if the key was absent
}

// Sentinel errors callers test with errors.Is.
var (
	ErrNotFound = errors.New("storage: key not found")
	ErrConflict = errors.New("storage: keyspace changed since it was read")
)

// PlanPut judges writing value to ref: created if absent, unchanged if the
// stored value means the same object (SameObject), configured otherwise.
func PlanPut(cur *Contents, ref model.Ref, value []byte) Change {
	st := cur.Objects[ref]
	switch {
	case st == nil:
		return Change{Ref: ref, Action: Created, Value: value}
	case SameObject(ref, st.Value, value):
		return Change{Ref: ref, Action: Unchanged, Value: value, Current: st}
	}
	return Change{Ref: ref, Action: Configured, Value: value, Current: st}
}

// PlanDelete plans deleting ref, which must exist.
func PlanDelete(cur *Contents, ref model.Ref) (Change, error) {
	st := cur.Objects[ref]
	if st == nil {
		return Change{}, fmt.Errorf("%s: %w", ref, ErrNotFound)
	}
	return Change{Ref: ref, Action: Deleted, Current: st}, nil
}

// DefaultMaxTxnOps is etcd's default --max-txn-ops: the most operations,
// and separately the most comparisons, one transaction may hold.
const DefaultMaxTxnOps = 128

// guardKinds are the kinds whose every key the first transaction checks is
// unchanged since the read: the translation a write was validated against
// depends on them. Endpoints and health verdicts change all the time
// (registrations, the leader) and would make every apply fail.
var guardKinds = []model.Kind{model.KindService, model.KindRouteTable, model.KindListener, model.KindJWTProvider, model.KindPatch}

// Writer writes planned changes with compare-and-swap transactions, so a
// concurrent writer makes the write fail rather than be overwritten.
type Writer struct {
	cli    *clientv3.Client
	ks     Keyspace
	maxOps int
	cause  []byte // put at ks.ChangesKey() in every transaction, if set (RecordCause)
}

// NewWriter returns a writer whose transactions hold at most maxTxnOps
// operations (DefaultMaxTxnOps if not positive). It must be larger than
// the three guard comparisons.
func NewWriter(cli *clientv3.Client, ks Keyspace, maxTxnOps int) (*Writer, error) {
	if maxTxnOps <= 0 {
		maxTxnOps = DefaultMaxTxnOps
	}
	if maxTxnOps <= len(guardKinds) {
		return nil, fmt.Errorf("max transaction operations %d: want more than %d", maxTxnOps, len(guardKinds))
	}
	return &Writer{cli: cli, ks: ks, maxOps: maxTxnOps}, nil
}

// Batches splits the changes that write something into the transactions
// Commit makes: ordered so that what others refer to is written first
// (services, endpoints, route tables, listeners) and deleted last. A
// transaction holds at most the operation limit (the first leaves room for
// the guard comparisons) and at most MaxTxnBytes of keys and values, unless
// one object alone is larger.
func (w *Writer) Batches(changes []Change) [][]Change {
	var writes []Change
	for _, c := range changes {
		if c.Action != Unchanged {
			writes = append(writes, c)
		}
	}
	sort.SliceStable(writes, func(i, j int) bool { return writeOrder(writes[i]) < writeOrder(writes[j]) })
	var out [][]Change
	limit := w.maxOps - len(guardKinds) - w.sideOps()
	for len(writes) > 0 {
		n, bytes := 0, 0
		for n < len(writes) && n < limit {
			size := len(w.ks.Key(writes[n].Ref)) + len(writes[n].Value)
			if n > 0 && bytes+size > MaxTxnBytes {
				break
			}
			n, bytes = n+1, bytes+size
		}
		out = append(out, writes[:n])
		writes, limit = writes[n:], w.maxOps-w.sideOps()
	}
	return out
}

// MaxTxnBytes bounds the keys and values of one transaction, well below
// etcd's default request limit (--max-request-bytes, 1.5 MiB) so that the
// request's own overhead fits too.
const MaxTxnBytes = 1 << 20

// writeOrder sorts puts by kind order then key, and deletions after them in
// reverse kind order, so a reference never outlives what it refers to for
// longer than needed when the write spans several transactions.
func writeOrder(c Change) string {
	i := slices.Index(model.Kinds, c.Ref.Kind)
	if c.Action == Deleted {
		return fmt.Sprintf("1-%02d-%s", len(model.Kinds)-i, c.Ref)
	}
	return fmt.Sprintf("0-%02d-%s", i, c.Ref)
}

// CommitResult says what Commit wrote.
type CommitResult struct {
	Revision     int64 // etcd's revision after the last transaction; the read revision if nothing was written
	Transactions int
}

// ConflictError is a transaction that found the keyspace changed since it
// was read. Earlier transactions of the same commit stay written.
type ConflictError struct {
	Changed      []model.Ref // objects written or deleted by someone else, sorted
	Committed    int         // transactions written before this one
	Transactions int         // transactions the commit needed
}

// Error names the objects that changed and says what was stored.
func (e *ConflictError) Error() string {
	names := make([]string, len(e.Changed))
	for i, r := range e.Changed {
		names[i] = r.String()
	}
	what := "an object"
	if len(names) > 0 {
		what = strings.Join(names, ", ")
	}
	msg := fmt.Sprintf("%s changed in etcd since it was read; nothing of this write was stored", what)
	if e.Committed > 0 {
		msg = fmt.Sprintf("%s changed in etcd since it was read; %d of %d transactions were stored before that", what, e.Committed, e.Transactions)
	}
	return msg
}

// Unwrap makes errors.Is(err, ErrConflict) true.
func (e *ConflictError) Unwrap() error { return ErrConflict }

// Commit writes every change that is not Unchanged, in the transactions
// Batches lays out. Each transaction writes only if every key it touches
// still has the mod revision read; the first also requires that no
// service, route table or listener was written after readRevision (a
// deletion leaves no key to compare, so etcd cannot catch that one).
// Nothing to write means no transaction at all.
func (w *Writer) Commit(ctx context.Context, readRevision int64, changes []Change) (*CommitResult, error) {
	batches := w.Batches(changes)
	res := &CommitResult{Revision: readRevision}
	for i, batch := range batches {
		rev, err := w.commitBatch(ctx, readRevision, batch, i == 0)
		if err != nil {
			var ce *ConflictError
			if errors.As(err, &ce) {
				ce.Committed, ce.Transactions = i, len(batches)
				return res, ce
			}
			if i > 0 {
				return res, fmt.Errorf("transaction %d of %d (the first %d were stored): %w", i+1, len(batches), i, err)
			}
			return res, err
		}
		res.Revision, res.Transactions = rev, i+1
	}
	return res, nil
}

func (w *Writer) commitBatch(ctx context.Context, readRevision int64, batch []Change, guard bool) (int64, error) {
	var cmps []clientv3.Cmp
	var then, orElse []clientv3.Op
	for _, c := range batch {
		key := w.ks.Key(c.Ref)
		var mod int64
		if c.Current != nil {
			mod = c.Current.ModRevision
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", mod))
		if c.Action == Deleted {
			then = append(then, clientv3.OpDelete(key))
		} else {
			then = append(then, clientv3.OpPut(key, string(c.Value)))
		}
		orElse = append(orElse, clientv3.OpGet(key, clientv3.WithKeysOnly()))
	}
	if w.cause != nil {
		then = append(then, clientv3.OpPut(w.ks.ChangesKey(), string(w.cause)))
	}
	if guard {
		for _, k := range guardKinds {
			prefix := w.ks.KindPrefix(k)
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(prefix), "<", readRevision+1).WithPrefix())
			orElse = append(orElse, clientv3.OpGet(prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly(),
				clientv3.WithMinModRev(readRevision+1)))
		}
	}
	resp, err := w.cli.Txn(ctx).If(cmps...).Then(then...).Else(orElse...).Commit()
	if err != nil {
		return 0, fmt.Errorf("write to etcd: %w", err)
	}
	if !resp.Succeeded {
		return 0, &ConflictError{Changed: w.changedRefs(batch, resp)}
	}
	return resp.Header.Revision, nil
}

// changedRefs reads the failed transaction's Else answers: the batch's keys
// whose mod revision moved, then the guarded keys written after the read.
func (w *Writer) changedRefs(batch []Change, resp *clientv3.TxnResponse) []model.Ref {
	seen := map[model.Ref]bool{}
	var out []model.Ref
	add := func(ref model.Ref) {
		if !seen[ref] {
			seen[ref] = true
			out = append(out, ref)
		}
	}
	for i, r := range resp.Responses {
		rr := r.GetResponseRange()
		if rr == nil {
			continue
		}
		if i < len(batch) {
			var mod int64
			if len(rr.Kvs) > 0 {
				mod = rr.Kvs[0].ModRevision
			}
			if want := batch[i].Current; (want == nil && mod != 0) || (want != nil && want.ModRevision != mod) {
				add(batch[i].Ref)
			}
			continue
		}
		for _, kv := range rr.Kvs {
			if ref, ok := w.ks.Parse(string(kv.Key)); ok {
				add(ref)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
