package main

import (
	"errors"
	"fmt"
	"hash/maphash"
	"strconv"
	"sync"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
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
	secrets   []string // listeners: the secrets their TLS presents
	err       error
}

// namesOf returns the names of type dep the resource needs.
func (r *decoded) namesOf(dep string) []string {
	if dep == resourcev3.SecretType {
		return r.secrets
	}
	return r.dependent
}

// decoder decodes each distinct resource once for the whole fleet. Every
// client of a group receives the same bytes (servers marshal
// deterministically), and decoding them once per client would make the
// fleet, which shares the machine with the server under test, the
// bottleneck.
type decoder struct {
	ledger *ledger
	seed   maphash.Seed

	// A thousand clients read the cache at once from two cores: one lock
	// would pass its cache line back and forth on every read.
	shards [decodeShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[uint64]*decoded
	_  [64]byte // a cache line of its own
}

// decodeCacheSize bounds the cache; a shard is cleared when full.
const (
	decodeShards    = 64
	decodeCacheSize = 1 << 17
)

func newDecoder(l *ledger) *decoder {
	d := &decoder{ledger: l, seed: maphash.MakeSeed()}
	for i := range d.shards {
		d.shards[i].m = map[uint64]*decoded{}
	}
	return d
}

func (d *decoder) decode(typeURL string, a *anypb.Any) *decoded {
	h := maphash.Bytes(d.seed, a.GetValue()) ^ maphash.String(d.seed, typeURL)
	sh := &d.shards[h%decodeShards]
	sh.mu.RLock()
	r, ok := sh.m[h]
	sh.mu.RUnlock()
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
		if r.err == nil {
			r.secrets, r.err = listenerSecretNames(a)
		}
	}
	sh.mu.Lock()
	if len(sh.m) >= decodeCacheSize/decodeShards {
		clear(sh.m)
	}
	sh.m[h] = r
	sh.mu.Unlock()
	return r
}

// markers reads the sequence numbers a load assignment carries in its
// endpoints' metadata.
func (d *decoder) markers(a *anypb.Any) ([]marker, error) {
	found, err := rawMarkers(a.GetValue())
	if err != nil {
		return nil, err
	}
	out := make([]marker, 0, len(found))
	for _, m := range found {
		out = append(out, marker{key: d.ledger.key(m.name), seq: m.seq})
	}
	return out, nil
}

// rawMarker is one endpoint's marker: "<cluster>/<endpoint id>" and its
// sequence number.
type rawMarker struct {
	name string
	seq  uint64
}

// rawMarkers reads the markers of an encoded load assignment by walking
// its wire format: it runs for every distinct load assignment the fleet
// receives, thousands a second under churn, and protobuf's reflection
// (maps of Struct values) made it a fifth of the fleet's CPU. Field
// numbers are those of envoy/config/endpoint/v3 and envoy/config/core/v3;
// TestRawMarkersMatchProtobuf holds it to protobuf's reading.
func rawMarkers(cla []byte) ([]rawMarker, error) {
	var cluster []byte
	var out []rawMarker
	var ids, seqs [][]byte // of the endpoints, in order, until the name is known
	err := walk(cla, func(num protowire.Number, v []byte) error {
		switch num {
		case 1: // cluster_name
			cluster = v
		case 2: // endpoints: LocalityLbEndpoints
			return walk(v, func(num protowire.Number, v []byte) error {
				if num != 2 { // lb_endpoints: LbEndpoint
					return nil
				}
				id, seq, err := endpointMarker(v)
				if err == nil && seq != nil {
					ids, seqs = append(ids, id), append(seqs, seq)
				}
				return err
			})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		seq, err := strconv.ParseUint(string(seqs[i]), 10, 64)
		if err != nil {
			continue // not a marker the driver wrote
		}
		out = append(out, rawMarker{name: string(cluster) + "/" + string(id), seq: seq})
	}
	return out, nil
}

// endpointMarker reads an LbEndpoint's metadata: the id and marker fields
// of its filter_metadata[workload.MetadataNamespace] Struct.
func endpointMarker(lb []byte) (id, seq []byte, err error) {
	err = walk(lb, func(num protowire.Number, v []byte) error {
		if num != 3 { // metadata
			return nil
		}
		return walk(v, func(num protowire.Number, v []byte) error {
			if num != 1 { // filter_metadata: map<string, Struct>
				return nil
			}
			key, st, err := mapEntry(v)
			if err != nil || string(key) != workload.MetadataNamespace {
				return err
			}
			return walk(st, func(num protowire.Number, v []byte) error {
				if num != 1 { // fields: map<string, Value>
					return nil
				}
				name, val, err := mapEntry(v)
				if err != nil {
					return err
				}
				var s []byte
				if err := walk(val, func(num protowire.Number, v []byte) error {
					if num == 3 { // string_value
						s = v
					}
					return nil
				}); err != nil {
					return err
				}
				switch string(name) {
				case "id":
					id = s
				case workload.MarkerKey:
					seq = s
				}
				return nil
			})
		})
	})
	return id, seq, err
}

// mapEntry splits an encoded map entry into its key and value.
func mapEntry(b []byte) (key, value []byte, err error) {
	err = walk(b, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			key = v
		case 2:
			value = v
		}
		return nil
	})
	return key, value, err
}

var errMalformed = errors.New("malformed protobuf")

// walk calls fn with each length-delimited field of b, skipping fields of
// other wire types.
func walk(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errMalformed
		}
		b = b[n:]
		if typ != protowire.BytesType {
			m := protowire.ConsumeFieldValue(num, typ, b)
			if m < 0 {
				return errMalformed
			}
			b = b[m:]
			continue
		}
		v, m := protowire.ConsumeBytes(b)
		if m < 0 {
			return errMalformed
		}
		if err := fn(num, v); err != nil {
			return err
		}
		b = b[m:]
	}
	return nil
}

// listenerSecretNames returns the secrets a listener's filter chains fetch
// over SDS: their certificates and the CA that checks client certificates.
func listenerSecretNames(a *anypb.Any) ([]string, error) {
	var l listenerv3.Listener
	if err := a.UnmarshalTo(&l); err != nil {
		return nil, fmt.Errorf("decode listener: %w", err)
	}
	var out []string
	for _, fc := range append(l.GetFilterChains(), l.GetDefaultFilterChain()) {
		tc := fc.GetTransportSocket().GetTypedConfig()
		if tc == nil || !tc.MessageIs(&tlsv3.DownstreamTlsContext{}) {
			continue
		}
		var dt tlsv3.DownstreamTlsContext
		if err := tc.UnmarshalTo(&dt); err != nil {
			return nil, fmt.Errorf("listener %s: decode TLS context: %w", l.GetName(), err)
		}
		common := dt.GetCommonTlsContext()
		for _, s := range common.GetTlsCertificateSdsSecretConfigs() {
			out = append(out, s.GetName())
		}
		if n := common.GetValidationContextSdsSecretConfig().GetName(); n != "" {
			out = append(out, n)
		}
		if n := common.GetCombinedValidationContext().GetValidationContextSdsSecretConfig().GetName(); n != "" {
			out = append(out, n)
		}
	}
	return out, nil
}

// secretNames returns the secrets the listeners name, through the cache.
func (d *decoder) secretNames(listeners []*anypb.Any) ([]string, error) {
	var out []string
	for _, a := range listeners {
		r := d.decode(resourcev3.ListenerType, a)
		if r.err != nil {
			return nil, r.err
		}
		out = append(out, r.secrets...)
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
