package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
)

// campaign stands for election for as long as the session lives; each won
// campaign is one term of leadership, run by lead. ctx ends with the session.
func (r *Replica) campaign(ctx context.Context, sess *concurrency.Session) error {
	e := concurrency.NewElection(sess, r.cfg.Keyspace.ElectionPrefix())
	for {
		if err := e.Campaign(ctx, r.cfg.ID); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("campaign: %w", err) // ends the session; a new one campaigns afresh
		}
		err := r.lead(ctx, e.Key(), e.Rev())
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, ErrDeposed) {
			return err
		}
		r.log.Warn("deposed while the session lives: campaigning again")
	}
}

// lead runs one term: the leader's work under a context that ends when the
// session ends, when the election key is deleted, or when a fenced write is
// refused, whichever comes first.
func (r *Replica) lead(ctx context.Context, key string, rev int64) error {
	log := r.log.With(zap.String("election-key", key), zap.Int64("election-revision", rev))
	log.Info("elected leader")
	r.leading.Store(true)
	r.metrics.leader.Set(1)
	defer func() {
		r.leading.Store(false)
		r.metrics.leader.Set(0)
	}()

	fence := NewFence(r.cfg.Client, key, rev)
	g, lctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watchLeadership(lctx, r.cfg.Client, key, rev) })
	g.Go(func() error {
		return newChecker(checkerConfig{
			keyspace: r.cfg.Keyspace, fence: fence, concurrency: r.cfg.HealthCheckConcurrency,
			log: r.log.Named("health"), metrics: r.metrics,
		}).Run(lctx, r.healthIn)
	})
	g.Go(func() error {
		return newStatusWriter(r.cfg.Client, r.cfg.Keyspace, fence, r.log.Named("status")).Run(lctx, r.statusIn)
	})
	err := g.Wait()
	log.Info("leadership ended") // why is the caller's to say
	return err
}

// watchLeadership returns ErrDeposed once the election key created at rev is
// gone, and nil when ctx ends.
func watchLeadership(ctx context.Context, cli *clientv3.Client, key string, rev int64) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		resp, err := cli.Get(ctx, key)
		if err != nil {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != rev {
			return ErrDeposed
		}
		if deleted := watchDelete(ctx, cli, key, resp.Header.Revision+1); deleted {
			return ErrDeposed
		}
	}
	return nil
}

// watchDelete watches key from rev and reports whether it was deleted; false
// means the watch ended (ctx, compaction, lost etcd leader) and the caller
// should look again.
func watchDelete(ctx context.Context, cli *clientv3.Client, key string, rev int64) bool {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	for wr := range cli.Watch(wctx, key, clientv3.WithRev(rev)) {
		if wr.Err() != nil {
			return false
		}
		for _, ev := range wr.Events {
			if ev.Type == clientv3.EventTypeDelete {
				return true
			}
		}
	}
	return false
}
