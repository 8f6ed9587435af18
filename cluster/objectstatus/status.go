// Package objectstatus is the leader's record of what became of every
// operator object: status/<kind>/<name> follows the translator's verdict,
// accepted or rejected with the reason, written through the term's fence.
package objectstatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/cluster/internal/mailbox"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// Input is what the writer works from: one model snapshot, as the
// replica's watcher built it, and the rejections the translator found in
// it (nil: the snapshot's own are all there are).
type Input struct {
	Snapshot *model.Snapshot
	Rejected []model.Rejection
}

// Writer keeps status/<kind>/<name> equal to the translator's verdict on
// every operator object: accepted, or rejected with the reason. It writes
// only what changed, fenced, and deletes the status of objects that are gone.
// Health verdicts get no status: the leader writes them itself.
type Writer struct {
	cli     *clientv3.Client
	ks      storage.Keyspace
	fence   *election.Fence
	log     *zap.Logger
	current map[string]storage.ObjectStatus // etcd key -> what etcd holds
}

// NewWriter returns the writer of one term, writing through fence; Run
// runs it.
func NewWriter(cli *clientv3.Client, ks storage.Keyspace, fence *election.Fence, log *zap.Logger) *Writer {
	return &Writer{cli: cli, ks: ks, fence: fence, log: log}
}

// Run writes the status of each newest input until ctx ends (nil) or a
// fenced write is refused (election.ErrDeposed).
func (w *Writer) Run(ctx context.Context, in *mailbox.Mailbox[*Input]) error {
	var retry <-chan time.Time
	latest, dirty := in.Take(), true
	for {
		if dirty && latest != nil {
			err := w.sync(ctx, latest)
			switch {
			case err == nil:
				dirty = false
			case errors.Is(err, election.ErrDeposed):
				return err
			case ctx.Err() != nil:
				return nil
			default:
				w.log.Warn("writing object status failed, retrying", zap.Error(err))
				retry = time.After(election.RetryDelay)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.Ready():
			latest, dirty = in.Take(), true
		case <-retry:
			retry = nil
		}
	}
}

// sync reads what etcd holds the first time, then writes the difference
// between it and in's verdicts.
func (w *Writer) sync(ctx context.Context, in *Input) error {
	ctx, cancel := context.WithTimeout(ctx, election.WriteTimeout)
	defer cancel()
	if w.current == nil {
		current, err := w.load(ctx)
		if err != nil {
			return err
		}
		w.current = current
	}
	want := desiredStatus(w.ks, in)
	var keys []string
	for key, st := range want {
		if have, ok := w.current[key]; ok && have.Same(st) {
			want[key] = have // unchanged: keep the revision it got this state at
			continue
		}
		keys = append(keys, key)
	}
	for key := range w.current {
		if _, ok := want[key]; !ok {
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	sort.Strings(keys)
	ops := make([]clientv3.Op, 0, len(keys))
	for _, key := range keys {
		st, ok := want[key]
		if !ok {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		b, err := json.Marshal(st)
		if err != nil {
			return fmt.Errorf("encode status %s: %w", key, err)
		}
		ops = append(ops, clientv3.OpPut(key, string(b)))
	}
	if _, err := w.fence.Commit(ctx, ops); err != nil {
		w.current = nil // part may have been written: read again before the next try
		return err
	}
	w.current = want
	w.log.Debug("object status written", zap.Int("keys", len(ops)), zap.Int64("revision", in.Snapshot.Revision))
	return nil
}

// load reads the status etcd holds, which the previous leader wrote: only
// what differs from it is written again.
func (w *Writer) load(ctx context.Context) (map[string]storage.ObjectStatus, error) {
	resp, err := w.cli.Get(ctx, w.ks.StatusPrefix(), clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", w.ks.StatusPrefix(), err)
	}
	out := make(map[string]storage.ObjectStatus, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var st storage.ObjectStatus
		if err := json.Unmarshal(kv.Value, &st); err != nil {
			st = storage.ObjectStatus{State: "unreadable"} // differs from any verdict, so it is rewritten
		}
		out[string(kv.Key)] = st
	}
	return out, nil
}

// desiredStatus is the status of every operator object in a snapshot: the
// objects it holds are accepted, unless the snapshot or the translator
// rejected them, and the objects it rejected outright are rejected.
func desiredStatus(ks storage.Keyspace, in *Input) map[string]storage.ObjectStatus {
	snap, rev := in.Snapshot, in.Snapshot.Revision
	out := make(map[string]storage.ObjectStatus)
	accept := func(kind model.Kind, name string) {
		out[ks.StatusKey(model.Ref{Kind: kind, Name: name})] = storage.ObjectStatus{State: storage.StatusAccepted, Revision: rev}
	}
	for name := range snap.Services {
		accept(model.KindService, name)
	}
	for svc, eps := range snap.Endpoints {
		for id := range eps {
			accept(model.KindEndpoint, svc+"/"+id)
		}
	}
	for name := range snap.RouteTables {
		accept(model.KindRouteTable, name)
	}
	for name := range snap.Listeners {
		accept(model.KindListener, name)
	}
	for name := range snap.JWTProviders {
		accept(model.KindJWTProvider, name)
	}
	for name := range snap.Patches {
		accept(model.KindPatch, name)
	}
	for name, sec := range snap.Secrets {
		key := ks.StatusKey(model.Ref{Kind: model.KindSecret, Name: name})
		out[key] = storage.ObjectStatus{State: storage.StatusAccepted, Revision: rev, NotAfter: sec.NotAfter().UTC()}
	}
	rejected := in.Rejected
	if rejected == nil {
		rejected = snap.Rejected // the translator's list includes these; without it, these are all there is
	}
	reasons := map[string][]string{}
	serving := map[string]*storage.ServingRecord{}
	for _, rj := range rejected {
		if rj.Ref.Kind == model.KindHealth || len(rj.Ref.Name) > model.KeyTextMax {
			// A name that long is no valid name; its status key would be
			// as long, and one write too large for etcd would hold up
			// every status. Logs, metrics, /debug/snapshot and
			// chanceryctl get still report it.
			continue
		}
		key := ks.StatusKey(rj.Ref) // an invalid name too: the record names the very key to fix
		reasons[key] = append(reasons[key], rj.Err.Error())
		if a := rj.Serving; a != nil {
			// Kept beyond compaction, for replicas that start later;
			// a secret's value is not: status/ holds no private key.
			serving[key] = &storage.ServingRecord{Revision: a.Revision, For: a.For, Value: a.Value}
			if rj.Ref.Kind == model.KindSecret {
				serving[key].Value = nil
			}
		}
	}
	for key, rs := range reasons {
		// Bounded and valid UTF-8, so the record reads back as written
		// and is not rewritten on every sync.
		reason := model.SafeText(strings.Join(rs, "; "), model.ReasonTextMax)
		out[key] = storage.ObjectStatus{State: storage.StatusRejected, Reason: reason, Revision: rev, Serving: serving[key]}
	}
	return out
}
