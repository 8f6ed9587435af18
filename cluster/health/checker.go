// Package health is the leader's active health checking: it checks every
// endpoint whose service asks for it, starting from the verdicts in etcd,
// and writes each verdict that changes, health/<service>/<id>, through the
// term's fence.
package health

import (
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/cluster/internal/mailbox"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

const (
	// flushDelay gathers the transitions of a burst (a rack going down)
	// into one fenced transaction instead of one per endpoint.
	flushDelay = 20 * time.Millisecond
	maxReason  = 512
)

// Config configures the Checker of one leadership term.
type Config struct {
	Keyspace    storage.Keyspace
	Fence       *election.Fence // the term's: every verdict is written through it
	Concurrency int             // checks in flight at most; more than 0
	Logger      *zap.Logger
	Metrics     *Metrics // the replica's, across its terms
}

// Checker runs the active health checks of one leadership term. The
// goroutine in Run owns the targets, the schedule and the pending writes;
// workers only run checks and hand back results.
type Checker struct {
	cfg        Config
	prober     *prober
	pass, fail prometheus.Counter
	targets    map[string]*target // by verdict name, "<service>/<id>"
	due        dueHeap
	running    int
	jobs       chan job
	results    chan result
	pending    map[string]*model.Health // verdict name -> verdict to write; nil deletes it
	written    map[string]int64         // verdict name -> revision of our write, until a snapshot shows it
}

type job struct {
	t    *target
	gen  uint64
	spec checkSpec
	addr string
}

type result struct {
	job
	started time.Time
	err     error
}

// New returns the checker of one term; Run runs it.
func New(cfg Config) *Checker {
	return &Checker{
		cfg:     cfg,
		prober:  newProber(),
		pass:    cfg.Metrics.checks.WithLabelValues("pass"),
		fail:    cfg.Metrics.checks.WithLabelValues("fail"),
		targets: map[string]*target{},
		// Both channels hold as many items as checks may be in flight, so
		// neither the owner nor a worker ever blocks on them.
		jobs:    make(chan job, cfg.Concurrency),
		results: make(chan result, cfg.Concurrency),
		pending: map[string]*model.Health{},
		written: map[string]int64{},
	}
}

// Run checks until ctx ends (nil) or a fenced write is refused
// (election.ErrDeposed). It starts from the newest snapshot in, and so from
// the verdicts in etcd.
func (c *Checker) Run(ctx context.Context, in *mailbox.Mailbox[*model.Snapshot]) error {
	var wg sync.WaitGroup
	for range c.cfg.Concurrency {
		wg.Go(func() { c.work(ctx) })
	}
	defer func() {
		close(c.jobs)
		wg.Wait()
		c.cfg.Metrics.targets.Set(0)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var flush <-chan time.Time
	if snap := in.Take(); snap != nil {
		c.reconcile(snap)
	}
	for {
		c.dispatch(time.Now())
		c.arm(timer)
		if len(c.pending) > 0 && flush == nil {
			flush = time.After(flushDelay)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-in.Ready():
			if snap := in.Take(); snap != nil {
				c.reconcile(snap)
			}
		case r := <-c.results:
			c.record(r)
		case <-timer.C:
		case <-flush:
			flush = nil
			if err := c.flush(ctx); err != nil {
				if errors.Is(err, election.ErrDeposed) {
					return err
				}
				if ctx.Err() != nil {
					return nil
				}
				c.cfg.Logger.Warn("writing health verdicts failed, retrying", zap.Error(err), zap.Int("verdicts", len(c.pending)))
				flush = time.After(election.RetryDelay)
			}
		}
	}
}

func (c *Checker) work(ctx context.Context) {
	for j := range c.jobs {
		started := time.Now()
		err := c.prober.check(ctx, j.spec, j.addr)
		c.results <- result{job: j, started: started, err: err}
	}
}

// dispatch starts the checks that are due, as many as the concurrency allows.
func (c *Checker) dispatch(now time.Time) {
	for len(c.due) > 0 && c.running < c.cfg.Concurrency && !c.due[0].due.After(now) {
		t := heap.Pop(&c.due).(*target)
		t.running = true
		c.running++
		c.jobs <- job{t: t, gen: t.gen, spec: t.spec, addr: t.addr}
	}
}

// arm sets the timer for the next due check. While every worker is busy it
// stays off: the next result wakes the loop instead of a timer that has
// already passed spinning it.
func (c *Checker) arm(timer *time.Timer) {
	if len(c.due) == 0 || c.running >= c.cfg.Concurrency {
		timer.Stop()
		return
	}
	timer.Reset(time.Until(c.due[0].due))
}

// record counts one check, schedules the next and queues a transition.
func (c *Checker) record(r result) {
	c.running--
	t := r.t
	if c.targets[t.key] != t {
		return // the endpoint went away during the check
	}
	t.running = false
	now := time.Now()
	c.due.schedule(t, next(r.started, t.spec.interval, now))
	if r.gen != t.gen {
		return // its address or check changed during the check
	}
	if r.err == nil {
		c.pass.Inc()
	} else {
		c.fail.Inc()
	}
	status, changed := t.observe(r.err)
	if !changed {
		return
	}
	h := &model.Health{Status: status, Since: now.UTC().Truncate(time.Millisecond), Reason: reason(t, r.err)}
	c.pending[t.key] = h
	c.cfg.Metrics.transitions.WithLabelValues(status).Inc()
	c.cfg.Logger.Info("endpoint health changed", zap.String("endpoint", t.key), zap.String("address", t.addr),
		zap.String("status", status), zap.String("reason", h.Reason))
}

// next is when a target whose check started at started is due again: one
// interval later, give or take a tenth, so that checks begun together drift
// apart; never in the past.
func next(started time.Time, interval time.Duration, now time.Time) time.Time {
	jitter := time.Duration((rand.Float64()*0.2 - 0.1) * float64(interval))
	due := started.Add(interval + jitter)
	if due.Before(now) {
		return now
	}
	return due
}

func reason(t *target, err error) string {
	if err == nil {
		return fmt.Sprintf("%d consecutive checks passed", t.spec.healthy)
	}
	// The error can quote what the endpoint answered: made safe, it is
	// valid UTF-8 and bounded, cut at a rune, in health/ and in logs.
	return model.SafeText(fmt.Sprintf("%d consecutive checks failed, last: %v", t.spec.unhealthy, err), maxReason)
}

// flush writes the pending verdicts in fenced transactions.
func (c *Checker) flush(ctx context.Context) error {
	if len(c.pending) == 0 {
		return nil
	}
	names := make([]string, 0, len(c.pending))
	for name := range c.pending {
		names = append(names, name)
	}
	sort.Strings(names)
	ops := make([]clientv3.Op, 0, len(names))
	for _, name := range names {
		key := c.cfg.Keyspace.Key(model.Ref{Kind: model.KindHealth, Name: name})
		h := c.pending[name]
		if h == nil {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		b, err := json.Marshal(h)
		if err != nil {
			return fmt.Errorf("encode verdict %s: %w", name, err)
		}
		ops = append(ops, clientv3.OpPut(key, string(b)))
	}
	wctx, cancel := context.WithTimeout(ctx, election.WriteTimeout)
	defer cancel()
	rev, err := c.cfg.Fence.Commit(wctx, ops)
	if err != nil {
		return err
	}
	for _, name := range names {
		c.written[name] = rev
	}
	clear(c.pending)
	c.cfg.Metrics.writes.Inc()
	return nil
}
