// Package election is leadership among the replicas: a campaign on
// concurrency.Election for as long as a session lives, each won campaign a
// term run under a context that ends when leadership does, and a Fence that
// makes every write of a term conditional on still holding it.
package election

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

// Term is the leader's work for one term: it runs until ctx ends (nil) or
// it fails, and writes only through fence. ErrDeposed from it ends the term
// and the candidate campaigns again; any other error ends the campaign.
type Term func(ctx context.Context, fence *Fence) error

// Campaign stands for election as id under prefix for as long as sess
// lives; each won campaign is one term, run by lead. ctx ends with the
// session. It returns nil when ctx ends, or the error that ended it: a
// failed campaign, or a term's error other than ErrDeposed.
func Campaign(ctx context.Context, sess *concurrency.Session, prefix, id string, lead Term, log *zap.Logger) error {
	e := concurrency.NewElection(sess, prefix)
	for {
		if err := e.Campaign(ctx, id); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("campaign: %w", err) // ends the session; a new one campaigns afresh
		}
		err := term(ctx, sess.Client(), e.Key(), e.Rev(), lead, log)
		if ctx.Err() != nil {
			return nil
		}
		if !errors.Is(err, ErrDeposed) {
			return err
		}
		log.Warn("deposed while the session lives: campaigning again")
	}
}

// term runs lead under a context that ends when the session ends, when the
// election key is deleted, or when a fenced write is refused, whichever
// comes first.
func term(ctx context.Context, cli *clientv3.Client, key string, rev int64, lead Term, log *zap.Logger) error {
	log = log.With(zap.String("election-key", key), zap.Int64("election-revision", rev))
	log.Info("elected leader")
	fence := NewFence(cli, key, rev)
	g, lctx := errgroup.WithContext(ctx)
	g.Go(func() error { return watchLeadership(lctx, cli, key, rev) })
	g.Go(func() error { return lead(lctx, fence) })
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
