package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// publisher writes this replica's registration and its connected Envoys
// under the session's lease. Every interval it compares what it would write
// with what it wrote and sends only the differences, in as few transactions
// as etcd allows: a push to a thousand Envoys is a few writes, not a
// thousand, and a quiet fleet writes nothing.
//
// A changed record is written once it has held still for a whole interval:
// the registration as well as each proxy's. A push in flight (sent, not yet
// ACKed; not yet sent) lasts milliseconds to a few hundred; writing it
// would cost two writes per Envoy per push, one for the Envoy behind and
// one for it back at the served version. Held one interval, the new served
// versions are published when most Envoys already hold them, and "served"
// in their records stays true. A flush that writes the registration writes
// every changed proxy record with it, before it: an Envoy published as at
// the served version is never left so when the registration moves on
// without it. New Envoys, Envoys gone and rejections are written at once; a
// record that keeps changing is written after maxHeld intervals.
type publisher struct {
	r       *Replica
	lease   clientv3.LeaseID
	replica []byte                       // the registration as last written
	served  map[string]map[string]string // its versions: what "served" in a record means
	heldReg heldRecord                   // a changed registration not written yet
	proxies map[string][]byte            // node id -> its record as last written
	held    map[string]heldRecord        // node id -> a change not written yet
	// generation is ProxyGeneration when the proxies were last looked at;
	// while it and the registration stay the same, they are not looked at
	// again, and what is held has held still.
	generation uint64
	current    bool // generation means something: the last publish wrote all it did not hold
}

// heldRecord is a proxy's changed record, held back while it moves.
type heldRecord struct {
	value []byte
	scans int // intervals it has been held
}

// maxHeld bounds how many intervals a changing record is held back: an
// Envoy under constant churn is published every few seconds, not never.
const maxHeld = 4

func newPublisher(r *Replica, lease clientv3.LeaseID) *publisher {
	return &publisher{r: r, lease: lease, proxies: map[string][]byte{}, held: map[string]heldRecord{}}
}

// Run publishes until ctx ends (nil) or the lease is gone.
func (p *publisher) Run(ctx context.Context) error {
	tick := time.NewTicker(p.r.cfg.PublishInterval)
	defer tick.Stop()
	for {
		if err := p.publish(ctx); err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, rpctypes.ErrLeaseNotFound):
				return err
			default:
				p.r.log.Warn("publishing replica and proxy status failed, retrying", zap.Error(err))
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// change is one key to write (value != nil) or delete.
type change struct {
	node     string // "" for the registration
	key      string
	value    []byte
	versions map[string]map[string]string // the registration's
}

func (p *publisher) publish(ctx context.Context) error {
	changes, generation, err := p.changes()
	if err != nil {
		return err
	}
	p.current = false
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	for len(changes) > 0 {
		n := min(len(changes), maxTxnOps)
		ops := make([]clientv3.Op, n)
		for i, c := range changes[:n] {
			if c.value == nil {
				ops[i] = clientv3.OpDelete(c.key)
			} else {
				ops[i] = clientv3.OpPut(c.key, string(c.value), clientv3.WithLease(p.lease))
			}
		}
		if _, err := p.r.cfg.Client.Txn(ctx).Then(ops...).Commit(); err != nil {
			return fmt.Errorf("write %d status keys: %w", n, err)
		}
		p.applied(changes[:n])
		changes = changes[n:]
	}
	p.generation, p.current = generation, p.r.cfg.ProxyGeneration != nil
	return nil
}

// changes compares what the replica would publish now with what it wrote,
// and returns the proxy generation it read. The registration, if it is to
// be written, comes last.
func (p *publisher) changes() ([]change, uint64, error) {
	ks := p.r.cfg.Keyspace
	var out []change
	// Read before the proxies: a change during the scan shows next time.
	var generation uint64
	if p.r.cfg.ProxyGeneration != nil {
		generation = p.r.cfg.ProxyGeneration()
	}
	record := p.record()
	rec, err := json.Marshal(record)
	if err != nil {
		return nil, 0, fmt.Errorf("encode replica record: %w", err)
	}
	var reg *change // the registration, when it is written now
	served := p.served
	if !bytes.Equal(rec, p.replica) {
		if p.replica == nil || bytes.Equal(rec, p.heldReg.value) || p.heldReg.scans+1 >= maxHeld {
			reg = &change{key: ks.ReplicaKey(p.r.cfg.ID), value: rec, versions: record.Versions}
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
		for node, h := range p.held {
			out = append(out, change{node: node, key: ks.ProxyKey(p.r.cfg.ID, node), value: h.value})
		}
		return out, generation, nil
	}
	now := mergeProxies(p.r.cfg.Proxies())
	nodes := make([]string, 0, len(now))
	for node := range now {
		nodes = append(nodes, node)
	}
	sort.Strings(nodes)
	for _, node := range nodes {
		rec := now[node].abbreviate(served)
		b, err := json.Marshal(rec)
		if err != nil {
			return nil, 0, fmt.Errorf("encode proxy %q: %w", node, err)
		}
		last, written := p.proxies[node]
		if written && bytes.Equal(b, last) {
			delete(p.held, node) // back to what was written: the change passed
			continue
		}
		if written && reg == nil && !rec.rejected() {
			h, ok := p.held[node]
			if !ok || (!bytes.Equal(b, h.value) && h.scans+1 < maxHeld) {
				p.held[node] = heldRecord{value: b, scans: h.scans + 1}
				continue // moving: look again next interval
			}
		}
		out = append(out, change{node: node, key: ks.ProxyKey(p.r.cfg.ID, node), value: b})
	}
	for node := range p.proxies {
		if _, ok := now[node]; !ok {
			out = append(out, change{node: node, key: ks.ProxyKey(p.r.cfg.ID, node)})
		}
	}
	for node := range p.held {
		if _, ok := now[node]; !ok {
			delete(p.held, node)
		}
	}
	if reg != nil {
		out = append(out, *reg)
	}
	return out, generation, nil
}

// applied remembers what a committed transaction wrote.
func (p *publisher) applied(done []change) {
	for _, c := range done {
		switch {
		case c.node == "":
			p.replica, p.served, p.heldReg = c.value, c.versions, heldRecord{}
		case c.value == nil:
			delete(p.proxies, c.node)
		default:
			p.proxies[c.node] = c.value
			delete(p.held, c.node)
		}
	}
}

func (p *publisher) record() ReplicaRecord {
	return ReplicaRecord{
		ID:       p.r.cfg.ID,
		Address:  p.r.cfg.Address,
		Version:  p.r.cfg.Version,
		Started:  p.r.started.UTC(),
		Revision: p.r.cfg.Revision(),
		Versions: p.r.cfg.Versions(),
	}
}

// mergeProxies keys the connected Envoys by node id. An Envoy with one
// stream per type (non-aggregated xDS), or a reconnect overlapping its old
// stream, shows as several streams of one node: they merge into one record,
// the newest stream's view of each type winning. The result shares the
// list's maps and changes them.
func mergeProxies(list []Proxy) map[string]Proxy {
	sort.SliceStable(list, func(i, j int) bool { return list[i].Connected.Before(list[j].Connected) })
	out := make(map[string]Proxy, len(list))
	for _, p := range list {
		prev, ok := out[p.NodeID]
		if !ok {
			out[p.NodeID] = p
			continue
		}
		if prev.Types == nil {
			prev.Types = make(map[string]TypeRecord, len(p.Types))
		}
		for typ, st := range p.Types {
			prev.Types[typ] = st
		}
		prev.Group, prev.Delta = p.Group, p.Delta
		out[p.NodeID] = prev
	}
	return out
}
