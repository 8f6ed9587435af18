package storage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// Stored is one object's key as etcd holds it: the raw value, which may not
// decode, and the revisions a compare-and-swap write needs.
type Stored struct {
	Ref            model.Ref
	Value          []byte
	ModRevision    int64
	CreateRevision int64
	Lease          int64 // 0 unless the key lives under a lease
	// Serving, when Value is rejected as a whole, is the last accepted
	// version every replica serves in its place (docs/bad-writes.md).
	Serving *model.Accepted
}

// Contents is the model objects of a keyspace read at one etcd revision.
// Keys below the prefix that hold no model object are left out.
type Contents struct {
	Revision int64
	Objects  map[model.Ref]*Stored
	// Ignored is the keys of no kind, read only with every kind.
	Ignored []model.Ignored
}

// readPageSize bounds each range read, as the watcher's pages do.
const readPageSize = 5000

// ReadContents reads the objects of the given kinds (every kind if none is
// given) at one revision, in pages. A compaction between pages restarts the
// read at a newer revision, a few times at most.
func ReadContents(ctx context.Context, cli *clientv3.Client, ks Keyspace, kinds ...model.Kind) (*Contents, error) {
	if len(kinds) == 0 {
		kinds = model.Kinds
	}
	var err error
	for range 3 {
		var c *Contents
		c, err = readContents(ctx, cli, ks, kinds)
		if err == nil {
			return c, nil
		}
		if !errors.Is(err, rpctypes.ErrCompacted) {
			return nil, err
		}
	}
	return nil, err
}

func readContents(ctx context.Context, cli *clientv3.Client, ks Keyspace, kinds []model.Kind) (*Contents, error) {
	c := &Contents{Objects: map[model.Ref]*Stored{}}
	for _, kind := range kinds {
		if err := c.readPrefix(ctx, cli, ks, ks.KindPrefix(kind)); err != nil {
			return nil, err
		}
	}
	if len(kinds) == len(model.Kinds) {
		if err := c.readIgnored(ctx, cli, ks); err != nil {
			return nil, err
		}
	}
	for _, st := range c.Objects {
		e := st.entry()
		if !e.wantsFallback() {
			continue
		}
		if err := lastAccepted(ctx, cli, ks, &e, func() (*ServingRecord, error) { return readRecord(ctx, cli, ks, &e) }); err != nil {
			return nil, err
		}
		st.Serving = e.serving
	}
	return c, nil
}

// readIgnored finds the keys of no kind, reading keys only, in pages.
func (c *Contents) readIgnored(ctx context.Context, cli *clientv3.Client, ks Keyspace) error {
	end := clientv3.GetPrefixRangeEnd(ks.Prefix())
	key := ks.Prefix()
	ignored := map[string]string{}
	for {
		resp, err := cli.Get(ctx, key, clientv3.WithRange(end), clientv3.WithLimit(readPageSize), clientv3.WithKeysOnly(), clientv3.WithRev(c.Revision))
		if err != nil {
			return fmt.Errorf("read %s: %w", ks.Prefix(), err)
		}
		for _, kv := range resp.Kvs {
			if _, kind, why := ks.classify(string(kv.Key)); kind == keyUnknown {
				ignored[strings.TrimPrefix(string(kv.Key), ks.Prefix())] = why
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			c.Ignored = ignoredList(ignored)
			return nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// entry judges the stored value as the watcher does.
func (st *Stored) entry() entry {
	e := decodeEntry(st.Ref, &mvccpb.KeyValue{Value: st.Value, CreateRevision: st.CreateRevision, ModRevision: st.ModRevision})
	if st.Serving != nil {
		e.fallBack(st.Serving.Revision, st.Serving.Value)
	}
	return e
}

// readPrefix reads one key prefix in pages at c.Revision, or sets it from
// the first response.
func (c *Contents) readPrefix(ctx context.Context, cli *clientv3.Client, ks Keyspace, prefix string) error {
	end := clientv3.GetPrefixRangeEnd(prefix)
	key := prefix
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(readPageSize)}
		if c.Revision != 0 {
			opts = append(opts, clientv3.WithRev(c.Revision))
		}
		resp, err := cli.Get(ctx, key, opts...)
		if err != nil {
			return fmt.Errorf("read %s: %w", prefix, err)
		}
		if c.Revision == 0 {
			c.Revision = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			ref, ok := ks.Parse(string(kv.Key))
			if !ok {
				continue
			}
			c.Objects[ref] = &Stored{Ref: ref, Value: kv.Value, ModRevision: kv.ModRevision, CreateRevision: kv.CreateRevision, Lease: kv.Lease}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Snapshot decodes the contents exactly as every replica's watcher does,
// so a tool judges the same bytes the same way.
func (c *Contents) Snapshot() *model.Snapshot { return c.Overlay(nil) }

// Overlay is the snapshot the keyspace would hold with values written over
// the contents (a nil value deletes). An object the overlay leaves as etcd
// holds it keeps what etcd gives it: its create revision and, if rejected,
// the last accepted version served in its place. A new object counts as
// created last.
func (c *Contents) Overlay(values map[model.Ref][]byte) *model.Snapshot {
	s := model.NewSnapshot(c.Revision)
	for ref, st := range c.Objects {
		if v, over := values[ref]; over {
			if v != nil {
				e := decodeEntry(ref, &mvccpb.KeyValue{Value: v, CreateRevision: st.CreateRevision, ModRevision: st.ModRevision})
				e.addTo(s)
			}
			continue
		}
		e := st.entry()
		e.addTo(s)
	}
	for ref, v := range values {
		if _, had := c.Objects[ref]; !had && v != nil {
			e := decodeEntry(ref, &mvccpb.KeyValue{Value: v, CreateRevision: math.MaxInt64})
			e.addTo(s)
		}
	}
	s.Ignored = c.Ignored
	s.SortRejections()
	return s
}

// Refs lists the objects of the given kinds (all if none), sorted by key.
func (c *Contents) Refs(kinds ...model.Kind) []model.Ref {
	out := make([]model.Ref, 0, len(c.Objects))
	for ref := range c.Objects {
		if len(kinds) == 0 || slices.Contains(kinds, ref.Kind) {
			out = append(out, ref)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}
