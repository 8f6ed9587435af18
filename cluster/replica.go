// Package cluster is what makes replicas a fleet: each replica registers
// itself and publishes the Envoys it serves under its own etcd lease
// (cluster/fleet); one replica, elected (cluster/election), health-checks the
// endpoints (cluster/health) and records the status of every object
// (cluster/objectstatus), writing only under a fence on its election key so
// that a deposed leader cannot write. This package is the glue: a Replica
// runs those parts for as long as it lives.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/chancery-xds/chancery/cluster/election"
	"github.com/chancery-xds/chancery/cluster/fleet"
	"github.com/chancery-xds/chancery/cluster/health"
	"github.com/chancery-xds/chancery/cluster/internal/mailbox"
	"github.com/chancery-xds/chancery/cluster/objectstatus"
	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
	"github.com/chancery-xds/chancery/storage/model"
)

// Defaults of Config.
const (
	DefaultSessionTTL      = 10 * time.Second
	DefaultConcurrency     = 256
	DefaultPublishInterval = 500 * time.Millisecond
)

// Config configures a Replica.
type Config struct {
	Client   *clientv3.Client
	Keyspace storage.Keyspace
	ID       string // the replica's name: a valid object name, no '/'
	Address  string // the xDS address it advertises
	Version  string // the build
	// AdminAddress is the admin address it advertises to the other
	// replicas (registry.Record.Admin); "" advertises none.
	AdminAddress string
	// SessionTTL is the lease TTL, rounded up to whole seconds: how long a
	// dead replica keeps its registration and, if it led, its leadership.
	SessionTTL time.Duration
	// HealthCheckConcurrency bounds the checks in flight when leading.
	HealthCheckConcurrency int
	// PublishInterval is how often the registration and the proxy status are
	// compared with what was written and the changes written, in one batch.
	PublishInterval time.Duration
	// EachProxy calls its argument with each xDS stream open now, one
	// state per stream, several for a node with several streams, and a
	// pointer it must not keep (xdsserver.Server.EachProxy); Versions the
	// versions served (group -> type -> version); Revision the etcd
	// revision served. Each is called at most once per PublishInterval and
	// must be safe for concurrent use.
	EachProxy func(func(*proxystate.Proxy))
	Versions  func() map[string]map[string]string
	Revision  func() int64
	// ProxyGeneration, if set, changes whenever what EachProxy shows does;
	// while it and the versions stay the same, EachProxy is not called.
	ProxyGeneration func() uint64
	Logger          *zap.Logger
	// Registerer receives the cluster's metrics; nil: not registered.
	Registerer prometheus.Registerer
}

// Replica is one replica's membership of the fleet; Run starts it.
type Replica struct {
	cfg      Config
	log      *zap.Logger
	ttl      int // seconds
	started  time.Time
	healthIn *mailbox.Mailbox[*model.Snapshot]
	statusIn *mailbox.Mailbox[*objectstatus.Input]
	leading  atomic.Bool
	leader   prometheus.Gauge
	health   *health.Metrics
	fleet    *fleet.Metrics
}

// New checks cfg and returns a replica.
func New(cfg Config) (*Replica, error) {
	if cfg.Client == nil {
		return nil, errors.New("cluster: no etcd client")
	}
	if !model.ValidName(cfg.ID) {
		return nil, fmt.Errorf("cluster: replica id %q: want letters, digits, '.', '_' or '-'", cfg.ID)
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.SessionTTL < time.Second {
		return nil, fmt.Errorf("cluster: session TTL %s: want at least 1s", cfg.SessionTTL)
	}
	if cfg.HealthCheckConcurrency <= 0 {
		cfg.HealthCheckConcurrency = DefaultConcurrency
	}
	if cfg.PublishInterval <= 0 {
		cfg.PublishInterval = DefaultPublishInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.EachProxy == nil {
		cfg.EachProxy = func(func(*proxystate.Proxy)) {}
	}
	if cfg.Versions == nil {
		cfg.Versions = func() map[string]map[string]string { return nil }
	}
	if cfg.Revision == nil {
		cfg.Revision = func() int64 { return 0 }
	}
	leader := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "chancery_leader", Help: "1 while this replica is the elected leader.",
	})
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(leader)
	}
	return &Replica{
		cfg:      cfg,
		log:      cfg.Logger,
		ttl:      int(math.Ceil(cfg.SessionTTL.Seconds())),
		started:  time.Now(),
		healthIn: mailbox.New[*model.Snapshot](),
		statusIn: mailbox.New[*objectstatus.Input](),
		leader:   leader,
		health:   health.NewMetrics(cfg.Registerer),
		fleet:    fleet.NewMetrics(cfg.Registerer),
	}, nil
}

// Observe hands the replica the newest snapshot and the translator's
// rejections in it. It never blocks: call it from the watcher's goroutine.
func (r *Replica) Observe(snap *model.Snapshot, rejected []model.Rejection) {
	r.healthIn.Put(snap)
	r.statusIn.Put(&objectstatus.Input{Snapshot: snap, Rejected: rejected})
}

// IsLeader reports whether this replica leads now.
func (r *Replica) IsLeader() bool { return r.leading.Load() }

// ID returns the replica's id.
func (r *Replica) ID() string { return r.cfg.ID }

// Run keeps the replica in the fleet until ctx ends: a session (lease) with
// its registration, its proxies and its candidacy. When a session ends (etcd
// unreachable for longer than the TTL) everything under it is gone, and a new
// session starts over. Leaving, it revokes the lease, so its keys vanish and
// another replica can lead at once. It returns nil: losing etcd does not stop
// a replica from serving what it has.
func (r *Replica) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		start := time.Now()
		err := r.runSession(ctx)
		if ctx.Err() != nil {
			break
		}
		if time.Since(start) > time.Duration(r.ttl)*time.Second {
			backoff = 100 * time.Millisecond // it ran a while: not a tight failure loop
		}
		r.log.Warn("etcd session ended, starting a new one", zap.Error(err), zap.Duration("backoff", backoff))
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	return nil
}

// errSessionLost ends a session's work when its lease is gone.
var errSessionLost = errors.New("etcd session expired")

func (r *Replica) runSession(ctx context.Context) error {
	sess, err := concurrency.NewSession(r.cfg.Client, concurrency.WithTTL(r.ttl), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open etcd session: %w", err)
	}
	defer r.closeSession(sess)
	r.log.Info("etcd session open", zap.String("lease", fmt.Sprintf("%x", sess.Lease())), zap.Int("ttl-seconds", r.ttl))
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		select {
		case <-sess.Done():
			return errSessionLost
		case <-gctx.Done():
			return nil
		}
	})
	g.Go(func() error { return r.publisher(sess.Lease()).Run(gctx) })
	g.Go(func() error {
		return election.Campaign(gctx, sess, r.cfg.Keyspace.ElectionPrefix(), r.cfg.ID, r.lead, r.log)
	})
	return g.Wait()
}

// publisher is the session's: it writes the registration and the proxy
// records under lease.
func (r *Replica) publisher(lease clientv3.LeaseID) *fleet.Publisher {
	return fleet.NewPublisher(fleet.PublisherConfig{
		Client: r.cfg.Client, Keyspace: r.cfg.Keyspace, Lease: lease, Interval: r.cfg.PublishInterval,
		Self: registry.Record{
			ID: r.cfg.ID, Address: r.cfg.Address, Admin: r.cfg.AdminAddress, Version: r.cfg.Version, Started: r.started.UTC(),
		},
		Versions: r.cfg.Versions, Revision: r.cfg.Revision, EachProxy: r.cfg.EachProxy, ProxyGeneration: r.cfg.ProxyGeneration,
		Logger: r.log, Metrics: r.fleet,
	})
}

// closeSession revokes the lease: the registration, the proxies and the
// election key go with it. Session.Close would revoke under the session's
// context, which has ended by now.
func (r *Replica) closeSession(sess *concurrency.Session) {
	sess.Orphan()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := r.cfg.Client.Revoke(ctx, sess.Lease()); err != nil {
		// Expired already, or etcd is away: the lease ends with its TTL either way.
		r.log.Debug("revoke lease", zap.Error(err))
	}
}
