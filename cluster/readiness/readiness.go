// Package readiness decides whether a replica whose watch has gone quiet
// leaves the load balancer, by asking the other replicas whether they hear
// from etcd (docs/readiness.md).
package readiness

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/storage"
)

// WatchState is what a replica says of its own watch at the admin path
// WatchStatePath, for the other replicas to tell a silence of etcd that
// they all hear from one that is this replica's alone.
type WatchState struct {
	Replica  string `json:"replica"`
	Revision int64  `json:"revision"` // of the snapshot served
	// SilentMillis is how long, in milliseconds, since the watch last showed
	// it is current (an event, a progress notification, a full load); -1
	// before the first load.
	SilentMillis int64 `json:"silent_ms"`
	// HearingMillis is how long, in milliseconds, the watch has heard from
	// etcd without a silence of half the max lag; -1 while it is that
	// silent, or before it is known.
	HearingMillis int64 `json:"hearing_ms"`
	// Peers is how many other replicas it would ask, should its own watch
	// go quiet: those registered with an admin address when it last read.
	Peers int `json:"peers"`
}

// WatchStatePath is the admin path that serves a replica's WatchState.
const WatchStatePath = "/watchz"

// Config configures a Readiness.
type Config struct {
	// Client reads the other replicas' registrations (replicas/<id>), which
	// name their admin addresses; nil: a lone replica, with no one to ask.
	Client   *clientv3.Client
	Keyspace storage.Keyspace
	ID       string // this replica's id, skipped among the registrations
	// MaxLag is how long the watch may hear nothing from etcd before the
	// replica asks whether the others do.
	MaxLag time.Duration
	// Heard is when the watch last showed it is current (zero before the
	// first load); Revision the revision served.
	Heard    func() time.Time
	Revision func() int64
	// PeerInterval is how often the registrations are read while etcd
	// answers (default 3s; every ProbeInterval while no other replica is
	// known); ProbeInterval how often the others are asked while the watch
	// is quiet (default MaxLag/4, between 100ms and 1s).
	PeerInterval, ProbeInterval time.Duration
	// Settle is how long another replica must have heard from etcd without
	// a break before its word makes this one leave (default: MaxLag, and
	// at least twice the etcd client's longest reconnect delay). When etcd
	// returns after an outage every replica shared, the first to reconnect
	// is no witness against those still waiting out their reconnect
	// backoff.
	Settle time.Duration
	// HTTP asks the others; nil: a client with a 1s timeout.
	HTTP   *http.Client
	Logger *zap.Logger
}

// Readiness decides whether a replica whose watch has gone quiet leaves the
// load balancer. The rule (docs/readiness.md): it leaves only when another
// replica shows it hears from etcd; a silence that every replica reached
// shares, as when etcd is down or hung, keeps every replica serving the
// snapshot it has, so that the load balancer is never left empty by it.
type Readiness struct {
	cfg     Config
	peers   atomic.Pointer[[]peer]
	witness atomic.Pointer[witness] // the last round of asking: who hears etcd, or nil
	// hearing is when the watch started hearing from etcd without a
	// silence of MaxLag/2 (Unix nanoseconds; 0: silent, or not yet known).
	hearing atomic.Int64
}

type peer struct{ id, url string }

// witness is a replica that showed it hears from etcd, and when it did.
type witness struct {
	state WatchState
	at    time.Time
}

// Verdict is the readiness rule applied now.
type Verdict struct {
	// Silent is how long since the watch last heard from etcd (0 before the
	// first load, which readiness waits for anyway).
	Silent time.Duration
	// Behind: silent for over MaxLag while Witness hears from etcd; the
	// replica is cut off alone and leaves the load balancer.
	Behind  bool
	Witness WatchState
	// Shared: silent for over MaxLag and no other replica reached hears from
	// etcd either; the replica keeps serving its last snapshot.
	Shared bool
}

// New checks cfg and returns a Readiness; Run keeps it informed.
func New(cfg Config) (*Readiness, error) {
	if cfg.MaxLag <= 0 {
		return nil, fmt.Errorf("cluster: readiness: max lag %s: want more than 0", cfg.MaxLag)
	}
	if cfg.Heard == nil || cfg.Revision == nil {
		return nil, errors.New("cluster: readiness: no watch to judge")
	}
	if cfg.PeerInterval <= 0 {
		cfg.PeerInterval = 3 * time.Second
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = min(max(cfg.MaxLag/4, 100*time.Millisecond), time.Second)
	}
	if cfg.Settle <= 0 {
		cfg.Settle = max(cfg.MaxLag, 2*storage.ReconnectMaxDelay)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: time.Second}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	r := &Readiness{cfg: cfg}
	r.peers.Store(&[]peer{})
	return r, nil
}

// State is this replica's WatchState now.
func (r *Readiness) State() WatchState {
	st := WatchState{Replica: r.cfg.ID, Revision: r.cfg.Revision(), SilentMillis: -1, HearingMillis: -1, Peers: len(*r.peers.Load())}
	if heard := r.cfg.Heard(); !heard.IsZero() {
		st.SilentMillis = time.Since(heard).Milliseconds()
	}
	if since := r.hearing.Load(); since != 0 && st.SilentMillis >= 0 && time.Duration(st.SilentMillis)*time.Millisecond < r.cfg.MaxLag/2 {
		st.HearingMillis = time.Since(time.Unix(0, since)).Milliseconds()
	}
	return st
}

// Verdict applies the rule at now.
func (r *Readiness) Verdict(now time.Time) Verdict {
	heard := r.cfg.Heard()
	if heard.IsZero() {
		return Verdict{}
	}
	v := Verdict{Silent: now.Sub(heard)}
	if v.Silent <= r.cfg.MaxLag {
		return v
	}
	// A witness counts while its word is fresh: asked after the watch went
	// quiet, and recently enough that it would have been asked again.
	if w := r.witness.Load(); w != nil && w.at.After(heard) && now.Sub(w.at) < r.cfg.MaxLag {
		v.Behind, v.Witness = true, w.state
		return v
	}
	v.Shared = true
	return v
}

// Run reads the registrations while etcd answers and, while the watch is
// quiet, asks the others how they fare, until ctx ends. It returns nil.
func (r *Readiness) Run(ctx context.Context) error {
	tick := time.NewTicker(r.cfg.ProbeInterval)
	defer tick.Stop()
	var listed time.Time
	var said string // the last verdict logged
	for {
		silent := r.silent()
		r.track(silent)
		// While the watch is quiet etcd is unlikely to answer a read: the
		// last list stands, and the others are asked instead. A replica that
		// knows no other (the first to start) looks again every round.
		due := time.Since(listed) >= r.cfg.PeerInterval || len(*r.peers.Load()) == 0
		if r.cfg.Client != nil && silent < r.cfg.MaxLag/2 && due {
			if err := r.refreshPeers(ctx); err != nil {
				r.cfg.Logger.Debug("reading the replicas' registrations failed", zap.Error(err))
			} else {
				listed = time.Now()
			}
		}
		if silent >= r.cfg.MaxLag/2 {
			r.witness.Store(r.findWitness(ctx))
		} else {
			r.witness.Store(nil)
		}
		said = r.logChange(said, r.Verdict(time.Now()))
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// logChange logs the verdict when it differs from the last one logged,
// and returns what it logged.
func (r *Readiness) logChange(said string, v Verdict) string {
	now := "current"
	switch {
	case v.Behind:
		now = "behind " + v.Witness.Replica
	case v.Shared:
		now = "shared"
	}
	if now == said {
		return said
	}
	log := r.cfg.Logger.With(zap.Duration("silent", v.Silent.Round(time.Millisecond)), zap.Duration("max-watch-lag", r.cfg.MaxLag))
	switch {
	case v.Behind:
		log.Warn("no word from etcd while another replica hears from it: not ready, Envoys move to replicas that see etcd",
			zap.String("witness", v.Witness.Replica), zap.Int64("witness-revision", v.Witness.Revision))
	case v.Shared:
		log.Warn("no word from etcd, nor for any other replica reached: staying ready on the last snapshot")
	case said != "":
		log.Info("etcd heard from again")
	}
	return now
}

// track notes when the watch started hearing from etcd without a break:
// a silence of MaxLag/2 ends the streak, and the next word starts one.
func (r *Readiness) track(silent time.Duration) {
	heard := r.cfg.Heard()
	switch {
	case heard.IsZero() || silent >= r.cfg.MaxLag/2:
		r.hearing.Store(0)
	case r.hearing.Load() == 0:
		r.hearing.Store(heard.UnixNano())
	}
}

// silent is how long the watch has been quiet; 0 before the first load.
func (r *Readiness) silent() time.Duration {
	heard := r.cfg.Heard()
	if heard.IsZero() {
		return 0
	}
	return time.Since(heard)
}

// refreshPeers reads replicas/ from the nearest member (serializable: a
// member without quorum still knows who registered) and keeps those that
// name an admin address.
func (r *Readiness) refreshPeers(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	resp, err := r.cfg.Client.Get(ctx, r.cfg.Keyspace.ReplicasPrefix(), clientv3.WithPrefix(), clientv3.WithSerializable())
	if err != nil {
		return fmt.Errorf("read %s: %w", r.cfg.Keyspace.ReplicasPrefix(), err)
	}
	peers := []peer{}
	for _, kv := range resp.Kvs {
		rec, err := registry.Decode(kv)
		if err != nil {
			return err
		}
		if rec.ID != r.cfg.ID && rec.Admin != "" {
			peers = append(peers, peer{id: rec.ID, url: "http://" + rec.Admin + WatchStatePath})
		}
	}
	r.peers.Store(&peers)
	return nil
}

// findWitness asks every other replica at once and returns the first that
// hears from etcd: quiet for no more than half of MaxLag, as a live watch
// with progress notifications is, and so for at least Settle. Nil when
// none answers so. A replica that does not say how long it has heard
// (an older version) is no witness: the error is toward staying ready.
func (r *Readiness) findWitness(ctx context.Context) *witness {
	peers := *r.peers.Load()
	found := make(chan WatchState, len(peers))
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st, err := r.ask(ctx, p)
			if err != nil {
				r.cfg.Logger.Debug("asking a replica how it hears etcd failed", zap.String("peer", p.id), zap.Error(err))
				return
			}
			if st.SilentMillis >= 0 && time.Duration(st.SilentMillis)*time.Millisecond <= r.cfg.MaxLag/2 &&
				time.Duration(st.HearingMillis)*time.Millisecond >= r.cfg.Settle {
				found <- st
			}
		}()
	}
	wg.Wait()
	close(found)
	if st, ok := <-found; ok {
		return &witness{state: st, at: time.Now()}
	}
	return nil
}

// ask fetches one replica's WatchState; an answer from another replica
// than the one registered there (an address reused) counts for nothing.
func (r *Readiness) ask(ctx context.Context, p peer) (WatchState, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return WatchState{}, fmt.Errorf("ask %s: %w", p.id, err)
	}
	resp, err := r.cfg.HTTP.Do(req)
	if err != nil {
		return WatchState{}, fmt.Errorf("ask %s: %w", p.id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return WatchState{}, fmt.Errorf("ask %s: %s answered %d", p.id, p.url, resp.StatusCode)
	}
	var st WatchState
	if err := json.NewDecoder(http.MaxBytesReader(nil, resp.Body, 4<<10)).Decode(&st); err != nil {
		return WatchState{}, fmt.Errorf("ask %s: decode %s: %w", p.id, p.url, err)
	}
	if st.Replica != p.id {
		return WatchState{}, fmt.Errorf("ask %s: %s is replica %q", p.id, p.url, st.Replica)
	}
	return st, nil
}
