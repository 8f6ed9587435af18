package main

import (
	"hash/maphash"
	"strconv"
	"sync"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/chancery-xds/chancery/test/bench/workload"
	"github.com/chancery-xds/chancery/test/xdsclient"
)

// marker is one endpoint's sequence number: key index and seq.
type marker struct {
	key int32
	seq uint64
}

// decoded is what the fleet needs of one resource.
type decoded struct {
	markers   []marker // endpoints: the markers it carries
	dependent []string // clusters: EDS names; listeners: route names
	err       error
}

// decoder decodes each distinct resource once for the whole fleet. Every
// client of a group receives the same bytes (servers marshal
// deterministically), and decoding them once per client would make the
// fleet, which shares the machine with the server under test, the
// bottleneck.
type decoder struct {
	ledger *ledger
	seed   maphash.Seed

	mu    sync.RWMutex // a thousand clients read it at once; writes are rare
	cache map[uint64]*decoded
}

// decodeCacheSize bounds the cache; it is cleared when full.
const decodeCacheSize = 1 << 17

func newDecoder(l *ledger) *decoder {
	return &decoder{ledger: l, seed: maphash.MakeSeed(), cache: map[uint64]*decoded{}}
}

func (d *decoder) decode(typeURL string, a *anypb.Any) *decoded {
	h := maphash.Bytes(d.seed, a.GetValue()) ^ maphash.String(d.seed, typeURL)
	d.mu.RLock()
	r, ok := d.cache[h]
	d.mu.RUnlock()
	if ok {
		return r
	}
	r = &decoded{}
	switch typeURL {
	case resourcev3.EndpointType:
		r.markers, r.err = d.markers(a)
	case resourcev3.ClusterType:
		r.dependent, r.err = xdsclient.ClusterEDSName(a)
	case resourcev3.ListenerType:
		r.dependent, r.err = xdsclient.ListenerRouteNames(a)
	}
	d.mu.Lock()
	if len(d.cache) >= decodeCacheSize {
		clear(d.cache)
	}
	d.cache[h] = r
	d.mu.Unlock()
	return r
}

// markers reads the sequence numbers a load assignment carries in its
// endpoints' metadata.
func (d *decoder) markers(a *anypb.Any) ([]marker, error) {
	var cla endpointv3.ClusterLoadAssignment
	if err := a.UnmarshalTo(&cla); err != nil {
		return nil, err
	}
	var out []marker
	for _, loc := range cla.GetEndpoints() {
		for _, ep := range loc.GetLbEndpoints() {
			fields := ep.GetMetadata().GetFilterMetadata()[workload.MetadataNamespace].GetFields()
			v := fields[workload.MarkerKey].GetStringValue()
			if v == "" {
				continue
			}
			seq, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue // not a marker the driver wrote
			}
			id := fields["id"].GetStringValue()
			out = append(out, marker{key: d.ledger.key(cla.GetClusterName() + "/" + id), seq: seq})
		}
	}
	return out, nil
}

// dependentNames is xdsclient.DependentNames through the cache.
func (d *decoder) dependentNames(typeURL string, resources []*anypb.Any) ([]string, error) {
	var out []string
	for _, a := range resources {
		r := d.decode(typeURL, a)
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.dependent...)
	}
	return out, nil
}
