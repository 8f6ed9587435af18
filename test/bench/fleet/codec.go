package main

import (
	"errors"
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	resourcev3 "github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/chancery-xds/chancery/internal/bufpool"
)

// codec encodes delta requests and decodes delta responses by hand, and
// leaves everything else to gRPC's protobuf codec. The fleet shares two
// cores with the replica it measures, so its own costs show up in every
// figure: a reconnecting client sends every version it holds, hundreds of
// map entries that protobuf encodes through reflection (a fifth of the
// fleet's CPU in a storm of five thousand reconnects), and under endpoint
// churn decoding pushes of a hundred load assignments was a quarter of it.
type codec struct{ proto encoding.CodecV2 }

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	var b []byte
	var err error
	switch req := v.(type) {
	case *discoveryv3.DeltaDiscoveryRequest:
		b, err = appendDeltaRequest(make([]byte, 0, deltaRequestSize(req)), req)
	case *claimRequest:
		b, err = appendClaimRequest(make([]byte, 0, deltaRequestSize(req.DeltaDiscoveryRequest)+16*len(*req.held)), req)
	default:
		return c.proto.Marshal(v)
	}
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *deltaResponse:
		m.release()
		m.buf = respPool.Get(data.Len())
		data.CopyTo(*m.buf)
		return decodeDeltaResponse(*m.buf, &m.DeltaDiscoveryResponse)
	case *discoveryv3.DeltaDiscoveryResponse:
		return decodeDeltaResponse(data.Materialize(), m)
	case *discoveryv3.DiscoveryResponse:
		return decodeSotwResponse(data.Materialize(), m)
	}
	return c.proto.Unmarshal(data, v)
}

// deltaResponse is a delta response received into a pooled buffer, which
// its resources' values point into: a push of a hundred load assignments is
// tens of kilobytes, and a new zeroed buffer for each, a thousand clients
// several times a second, was a tenth of the fleet's CPU under churn.
type deltaResponse struct {
	discoveryv3.DeltaDiscoveryResponse
	buf *[]byte
}

// respPool holds the buffers responses are received into.
var respPool = &bufpool.Pool{}

// release hands the buffer back; the response must not be read after it.
func (m *deltaResponse) release() {
	if m.buf != nil {
		respPool.Put(m.buf)
		m.buf = nil
	}
}

// decodeSotwResponse is decodeDeltaResponse for a state-of-the-world
// response: version, resources, type, nonce.
func decodeSotwResponse(b []byte, m *discoveryv3.DiscoveryResponse) error {
	m.Reset()
	err := fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			m.VersionInfo = string(v)
		case 2:
			a, ok := decodeAny(v)
			if !ok {
				return false
			}
			m.Resources = append(m.Resources, a)
		case 4:
			m.TypeUrl = typeURL(v)
		case 5:
			m.Nonce = string(v)
		default:
			return false
		}
		return true
	})
	if err != nil {
		return proto.Unmarshal(b, m)
	}
	return nil
}

// decodeAny decodes a google.protobuf.Any whose value points into b.
func decodeAny(b []byte) (*anypb.Any, bool) {
	a := &anypb.Any{}
	return a, decodeAnyInto(a, b)
}

func decodeAnyInto(a *anypb.Any, b []byte) bool {
	return fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			a.TypeUrl = typeURL(v)
		case 2:
			a.Value = v
		default:
			return false
		}
		return true
	}) == nil
}

// decodeDeltaResponse decodes the fields of a delta response Chancery and
// go-control-plane send: version, resources (name, version, resource),
// type, nonce, removed names. The resources' values point into b, which
// the caller hands over; names and versions are copies, as clients keep
// them. A response with any other field is decoded by protobuf.
func decodeDeltaResponse(b []byte, m *discoveryv3.DeltaDiscoveryResponse) error {
	m.Reset()
	// The resources and their Anys in two allocations, not two each.
	n := 0
	_ = fields(b, func(num protowire.Number, _ []byte) bool {
		if num == 2 {
			n++
		}
		return true
	})
	rs, as := make([]discoveryv3.Resource, n), make([]anypb.Any, n)
	m.Resources = make([]*discoveryv3.Resource, 0, n)
	err := fields(b, func(num protowire.Number, v []byte) bool {
		switch num {
		case 1:
			m.SystemVersionInfo = string(v)
		case 2:
			if len(m.Resources) == n {
				return false
			}
			r, a := &rs[len(m.Resources)], &as[len(m.Resources)]
			if fields(v, func(num protowire.Number, v []byte) bool {
				switch num {
				case 1:
					r.Version = string(v)
				case 2:
					r.Resource = a
					return decodeAnyInto(a, v)
				case 3:
					r.Name = string(v)
				default:
					return false
				}
				return true
			}) != nil {
				return false
			}
			m.Resources = append(m.Resources, r)
		case 4:
			m.TypeUrl = typeURL(v)
		case 5:
			m.Nonce = string(v)
		case 6:
			m.RemovedResources = append(m.RemovedResources, string(v))
		default:
			return false
		}
		return true
	})
	if err != nil {
		return proto.Unmarshal(b, m)
	}
	return nil
}

// typeURLs are the types the fleet subscribes to, in typeIndex order:
// test/xdsclient's, then the secrets listeners name.
var typeURLs = []string{resourcev3.ClusterType, resourcev3.EndpointType, resourcev3.ListenerType, resourcev3.RouteType, resourcev3.SecretType}

// typeURL returns the type URL in b, without a copy for the types the
// fleet subscribes to.
func typeURL(b []byte) string {
	for _, u := range typeURLs {
		if string(b) == u {
			return u
		}
	}
	return string(b)
}

var errOther = errors.New("a field the hand decoder leaves to protobuf")

// fields calls fn with each length-delimited field of b; it fails when b
// is malformed, holds a field of another wire type, or fn returns false.
func fields(b []byte, fn func(protowire.Number, []byte) bool) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 || typ != protowire.BytesType {
			return errOther
		}
		v, m := protowire.ConsumeBytes(b[n:])
		if m < 0 || !fn(num, v) {
			return errOther
		}
		b = b[n+m:]
	}
	return nil
}

func (c codec) Name() string { return c.proto.Name() }

// appendDeltaRequest encodes a delta request: the fields the fleet sets by
// hand (field numbers from envoy/service/discovery/v3/discovery.proto),
// anything else through protobuf.
func appendDeltaRequest(b []byte, req *discoveryv3.DeltaDiscoveryRequest) ([]byte, error) {
	if req.ErrorDetail != nil || len(req.ResourceLocatorsSubscribe) > 0 || len(req.ResourceLocatorsUnsubscribe) > 0 {
		return proto.MarshalOptions{}.MarshalAppend(b, req) // fields the fleet never sets
	}
	if req.Node != nil {
		node, err := proto.Marshal(req.Node)
		if err != nil {
			return nil, err
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, node)
	}
	b = appendString(b, 2, req.TypeUrl)
	for _, n := range req.ResourceNamesSubscribe {
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	for _, n := range req.ResourceNamesUnsubscribe {
		b = protowire.AppendTag(b, 4, protowire.BytesType)
		b = protowire.AppendString(b, n)
	}
	for k, v := range req.InitialResourceVersions {
		b = appendVersion(b, k, v)
	}
	return appendString(b, 6, req.ResponseNonce), nil
}

// appendClaimRequest encodes a claimRequest: the request, then one
// initial_resource_versions entry per name held (fields may come in any
// order).
func appendClaimRequest(b []byte, req *claimRequest) ([]byte, error) {
	if len(req.InitialResourceVersions) > 0 {
		return nil, fmt.Errorf("a claim request carries its versions in held, not in InitialResourceVersions")
	}
	b, err := appendDeltaRequest(b, req.DeltaDiscoveryRequest)
	if err != nil {
		return nil, err
	}
	req.held.each(req.names, func(name, version string) { b = appendVersion(b, name, version) })
	return b, nil
}

// appendVersion encodes one initial_resource_versions entry.
func appendVersion(b []byte, name, version string) []byte {
	entry := protowire.SizeTag(1) + protowire.SizeBytes(len(name)) + protowire.SizeTag(2) + protowire.SizeBytes(len(version))
	b = protowire.AppendTag(b, 5, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entry))
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, version)
}

// deltaRequestSize is about what appendDeltaRequest writes, so that a
// reconnect's hundreds of initial versions are written without growing.
func deltaRequestSize(req *discoveryv3.DeltaDiscoveryRequest) int {
	n := 64 + len(req.TypeUrl) + len(req.ResponseNonce) + proto.Size(req.Node)
	for _, name := range req.ResourceNamesSubscribe {
		n += 3 + len(name)
	}
	for _, name := range req.ResourceNamesUnsubscribe {
		n += 3 + len(name)
	}
	for k, v := range req.InitialResourceVersions {
		n += 10 + len(k) + len(v)
	}
	return n
}

func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
