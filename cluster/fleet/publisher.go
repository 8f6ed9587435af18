package fleet

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
)

// writeTimeout bounds one publish's writes; a failed publish is retried at
// the next interval.
const writeTimeout = 5 * time.Second

// PublisherConfig configures the Publisher of one session.
type PublisherConfig struct {
	Client   *clientv3.Client
	Keyspace storage.Keyspace
	Lease    clientv3.LeaseID // the session's: every key is written under it
	Interval time.Duration    // how often what would be written is compared with what was
	// Self is the replica's registration but for what changes as it serves:
	// Revision and Versions, which the publisher fills in.
	Self registry.Record
	// Versions are the versions served (group -> type -> version), Revision
	// the etcd revision served; EachProxy calls its argument with each xDS
	// stream open now and a pointer it must not keep. Each is called at
	// most once per Interval and must be safe for concurrent use.
	Versions  func() map[string]map[string]string
	Revision  func() int64
	EachProxy func(func(*proxystate.Proxy))
	// ProxyGeneration, if set, changes whenever what EachProxy shows does;
	// while it and the versions stay the same, EachProxy is not called.
	ProxyGeneration func() uint64
	Logger          *zap.Logger
	Metrics         *Metrics // the replica's, across its sessions; nil: none kept
}

// Publisher writes this replica's registration and its connected Envoys
// under the session's lease. Every interval it compares what it would write
// with what it wrote and sends only the differences, in as few transactions
// as etcd allows: a push to a thousand Envoys is a few writes, not a
// thousand, and a quiet fleet writes nothing. It compares the proxies'
// states as the xDS server reports them, without a map or an encoding per
// Envoy; only what is written is encoded. Under churn it looks at every
// Envoy every interval, and the look is one comparison of values per Envoy
// (BenchmarkPublisherLookDuringPushes; its figures in docs/bench/notes.md).
//
// A changed record is written once it has held still for a whole interval,
// or at the first quiet moment, whichever comes first: the registration as
// well as each proxy's. A push in flight (sent, not yet ACKed; not yet sent)
// lasts milliseconds to a few hundred; writing it would cost two writes per
// Envoy per push, one for the Envoy behind and one for it back at the served
// version. Held, the new served versions are published when most Envoys
// already hold them, and "served" in their records stays true. A quiet
// moment is quietWindow in which neither the served revision nor any Envoy's
// status moved, watched for only while something is held: the push has
// ended, every Envoy that answers has, and what is held is written at once.
// Changes a few hundred milliseconds apart then write the registration
// between pushes, and no proxy record, where the interval would fall in a
// push every time and the registration go out, after maxHeld intervals, with
// every Envoy that push had not reached. An Envoy published as at the served
// version is never left so when the registration moves on without it: a
// flush that writes the registration writes before it every record that says
// "served" for a version that moves, unless the Envoy is at the new one. A
// record with the versions themselves stays true, and waits. New Envoys,
// Envoys gone and rejections are written at once. A record that keeps
// changing is written after maxHeld intervals, at most overdueBudget of them
// per interval, those held longest first: under constant churn, when every
// Envoy's record moves at every interval, the proxy records written per
// interval stay within the budget whatever the fleet's size.
type Publisher struct {
	cfg     PublisherConfig
	replica []byte                       // the registration as last written
	served  map[string]map[string]string // its versions: what "served" in a record means
	heldReg heldRecord                   // a changed registration not written yet
	proxies map[proxyID]*proxyEntry      // each Envoy's record: what was written and held
	anyHeld bool                         // some proxy entry may hold a change
	look    uint64                       // counts the looks at the proxies
	// scratch is the last look's list of states, reused by the next look
	// (under churn, one every interval) and dropped at the first interval
	// without one, so a fleet at rest holds no copy of every state.
	scratch []proxystate.Proxy
	spare   []*proxystate.Proxy // held changes that passed, for the next to be held; dropped as scratch is
	// generation is ProxyGeneration when the proxies were last looked at;
	// while it and the registration stay the same, they are not looked at
	// again, and what is held has held still.
	generation uint64
	current    bool // generation means something: the last publish wrote all it did not hold
	// overdueBudget is how many records held maxHeld intervals or more
	// are written per interval (overdueWrites; tests set less).
	overdueBudget int
	// quietWindow is how long nothing must move for what is held to be
	// written before the interval ends (defaultQuietWindow).
	quietWindow time.Duration

	regWrites, proxyWrites prometheus.Counter
	overdue                prometheus.Gauge
}

// heldRecord is the registration's changed record, held back while it
// moves.
type heldRecord struct {
	value []byte
	scans int // intervals it has been held
}

// proxyEntry is one connected Envoy's record: as written, and a change to
// it held back while it moves. It lives as long as the Envoy, so a look
// during a push changes entries in place.
type proxyEntry struct {
	written proxystate.Proxy  // as last written; no NodeID if never
	held    *proxystate.Proxy // a change not written yet; nil if none
	scans   int               // intervals it has been held
	seen    uint64            // the last look that saw the Envoy
}

// proxyID is one Envoy: its group and node id. A node id reused in another
// group is another Envoy, with a record of its own.
type proxyID struct{ group, node string }

func idOf(st *proxystate.Proxy) proxyID { return proxyID{group: st.Group, node: st.NodeID} }

// maxHeld bounds how many intervals a changing record is held back: an
// Envoy under constant churn is published every few seconds, not never.
const maxHeld = 4

// overdueWrites is how many records that have been held maxHeld intervals
// are written per interval. Under constant churn each record is written
// every maxHeld intervals up to maxHeld × overdueWrites Envoys, and every
// fleet size / overdueWrites intervals beyond (docs/bench/notes.md has what
// that bound is worth).
const overdueWrites = 500

// defaultQuietWindow is how long the served revision and every Envoy's
// status must hold still, while something is held back, for the publisher
// to take it as settled and write it at once: the end of a push, or a
// change at rest. Short enough to fall between changes a few hundred
// milliseconds apart; a fleet under constant churn is never that still.
const defaultQuietWindow = 10 * time.Millisecond

// NewPublisher returns the publisher of one session; Run runs it.
func NewPublisher(cfg PublisherConfig) *Publisher {
	m := cfg.Metrics
	if m == nil {
		m = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	return &Publisher{cfg: cfg, proxies: map[proxyID]*proxyEntry{}, overdueBudget: overdueWrites, quietWindow: defaultQuietWindow,
		regWrites: m.statusWrites.WithLabelValues("registration"), proxyWrites: m.statusWrites.WithLabelValues("proxy"),
		overdue: m.statusOverdue}
}

// Run publishes until ctx ends (nil) or the lease is gone.
func (p *Publisher) Run(ctx context.Context) error {
	tick := time.NewTicker(p.cfg.Interval)
	defer tick.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()
	quiet := false
	var last stillness
	for {
		err := p.publish(ctx, quiet)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				return err
			default:
				p.cfg.Logger.Warn("publishing replica and proxy status failed, retrying", zap.Error(err))
			}
		}
		// A failed write is retried at the next interval, not at the
		// next quiet moment.
		if err == nil && p.holding() {
			last = p.sample()
			settle.Reset(p.quietWindow)
		}
		quiet = false
	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
				settle.Stop()
				break wait
			case <-settle.C:
				now := p.sample()
				if now == last {
					quiet = true
					break wait
				}
				last = now
				settle.Reset(p.quietWindow)
			}
		}
	}
}

// stillness is what changes while the replica serves a change or its
// Envoys take it: the snapshot's revision and the status generation.
type stillness struct {
	revision   int64
	generation uint64
}

func (p *Publisher) sample() stillness {
	return stillness{revision: p.cfg.Revision(), generation: p.cfg.ProxyGeneration()}
}

// holding reports whether a publish held something back that a quiet
// moment may write: only then does Run watch for one. Without a status
// generation there is no telling a quiet fleet from a busy one.
func (p *Publisher) holding() bool {
	return p.cfg.ProxyGeneration != nil && (p.heldReg.value != nil || p.anyHeld)
}

// change is one key to write (value != nil) or delete.
type change struct {
	node     string // "" for the registration
	group    string // the proxy's
	key      string
	value    []byte
	state    proxystate.Proxy             // a proxy's, as value encodes it
	versions map[string]map[string]string // the registration's
}

func (p *Publisher) publish(ctx context.Context, quiet bool) error {
	changes, generation, err := p.changes(quiet)
	if err != nil {
		return err
	}
	p.current = false
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	for len(changes) > 0 {
		n := min(len(changes), storage.DefaultMaxTxnOps)
		ops := make([]clientv3.Op, n)
		for i, c := range changes[:n] {
			if c.value == nil {
				ops[i] = clientv3.OpDelete(c.key)
			} else {
				ops[i] = clientv3.OpPut(c.key, string(c.value), clientv3.WithLease(p.cfg.Lease))
			}
		}
		if _, err := p.cfg.Client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("write %d status keys: %w", n, err)
		}
		p.applied(changes[:n])
		p.count(changes[:n])
		changes = changes[n:]
	}
	p.generation, p.current = generation, p.cfg.ProxyGeneration != nil
	return nil
}

// changes compares what the replica would publish now with what it wrote,
// and returns the proxy generation it read. The registration, if it is to
// be written, comes last. quiet says nothing has moved for a quiet window:
// what changed has settled, and is written without being held.
func (p *Publisher) changes(quiet bool) ([]change, uint64, error) {
	ks := p.cfg.Keyspace
	var out []change
	// Read before the proxies: a change during the scan shows next time.
	var generation uint64
	if p.cfg.ProxyGeneration != nil {
		generation = p.cfg.ProxyGeneration()
	}
	record := p.record()
	rec, err := json.Marshal(record)
	if err != nil {
		return nil, 0, fmt.Errorf("encode replica record: %w", err)
	}
	var reg *change // the registration, when it is written now
	served, before := p.served, p.served
	if !bytes.Equal(rec, p.replica) {
		if p.replica == nil || quiet || bytes.Equal(rec, p.heldReg.value) || p.heldReg.scans+1 >= maxHeld {
			reg = &change{key: ks.ReplicaKey(p.cfg.Self.ID), value: rec, versions: record.Versions}
			served = record.Versions
		} else {
			p.heldReg = heldRecord{value: rec, scans: p.heldReg.scans + 1}
		}
	} else {
		p.heldReg = heldRecord{}
	}
	if reg == nil && p.current && generation == p.generation {
		// No proxy changed, and what "served" means did not: a fleet at
		// rest costs one comparison per interval, not one per proxy, and
		// what was held back has held still.
		p.scratch, p.spare = nil, nil
		p.overdue.Set(0) // what was held has held still, and is written
		if p.anyHeld {
			for _, e := range p.proxies {
				if e.held != nil {
					out = append(out, p.proxyChange(*e.held))
				}
			}
			p.anyHeld = len(out) > 0
		}
		return encodeProxies(out), generation, nil
	}
	p.look++
	if p.scratch == nil {
		p.scratch = make([]proxystate.Proxy, 0, len(p.proxies)+16)
	}
	list := p.scratch[:0]
	p.cfg.EachProxy(func(st *proxystate.Proxy) { list = append(list, *st) })
	p.scratch = list
	p.anyHeld = false
	var overdue []*proxyEntry
	for i := range p.merged(list) {
		rec := abbreviated(list[i], served)
		e := p.proxies[idOf(&rec)]
		written := e.written.NodeID != ""
		if written && rec == e.written {
			if e.held != nil {
				p.spare = append(p.spare, e.held)
			}
			e.held, e.scans = nil, 0 // back to what was written: the change passed
			continue
		}
		stillHeld := e.held != nil && rec == *e.held
		if written && !quiet && !rejected(&rec) && !stillHeld && !(reg != nil && servedMoves(&e.written, before, served)) {
			if e.held == nil {
				e.held = p.spareState()
			}
			*e.held, e.scans = rec, e.scans+1
			p.anyHeld = true
			if e.scans >= maxHeld {
				overdue = append(overdue, e)
			}
			continue // moving: look again next interval, or written as overdue
		}
		out = append(out, p.proxyChange(rec))
	}
	out = p.writeOverdue(out, overdue)
	for id, e := range p.proxies {
		switch {
		case e.seen == p.look:
		case e.written.NodeID != "":
			out = append(out, change{node: id.node, group: id.group, key: ks.ProxyKey(p.cfg.Self.ID, id.group, id.node)})
		default:
			delete(p.proxies, id) // never written: nothing to delete
		}
	}
	out = encodeProxies(out)
	if reg != nil {
		out = append(out, *reg)
	}
	return out, generation, nil
}

// count adds committed changes to the metrics.
func (p *Publisher) count(done []change) {
	for _, c := range done {
		if c.node == "" {
			p.regWrites.Inc()
		} else {
			p.proxyWrites.Inc()
		}
	}
}

// writeOverdue appends to out the overdue records that the budget allows,
// those held longest first; the rest stay held, and go first next time.
func (p *Publisher) writeOverdue(out []change, overdue []*proxyEntry) []change {
	p.overdue.Set(float64(max(len(overdue)-p.overdueBudget, 0)))
	if len(overdue) > p.overdueBudget {
		slices.SortFunc(overdue, func(a, b *proxyEntry) int {
			if a.scans != b.scans {
				return b.scans - a.scans
			}
			return cmp.Or(strings.Compare(a.held.NodeID, b.held.NodeID), strings.Compare(a.held.Group, b.held.Group))
		})
		overdue = overdue[:p.overdueBudget]
	}
	for _, e := range overdue {
		out = append(out, p.proxyChange(*e.held))
	}
	return out
}

func (p *Publisher) proxyChange(state proxystate.Proxy) change {
	return change{node: state.NodeID, group: state.Group, key: p.cfg.Keyspace.ProxyKey(p.cfg.Self.ID, state.Group, state.NodeID), state: state}
}

// encodeProxies sorts the proxy changes by node and group and encodes
// those that write. Only what is written is encoded: the look compares
// states.
func encodeProxies(out []change) []change {
	slices.SortFunc(out, func(a, b change) int {
		return cmp.Or(strings.Compare(a.node, b.node), strings.Compare(a.group, b.group))
	})
	for i := range out {
		c := &out[i]
		if c.state.NodeID == "" {
			continue // a delete
		}
		// A record is strings, booleans and a time: it always encodes.
		c.value, _ = json.Marshal(recordOf(&c.state))
	}
	return out
}

// spareState returns a state to hold a change in.
func (p *Publisher) spareState() *proxystate.Proxy {
	if n := len(p.spare); n > 0 {
		st := p.spare[n-1]
		p.spare = p.spare[:n-1]
		return st
	}
	return new(proxystate.Proxy)
}

// merged marks every Envoy (group and node id) in list as seen, with an
// entry, and folds the streams of each into one state, in place; it
// returns how many states remain, one per Envoy. An Envoy with one stream
// per type (non-aggregated xDS), or a reconnect overlapping its old
// stream, shows as several streams of one node in one group: the newest
// stream's view of each type wins, and its protocol; the Envoy is
// connected since its oldest stream. Streams of one node id in two groups
// are two Envoys, neither hiding the other.
func (p *Publisher) merged(list []proxystate.Proxy) int {
	several := false
	for i := range list {
		id := idOf(&list[i])
		e := p.proxies[id]
		if e == nil {
			e = &proxyEntry{}
			p.proxies[id] = e
		}
		several = several || e.seen == p.look
		e.seen = p.look
	}
	if !several {
		return len(list)
	}
	return mergeStates(list)
}

// mergeStates folds the streams of each Envoy (group and node id) into one
// state, in place, and returns how many states remain.
func mergeStates(list []proxystate.Proxy) int {
	slices.SortStableFunc(list, func(a, b proxystate.Proxy) int {
		return cmp.Or(strings.Compare(a.NodeID, b.NodeID), strings.Compare(a.Group, b.Group), a.Connected.Compare(b.Connected))
	})
	n := 0
	for i := range list {
		cur := &list[i]
		if n > 0 && idOf(&list[n-1]) == idOf(cur) {
			m := &list[n-1]
			m.Delta = cur.Delta
			for typ, t := range cur.Types {
				if t != (proxystate.TypeStatus{}) {
					m.Types[typ] = t
				}
			}
			continue
		}
		list[n] = *cur
		n++
	}
	return n
}

// applied remembers what a committed transaction wrote.
func (p *Publisher) applied(done []change) {
	for _, c := range done {
		switch {
		case c.node == "":
			p.replica, p.served, p.heldReg = c.value, c.versions, heldRecord{}
		case c.value == nil:
			delete(p.proxies, proxyID{group: c.group, node: c.node})
		default:
			if e := p.proxies[proxyID{group: c.group, node: c.node}]; e != nil {
				e.written, e.held, e.scans = c.state, nil, 0
			}
		}
	}
}

// record is the registration now.
func (p *Publisher) record() registry.Record {
	rec := p.cfg.Self
	rec.Revision, rec.Versions = p.cfg.Revision(), p.cfg.Versions()
	return rec
}
