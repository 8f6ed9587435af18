package xdsserver

import (
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Responses are assembled from encodings made once per publish rather than
// marshalled per stream. A protobuf message is the concatenation of its
// fields in any order, so a response is the resources' entries, encoded
// when the resource was, followed by the few fields of its own (version,
// type, nonce, removed names). The codec hands those byte slices to gRPC
// as they are: a push to a thousand streams copies each resource's bytes
// into each connection's write buffer, and does nothing else with them.

// wireMessage is one response in that form.
type wireMessage struct {
	head  []byte   // the response's own fields
	parts [][]byte // resource entries, shared with every other response that carries them
}

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

// resourceEntries encodes a resource (b, its encoding) as an entry of the
// resources field of each response kind.
func resourceEntries(typeURL, name, hash string, b []byte) (sotw, delta []byte) {
	// google.protobuf.Any{type_url = 1, value = 2}
	var any []byte
	any = protowire.AppendTag(any, 1, protowire.BytesType)
	any = protowire.AppendString(any, typeURL)
	any = protowire.AppendTag(any, 2, protowire.BytesType)
	any = protowire.AppendBytes(any, b)

	sotw = protowire.AppendTag(nil, sotwFields[1], protowire.BytesType)
	sotw = protowire.AppendBytes(sotw, any)

	// envoy.service.discovery.v3.Resource{name = 3, version = 1, resource = 2}
	var res []byte
	res = protowire.AppendTag(res, resourceFields[0], protowire.BytesType)
	res = protowire.AppendString(res, name)
	res = protowire.AppendTag(res, resourceFields[1], protowire.BytesType)
	res = protowire.AppendString(res, hash)
	res = protowire.AppendTag(res, resourceFields[2], protowire.BytesType)
	res = protowire.AppendBytes(res, any)
	delta = protowire.AppendTag(nil, deltaFields[1], protowire.BytesType)
	delta = protowire.AppendBytes(delta, res)
	return sotw, delta
}

var resourceFields = fieldNumbers(&discoveryv3.Resource{}, "name", "version", "resource")

// sotwResponse assembles a state-of-the-world response.
func sotwResponse(version, typeURL, nonce string, res []*resource) *wireMessage {
	return assemble(sotwFields, version, typeURL, nonce, res, nil, func(r *resource) []byte { return r.sotw })
}

// deltaResponse assembles a delta response.
func deltaResponse(version, typeURL, nonce string, res []*resource, removed []string) *wireMessage {
	return assemble(deltaFields, version, typeURL, nonce, res, removed, func(r *resource) []byte { return r.delta })
}

// assemble lays out a response: fields are its version, resources, type,
// nonce and (delta) removed-names field numbers; entry picks the resources'
// entries of its kind.
func assemble(fields []protowire.Number, version, typeURL, nonce string, res []*resource, removed []string, entry func(*resource) []byte) *wireMessage {
	m := &wireMessage{parts: make([][]byte, len(res))}
	for i, r := range res {
		m.parts[i] = entry(r)
	}
	m.head = appendString(m.head, fields[0], version)
	m.head = appendString(m.head, fields[2], typeURL)
	m.head = appendString(m.head, fields[3], nonce)
	for _, name := range removed {
		m.head = appendString(m.head, fields[4], name)
	}
	return m
}

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

func newCodec() codec { return codec{proto: encoding.GetCodecV2("proto")} }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	m, ok := v.(*wireMessage)
	if !ok {
		return c.proto.Marshal(v)
	}
	out := make(mem.BufferSlice, 0, 1+len(m.parts))
	out = append(out, mem.SliceBuffer(m.head))
	for _, p := range m.parts {
		out = append(out, mem.SliceBuffer(p))
	}
	return out, nil
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *discoveryv3.DeltaDiscoveryRequest:
		return decodeDeltaRequest(data.Materialize(), m) // a copy of its own: the request's strings point into it
	case *discoveryv3.DiscoveryRequest:
		return decodeSotwRequest(data.Materialize(), m)
	}
	return c.proto.Unmarshal(data, v)
}

func (c codec) Name() string { return c.proto.Name() }
