// Package fleet is the proxy status of the fleet: each replica's publisher
// writes its registration (cluster/registry) and a record of every Envoy it
// serves under its own lease, and the fleet view reads them all back for
// `chanceryctl status` and the admin /ui page.
package fleet

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
)

// SyncState is where one Envoy stands with one xDS type.
type SyncState string

// The states `chanceryctl status` shows.
const (
	Synced  SyncState = "SYNCED"   // it ACKed the current version
	Stale   SyncState = "STALE"    // it holds an older version, or has not answered the current one yet
	Nacked  SyncState = "NACKED"   // it rejected the last version sent; the error says why
	NotSent SyncState = "NOT SENT" // nothing of this type was sent to it
)

// Types are the xDS types of the fleet view, in the order Envoy applies them.
var Types = []string{"clusters", "endpoints", "listeners", "routes"}

// View is every replica and every Envoy connected to one, read at one etcd
// revision.
type View struct {
	Revision int64
	Leader   string            // the replica leading now; "" while none does
	Replicas []registry.Record // by id
	Envoys   []EnvoyStatus     // by node id, group, then replica
}

// EnvoyStatus is one Envoy as the fleet view shows it.
type EnvoyStatus struct {
	Replica string // the replica it is connected to
	Proxy
	Sync []TypeSync // one per entry of Types
}

// TypeSync compares what one Envoy holds of one type with what is current.
type TypeSync struct {
	Type  string
	State SyncState
	proxystate.TypeStatus
	// Current is the version of the group's newest snapshot across the
	// replicas ("" if no replica reports the group).
	Current string
}

// Read reads replicas/, proxies/ and the election in one transaction
// and compares each Envoy's ACKed versions with the current ones. The
// current version of a (group, type) is the one served by the replica that
// has applied the newest revision: versions are content hashes, so it is
// what every replica serves once it catches up.
func Read(ctx context.Context, cli *clientv3.Client, ks storage.Keyspace) (*View, error) {
	resp, err := cli.Txn(ctx).Then(
		clientv3.OpGet(ks.ReplicasPrefix(), clientv3.WithPrefix()),
		clientv3.OpGet(ks.ProxiesPrefix(), clientv3.WithPrefix()),
		clientv3.OpGet(ks.ElectionPrefix()+"/", clientv3.WithFirstCreate()...),
	).Commit()
	if err != nil {
		return nil, fmt.Errorf("read fleet status: %w", err)
	}
	f := &View{Revision: resp.Header.Revision}
	for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
		rec, err := registry.Decode(kv)
		if err != nil {
			return nil, err
		}
		f.Replicas = append(f.Replicas, rec)
	}
	sort.Slice(f.Replicas, func(i, j int) bool { return f.Replicas[i].ID < f.Replicas[j].ID })
	if kvs := resp.Responses[2].GetResponseRange().GetKvs(); len(kvs) > 0 {
		f.Leader = string(kvs[0].Value)
	}
	current := currentVersions(f.Replicas)
	for _, kv := range resp.Responses[1].GetResponseRange().GetKvs() {
		if _, _, ok := ks.ParseProxyKey(string(kv.Key), ""); !ok {
			continue
		}
		var p Proxy
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			return nil, fmt.Errorf("decode %s: %w", kv.Key, err)
		}
		replica, node, _ := ks.ParseProxyKey(string(kv.Key), p.Group) // the group is in the key
		p.NodeID = node
		for _, r := range f.Replicas {
			if r.ID == replica {
				p = p.expanded(r.Versions)
			}
		}
		f.Envoys = append(f.Envoys, EnvoyStatus{Replica: replica, Proxy: p, Sync: syncOf(p, current[p.Group])})
	}
	sort.SliceStable(f.Envoys, func(i, j int) bool {
		a, b := f.Envoys[i], f.Envoys[j]
		if a.NodeID != b.NodeID {
			return a.NodeID < b.NodeID
		}
		return a.Group < b.Group || a.Group == b.Group && a.Replica < b.Replica
	})
	return f, nil
}

// currentVersions picks, for each group, the versions of the replica with
// the newest revision that serves the group.
func currentVersions(replicas []registry.Record) map[string]map[string]string {
	out := map[string]map[string]string{}
	newest := map[string]int64{}
	for _, r := range replicas {
		for group, versions := range r.Versions {
			if rev, ok := newest[group]; !ok || r.Revision > rev {
				out[group], newest[group] = versions, r.Revision
			}
		}
	}
	return out
}

func syncOf(p Proxy, current map[string]string) []TypeSync {
	out := make([]TypeSync, len(Types))
	for i, typ := range Types {
		rec := p.Types[typ]
		s := TypeSync{Type: typ, TypeStatus: rec, Current: current[typ]}
		switch {
		case rec.NackError != "":
			s.State = Nacked
		case rec.Sent == "" && rec.Acked == "":
			s.State = NotSent
		case rec.Acked != "" && rec.Acked == s.Current:
			s.State = Synced
		default:
			s.State = Stale
		}
		out[i] = s
	}
	return out
}
