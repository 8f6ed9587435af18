package cluster

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/cluster/health"
	"github.com/chancery-xds/chancery/cluster/objectstatus"
)

// lead is the leader's work for one term (an election.Term): the health
// checks and the object status, both writing through fence.
func (r *Replica) lead(ctx context.Context, fence *election.Fence) error {
	r.leading.Store(true)
	r.leader.Set(1)
	defer func() {
		r.leading.Store(false)
		r.leader.Set(0)
	}()
	g, lctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		return health.New(health.Config{
			Keyspace: r.cfg.Keyspace, Fence: fence, Concurrency: r.cfg.HealthCheckConcurrency,
			Logger: r.log.Named("health"), Metrics: r.health,
		}).Run(lctx, r.healthIn)
	})
	g.Go(func() error {
		return objectstatus.NewWriter(r.cfg.Client, r.cfg.Keyspace, fence, r.log.Named("status")).Run(lctx, r.statusIn)
	})
	return g.Wait()
}
