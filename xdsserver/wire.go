package xdsserver

import (
	"encoding/binary"
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/chancery-xds/chancery/internal/bufpool"
)

// Responses are assembled from encodings made once per publish rather than
// marshalled per stream. A protobuf message is the concatenation of its
// fields in any order, so a response is the resources' entries, encoded
// when the resource was, followed by the few fields of its own (version,
// type, nonce, removed names). A push to a thousand streams copies each
// resource's bytes once per stream, and marshals nothing.

// wireMessage is one response, encoded, in one buffer: from gRPC's pool
// when it is large enough to be worth pooling, and then returned to the
// pool once gRPC has written it. One buffer costs a copy but saves gRPC
// a slice per part, each boxed into an interface, gathered again per frame
// and written into the connection's buffer on its own.
type wireMessage struct{ buf mem.Buffer }

// Field numbers of the responses, read from their descriptors.
var (
	sotwFields  = fieldNumbers(&discoveryv3.DiscoveryResponse{}, "version_info", "resources", "type_url", "nonce")
	deltaFields = fieldNumbers(&discoveryv3.DeltaDiscoveryResponse{}, "system_version_info", "resources", "type_url", "nonce", "removed_resources")
)

func fieldNumbers(m proto.Message, names ...string) []protowire.Number {
	fields := m.ProtoReflect().Descriptor().Fields()
	out := make([]protowire.Number, len(names))
	for i, name := range names {
		f := fields.ByName(protoreflect.Name(name))
		if f == nil {
			panic(fmt.Sprintf("%T has no field %s", m, name)) // a programming error, caught by every test
		}
		out[i] = f.Number()
	}
	return out
}

// resourceEntries lays out a resource (body, its encoding) as an entry of
// each response kind. An entry is its head followed by body: the heads hold
// the entry's own fields and the Any's, ending with the length of body, so
// that body is shared, not copied, by both kinds of entry.
func resourceEntries(typeURL, name, hash string, body []byte) (sotwHead, deltaHead []byte) {
	// google.protobuf.Any{type_url = 1, value = 2}, without value's bytes.
	anyHead := protowire.SizeTag(1) + protowire.SizeBytes(len(typeURL)) + protowire.SizeTag(2) + protowire.SizeVarint(uint64(len(body)))
	anyLen := anyHead + len(body)
	// envoy.service.discovery.v3.Resource{name, version, resource}
	resLen := protowire.SizeTag(resourceFields[0]) + protowire.SizeBytes(len(name)) +
		protowire.SizeTag(resourceFields[1]) + protowire.SizeBytes(len(hash)) +
		protowire.SizeTag(resourceFields[2]) + protowire.SizeBytes(anyLen)
	sotwLen := protowire.SizeTag(sotwFields[1]) + protowire.SizeVarint(uint64(anyLen)) + anyHead
	deltaLen := protowire.SizeTag(deltaFields[1]) + protowire.SizeVarint(uint64(resLen)) + resLen - len(body)

	heads := make([]byte, 0, sotwLen+deltaLen) // one allocation for both
	appendAny := func(b []byte) []byte {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, typeURL)
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		return protowire.AppendVarint(b, uint64(len(body)))
	}
	b := protowire.AppendTag(heads, sotwFields[1], protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = appendAny(b)
	sotwHead = b[:len(b):len(b)]

	b = protowire.AppendTag(b, deltaFields[1], protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(resLen))
	b = protowire.AppendTag(b, resourceFields[0], protowire.BytesType)
	b = protowire.AppendString(b, name)
	b = protowire.AppendTag(b, resourceFields[1], protowire.BytesType)
	b = protowire.AppendString(b, hash)
	b = protowire.AppendTag(b, resourceFields[2], protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(anyLen))
	b = appendAny(b)
	deltaHead = b[len(sotwHead):]
	return sotwHead, deltaHead
}

var resourceFields = fieldNumbers(&discoveryv3.Resource{}, "name", "version", "resource")

// sotwResponse assembles a state-of-the-world response.
func sotwResponse(version, typeURL, nonce string, res []*resource) *wireMessage {
	return assemble(sotwFields, version, typeURL, nonce, res, nil, func(r *resource) []byte { return r.sotwHead })
}

// deltaResponse assembles a delta response.
func deltaResponse(version, typeURL, nonce string, res []*resource, removed []string) *wireMessage {
	return assemble(deltaFields, version, typeURL, nonce, res, removed, func(r *resource) []byte { return r.deltaHead })
}

// assemble lays out a response: fields are its version, resources, type,
// nonce and (delta) removed-names field numbers; head picks the head of the
// resources' entries of its kind.
func assemble(fields []protowire.Number, version, typeURL, nonce string, res []*resource, removed []string, head func(*resource) []byte) *wireMessage {
	size := 3*(2+binary.MaxVarintLen32) + len(version) + len(typeURL) + len(nonce)
	for _, r := range res {
		size += len(head(r)) + len(r.body)
	}
	for _, name := range removed {
		size += 2 + binary.MaxVarintLen32 + len(name)
	}
	// fields up to 2^11, lengths below 2^32: size bounds the encoding.
	// gRPC hands a buffer back to its pool once written only if its
	// capacity is above its pooling threshold, so even a small response
	// takes a buffer above it: an endpoint change is a push of a few
	// hundred bytes to every Envoy, and a new buffer for each would be
	// most of what a change allocates.
	pooled := responsePool.Get(max(size, minPooledResponse))
	b := (*pooled)[:0]
	for _, r := range res {
		b = append(b, head(r)...)
		b = append(b, r.body...)
	}
	b = appendString(b, fields[0], version)
	b = appendString(b, fields[2], typeURL)
	b = appendString(b, fields[3], nonce)
	for _, name := range removed {
		b = appendString(b, fields[4], name)
	}
	*pooled = b
	return &wireMessage{buf: mem.NewBuffer(pooled, responsePool)}
}

// minPooledResponse is the smallest buffer a response is assembled in:
// one gRPC returns to the pool (mem.IsBelowBufferPoolingThreshold).
const minPooledResponse = 1<<10 + 1

func appendString(b []byte, n protowire.Number, s string) []byte {
	if s == "" {
		return b // proto3: an empty string is not on the wire
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// codec sends wireMessages as they are and everything else with gRPC's
// protobuf codec. It decodes xDS requests itself (request.go) and leaves
// any other message to the protobuf codec.
type codec struct{ proto encoding.CodecV2 }

// responsePool holds the buffers responses are assembled in: a response
// is written whole before gRPC sends it, so they need no clearing.
var responsePool mem.BufferPool = &bufpool.Pool{}

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*wireMessage); ok {
		return mem.BufferSlice{m.buf}, nil // gRPC frees it once written
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *discoveryv3.DeltaDiscoveryRequest:
		f := deltaReqFields
		return decodeDeltaRequest(requestBytes(data, [3]protowire.Number{f[2], f[3], f[4]}), m)
	case *discoveryv3.DiscoveryRequest:
		return decodeSotwRequest(requestBytes(data, [3]protowire.Number{sotwReqFields[2]}), m)
	case *sotwRequest:
		return decodeSotw(data, m)
	}
	return c.proto.Unmarshal(data, v)
}

func (c codec) Name() string { return c.proto.Name() }

// requestBytes returns a request's bytes for decoding. The decoded names
// and versions (fields nums) point into them, so a request with any gets a
// copy of its own; gRPC reuses its buffers once Unmarshal returns. Other
// requests, an ACK among them, keep nothing of their bytes and are decoded
// where they lie when they came in one piece.
func requestBytes(data mem.BufferSlice, nums [3]protowire.Number) []byte {
	if len(data) == 1 {
		b := data[0].ReadOnlyData()
		if n := countFields(b, nums); n == [3]int{} {
			return b
		}
	}
	return data.Materialize()
}
