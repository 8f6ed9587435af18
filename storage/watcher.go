package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/storage/model"
)

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	Client   *clientv3.Client
	Keyspace Keyspace
	// Coalesce is the least time between two rebuilds. The first change
	// after a quiet spell is rebuilt at once; the changes that follow within
	// the window wait for it to close and become one snapshot, so a burst of
	// writes costs two rebuilds, not one per write.
	Coalesce time.Duration
	// PageSize bounds each range read of the initial load (default 5000).
	PageSize int64
	// ProgressInterval is how often the watcher asks etcd how far it is,
	// which measures lag while nothing in the keyspace changes (default 1s).
	ProgressInterval time.Duration
	Logger           *zap.Logger
	Registerer       prometheus.Registerer // nil: metrics are not registered
}

// Watcher turns the keyspace into model snapshots: one consistent load at
// revision R, a watch from R (its events at R skipped), a reload on
// compaction. One goroutine, the one in Run, owns all of its state.
type Watcher struct {
	cfg      WatcherConfig
	log      *zap.Logger
	entries  map[string]*entry // etcd key -> decoded object
	revision int64             // revision the entries reflect
	// records holds the last accepted versions recorded in status/ for
	// rejected objects; ignored, the keys of no kind with why.
	records map[model.Ref]*ServingRecord
	ignored map[string]string
	// changed lists the objects written or deleted since the last snapshot
	// handed out (at revision base); nil after a load, when that is unknown.
	changed []model.Ref
	base    int64

	applied  atomic.Int64 // revision of the last snapshot handed out
	progress atomic.Int64 // newest revision etcd said the watch has seen
	// heard is when the watch last showed it is current (an event, a progress
	// notification, a load), in Unix nanoseconds.
	heard   atomic.Int64
	metrics watcherMetrics
}

// NewWatcher returns a watcher; Run starts it.
func NewWatcher(cfg WatcherConfig) *Watcher {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 5000
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Watcher{cfg: cfg, log: cfg.Logger, metrics: newWatcherMetrics(cfg.Registerer)}
}

// Revision is the etcd revision of the last snapshot handed to apply
// (0 before the first full load).
func (w *Watcher) Revision() int64 { return w.applied.Load() }

// ProgressRevision is the newest revision etcd has confirmed the watch has
// seen; Revision lags it while a rebuild is pending.
func (w *Watcher) ProgressRevision() int64 { return w.progress.Load() }

// Heard is when the watch last showed it is current: an event, a progress
// notification (asked for every ProgressInterval, so a quiet keyspace is
// heard from too) or a full load; zero before the first load. Whether a
// long silence makes the replica unready is for its owner to decide, with
// what the other replicas hear (docs/readiness.md): the watcher alone
// cannot tell etcd hung for everyone from a link cut to this replica.
func (w *Watcher) Heard() time.Time {
	if n := w.heard.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Run loads the keyspace, hands the snapshot to apply, then watches and hands
// over a new snapshot after each burst of changes, until ctx ends. apply runs
// on Run's goroutine; while it runs, events queue and coalesce.
func (w *Watcher) Run(ctx context.Context, apply func(*model.Snapshot)) error {
	for {
		if err := w.load(ctx); err != nil {
			return err // only when ctx ended
		}
		apply(w.snapshot())
		err := w.watch(ctx, apply)
		if ctx.Err() != nil {
			return nil
		}
		w.metrics.reloads.Inc()
		w.log.Info("reloading keyspace", zap.Error(err), zap.Int64("revision", w.revision))
	}
}

// load reads the whole keyspace at one revision, in pages, retrying with
// backoff while etcd is unreachable.
func (w *Watcher) load(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		err := w.readAll(ctx)
		if err == nil {
			w.changed = nil
			w.progress.Store(w.revision)
			w.heard.Store(time.Now().UnixNano())
			w.metrics.loads.Inc()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.log.Warn("loading keyspace failed, retrying", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// readAll reads the whole keyspace at one revision, then finds the last
// accepted version of every object rejected as a whole.
func (w *Watcher) readAll(ctx context.Context) error {
	prefix := w.cfg.Keyspace.Prefix()
	end := clientv3.GetPrefixRangeEnd(prefix)
	w.entries, w.records, w.ignored = map[string]*entry{}, map[model.Ref]*ServingRecord{}, map[string]string{}
	key, rev := prefix, int64(0)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(w.cfg.PageSize)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev)) // every page at the first page's revision
		}
		resp, err := w.cfg.Client.Get(ctx, key, opts...)
		if err != nil {
			return fmt.Errorf("read %s at revision %d: %w", prefix, rev, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			w.take(kv)
		}
		if !resp.More || len(resp.Kvs) == 0 {
			break
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
	w.revision = rev
	for _, e := range w.entries {
		if e.wantsFallback() {
			if err := w.fallBack(ctx, e); err != nil {
				return err
			}
		}
	}
	return nil
}

// take records one key's value and reports whether a model object, or
// what is served for one, changed. A rejected object's fallback is left
// to the caller, which may read etcd.
func (w *Watcher) take(kv *mvccpb.KeyValue) (changed bool) {
	key := string(kv.Key)
	ref, kind, why := w.cfg.Keyspace.classify(key)
	switch kind {
	case keyObject:
		e := decodeEntry(ref, kv)
		w.entries[key] = &e
		w.note(ref)
		return true
	case keyUnknown:
		return w.ignore(key, why)
	}
	ref, ok := w.cfg.Keyspace.ParseStatusKey(key)
	if !ok {
		return false
	}
	rec, ok := servingRecord(kv.Value)
	if !ok {
		delete(w.records, ref)
		return false
	}
	w.records[ref] = rec
	// A record that arrives after its object was judged: a replica that
	// found the history compacted takes the leader's copy.
	if e := w.entries[w.cfg.Keyspace.Key(ref)]; e != nil && e.wantsFallback() && rec.For == e.mod && e.fallBack(rec.Revision, rec.Value) {
		w.note(ref)
		return true
	}
	return false
}

// ignore records a key of no kind; it reports whether that is news.
func (w *Watcher) ignore(key, why string) bool {
	rel := strings.TrimPrefix(key, w.cfg.Keyspace.Prefix())
	if why == "" {
		_, had := w.ignored[rel]
		delete(w.ignored, rel)
		return had
	}
	if w.ignored[rel] == why {
		return false
	}
	w.ignored[rel] = why
	w.changed = nil // not an object: the snapshot's changes are unknown
	return true
}

// watch follows the keyspace from the loaded revision. It returns when ctx
// ends or when the watch cannot resume without a reload (compaction).
func (w *Watcher) watch(ctx context.Context, apply func(*model.Snapshot)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	// A watcher of its own, so a gRPC watch stream of its own: etcd answers a
	// progress request only when every watch on the stream is synced and
	// none starts in the future, and other watches of the process on the
	// same client and metadata (the leader's watch on its election key, from
	// the next revision) would otherwise silence a quiet keyspace's watch.
	watcher := clientv3.NewWatcher(w.cfg.Client)
	defer func() {
		if err := watcher.Close(); err != nil && ctx.Err() == nil {
			w.log.Debug("closing the keyspace watch", zap.Error(err))
		}
	}()
	// Watch from R itself, not R+1, for the same reason. Events at R are
	// already loaded; applyEvents skips them.
	events := watcher.Watch(wctx, w.cfg.Keyspace.Prefix(), clientv3.WithPrefix(),
		clientv3.WithRev(w.revision), clientv3.WithProgressNotify())
	progress := time.NewTicker(w.cfg.ProgressInterval)
	defer progress.Stop()
	var hold <-chan time.Time // armed while changes wait for the window to close
	var last time.Time        // when the last rebuild ended
	rebuild := func() {
		hold = nil
		apply(w.snapshot())
		last = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress.C:
			// A failed request only delays the lag figure; the watch itself reports real trouble.
			if err := watcher.RequestProgress(wctx); err != nil {
				w.log.Debug("progress request failed", zap.Error(err))
			}
		case <-hold:
			rebuild()
		case resp, ok := <-events:
			if !ok {
				return errors.New("watch channel closed")
			}
			if err := resp.Err(); err != nil {
				if resp.CompactRevision != 0 || errors.Is(err, rpctypes.ErrCompacted) {
					return fmt.Errorf("watch compacted at revision %d: %w", resp.CompactRevision, err)
				}
				return fmt.Errorf("watch: %w", err)
			}
			w.heard.Store(time.Now().UnixNano())
			if resp.IsProgressNotify() {
				w.progress.Store(resp.Header.Revision)
				continue
			}
			if changed := w.applyEvents(ctx, resp.Events, resp.Header.Revision); changed && hold == nil {
				if wait := w.cfg.Coalesce - time.Since(last); wait > 0 {
					hold = time.After(wait)
				} else {
					rebuild()
				}
			}
		}
	}
}

// applyEvents updates the entries and reports whether anything served
// changed; writes to other keys (replica and proxy status) do not rebuild.
func (w *Watcher) applyEvents(ctx context.Context, events []*clientv3.Event, rev int64) (changed bool) {
	for _, ev := range events {
		if ev.Kv.ModRevision <= w.revision {
			continue // already in the load this watch resumed from
		}
		key := string(ev.Kv.Key)
		if ev.Type != clientv3.EventTypeDelete {
			changed = w.take(ev.Kv) || changed
			if e := w.entries[key]; e != nil && e.mod == ev.Kv.ModRevision && e.wantsFallback() {
				// Only when ctx ends; the rejection then stands until the reload.
				_ = w.fallBack(ctx, e)
			}
			continue
		}
		if e, ok := w.entries[key]; ok {
			delete(w.entries, key)
			w.note(e.ref)
			changed = true
		} else if ref, ok := w.cfg.Keyspace.ParseStatusKey(key); ok {
			delete(w.records, ref)
		} else {
			changed = w.ignore(key, "") || changed
		}
	}
	w.metrics.events.Add(float64(len(events)))
	w.revision = max(w.revision, rev)
	w.progress.Store(rev)
	return changed
}

// note records a changed object for the next snapshot, unless the
// changes since the last one are unknown.
func (w *Watcher) note(ref model.Ref) {
	if w.changed != nil {
		w.changed = append(w.changed, ref)
	}
}

// snapshot assembles the model snapshot of the current entries.
func (w *Watcher) snapshot() *model.Snapshot {
	s := model.NewSnapshot(w.revision)
	s.Base, s.Changed = w.base, w.changed
	w.base, w.changed = w.revision, []model.Ref{}
	for _, e := range w.entries {
		e.addTo(s)
	}
	s.Ignored = ignoredList(w.ignored)
	s.SortRejections()
	w.applied.Store(w.revision)
	w.metrics.revision.Set(float64(w.revision))
	w.metrics.snapshots.Inc()
	return s
}

type watcherMetrics struct {
	loads, reloads, events, snapshots prometheus.Counter
	revision                          prometheus.Gauge
}

func newWatcherMetrics(reg prometheus.Registerer) watcherMetrics {
	m := watcherMetrics{
		loads:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chancery_watch_loads_total", Help: "Full reads of the keyspace."}),
		reloads:   prometheus.NewCounter(prometheus.CounterOpts{Name: "chancery_watch_reloads_total", Help: "Watches restarted with a full read (compaction, lost watch)."}),
		events:    prometheus.NewCounter(prometheus.CounterOpts{Name: "chancery_watch_events_total", Help: "Keyspace events received."}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{Name: "chancery_watch_snapshots_total", Help: "Model snapshots built."}),
		revision:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "chancery_watch_revision", Help: "etcd revision of the last model snapshot."}),
	}
	if reg != nil {
		reg.MustRegister(m.loads, m.reloads, m.events, m.snapshots, m.revision)
	}
	return m
}
