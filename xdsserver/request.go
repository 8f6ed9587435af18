package xdsserver

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unique"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// Requests are decoded by hand. A reconnecting delta client sends every
// resource version it holds, hundreds of map entries per type, and a
// state-of-the-world client repeats every name it wants with each ACK;
// protobuf's generic decoder allocates each of those strings and fills the
// map through reflection, which made decoding the largest single cost of a
// reconnect storm.
//
// Here a request that carries names or initial versions has its bytes
// copied once, and those are strings that point into that copy, which
// nothing modifies; a request without any (an ACK) is decoded from gRPC's
// buffer without a copy (requestBytes).
// They live as long as the request unless something keeps them: a
// subscription interns the names it keeps (intern), and the initial
// versions are dropped after the stream's first response. Every other
// string is a copy, and nested messages (node, error detail, locators) go
// through protobuf. Unknown fields are skipped.

var (
	deltaReqFields = fieldNumbers(&discoveryv3.DeltaDiscoveryRequest{}, "node", "type_url", "resource_names_subscribe",
		"resource_names_unsubscribe", "initial_resource_versions", "response_nonce", "error_detail",
		"resource_locators_subscribe", "resource_locators_unsubscribe")
	sotwReqFields = fieldNumbers(&discoveryv3.DiscoveryRequest{}, "version_info", "node", "resource_names", "type_url",
		"response_nonce", "error_detail", "resource_locators")
)

// decodeDeltaRequest decodes b into m; the names and versions decoded
// point into b.
func decodeDeltaRequest(b []byte, m *discoveryv3.DeltaDiscoveryRequest) error {
	m.Reset()
	f := deltaReqFields
	n := countFields(b, [3]protowire.Number{f[2], f[3], f[4]})
	if n[0] > 0 {
		m.ResourceNamesSubscribe = make([]string, 0, n[0])
	}
	if n[1] > 0 {
		m.ResourceNamesUnsubscribe = make([]string, 0, n[1])
	}
	if n[2] > 0 {
		m.InitialResourceVersions = make(map[string]string, n[2])
	}
	return eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case f[0]:
			m.Node, err = mergeMessage(m.Node, v)
		case f[1]:
			m.TypeUrl, err = typeURLOf(v)
		case f[2]:
			m.ResourceNamesSubscribe, err = appendName(m.ResourceNamesSubscribe, v)
		case f[3]:
			m.ResourceNamesUnsubscribe, err = appendName(m.ResourceNamesUnsubscribe, v)
		case f[4]:
			err = mapEntry(m.InitialResourceVersions, v)
		case f[5]:
			m.ResponseNonce, err = copyString(v)
		case f[6]:
			m.ErrorDetail, err = mergeMessage(m.ErrorDetail, v)
		case f[7]:
			m.ResourceLocatorsSubscribe, err = appendMessage(m.ResourceLocatorsSubscribe, v)
		case f[8]:
			m.ResourceLocatorsUnsubscribe, err = appendMessage(m.ResourceLocatorsUnsubscribe, v)
		}
		return err
	})
}

// decodeSotwRequest decodes b into m; the names decoded point into b.
func decodeSotwRequest(b []byte, m *discoveryv3.DiscoveryRequest) error {
	return decodeSotwFields(b, m, true)
}

// decodeSotwFields decodes b into m, and its names only if names.
func decodeSotwFields(b []byte, m *discoveryv3.DiscoveryRequest, names bool) error {
	m.Reset()
	f := sotwReqFields
	if names {
		if n := countFields(b, [3]protowire.Number{f[2]}); n[0] > 0 {
			m.ResourceNames = make([]string, 0, n[0])
		}
	}
	return eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case f[0]:
			m.VersionInfo, err = copyString(v)
		case f[1]:
			m.Node, err = mergeMessage(m.Node, v)
		case f[2]:
			if names {
				m.ResourceNames, err = appendName(m.ResourceNames, v)
			}
		case f[3]:
			m.TypeUrl, err = typeURLOf(v)
		case f[4]:
			m.ResponseNonce, err = copyString(v)
		case f[5]:
			m.ErrorDetail, err = mergeMessage(m.ErrorDetail, v)
		case f[6]:
			m.ResourceLocators, err = appendMessage(m.ResourceLocators, v)
		}
		return err
	})
}

// sotwRequest is a state-of-the-world request as a stream receives it. A
// client repeats every name it wants with each ACK, and copying and
// decoding them would be most of an ACK's cost (docs/bench/notes.md). The
// codec compares them
// where they lie with the names the stream's subscription of the type
// holds (held), and when they are the same it leaves them out:
// ResourceNames stays empty, sameNames is set, and nothing is copied.
type sotwRequest struct {
	discoveryv3.DiscoveryRequest
	// held returns the names a subscription of the type holds, or nil
	// where it holds none to compare with (none yet, or a wildcard).
	held      func(typeURL string) *nameSet
	sameNames bool
}

func (r *sotwRequest) Reset() {
	r.DiscoveryRequest.Reset()
	r.sameNames = false
}

// decodeSotw decodes data into r: without its names if they are those
// held, else as decodeSotwRequest does.
func decodeSotw(data mem.BufferSlice, r *sotwRequest) error {
	f := sotwReqFields
	if len(data) == 1 && r.held != nil {
		b := data[0].ReadOnlyData()
		if namesHeld(b, r.held) {
			r.sameNames = true
			return decodeSotwFields(b, &r.DiscoveryRequest, false)
		}
	}
	return decodeSotwRequest(requestBytes(data, [3]protowire.Number{f[2]}), &r.DiscoveryRequest)
}

// namesHeld reports whether the request b names at least one resource, and
// exactly the names held for its type.
func namesHeld(b []byte, held func(string) *nameSet) bool {
	f := sotwReqFields
	var typeURL []byte
	n := 0
	err := eachField(b, func(num protowire.Number, v []byte) error {
		switch num {
		case f[2]:
			n++
		case f[3]:
			typeURL = v
		}
		return nil
	})
	if err != nil || n == 0 {
		return false
	}
	set := held(unsafeString(typeURL))
	if set == nil || set.len() != n {
		return false
	}
	m := matcher{set: set}
	return eachField(b, func(num protowire.Number, v []byte) error {
		if num == f[2] && !m.add(unsafeString(v)) {
			return errNotHeld
		}
		return nil
	}) == nil && m.exact()
}

var errNotHeld = errors.New("a name not held")

// unsafeString is b as a string, for a lookup that does not keep it.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// eachField calls fn with the number and bytes of every length-delimited
// field of the message b, and skips fields of other wire types.
func eachField(b []byte, fn func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		if num > protowire.MaxValidNumber {
			return fmt.Errorf("field number %d out of range", num)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, v); err != nil {
			return fmt.Errorf("field %d: %w", num, err)
		}
	}
	return nil
}

// countFields counts the length-delimited fields numbered each of nums, in
// one pass, to size what they are decoded into. An unused entry of nums is
// 0, which no field has.
func countFields(b []byte, nums [3]protowire.Number) [3]int {
	var counts [3]int
	_ = eachField(b, func(n protowire.Number, _ []byte) error {
		for i, num := range nums {
			if n == num {
				counts[i]++
			}
		}
		return nil
	})
	return counts
}

var errUTF8 = errors.New("string is not valid UTF-8")

// view returns the string b holds, pointing into b.
func view(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errUTF8
	}
	if len(b) == 0 {
		return "", nil
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), nil
}

func copyString(b []byte) (string, error) {
	if !utf8.Valid(b) {
		return "", errUTF8
	}
	return string(b), nil
}

// typeURLOf returns one of the type URLs served without a copy, or a copy.
func typeURLOf(b []byte) (string, error) {
	for _, u := range typeURLs {
		if string(b) == u {
			return u, nil
		}
	}
	return copyString(b)
}

func appendName(names []string, b []byte) ([]string, error) {
	s, err := view(b)
	return append(names, s), err
}

// mapEntry decodes a map<string, string> entry into m.
func mapEntry(m map[string]string, b []byte) error {
	var key, value string
	err := eachField(b, func(num protowire.Number, v []byte) error {
		var err error
		switch num {
		case 1:
			key, err = view(v)
		case 2:
			value, err = view(v)
		}
		return err
	})
	m[key] = value
	return err
}

// message is a protobuf message type of the requests' nested fields.
type message interface {
	*corev3.Node | *rpcstatus.Status | *discoveryv3.ResourceLocator
	proto.Message
}

// mergeMessage decodes b into m, allocating it if nil: a message field
// that occurs twice is merged, as protobuf does.
func mergeMessage[M message](m M, b []byte) (M, error) {
	if m == nil {
		m = m.ProtoReflect().Type().New().Interface().(M)
	}
	return m, proto.UnmarshalOptions{Merge: true}.Unmarshal(b, m)
}

func appendMessage[M message](ms []M, b []byte) ([]M, error) {
	var m M
	m, err := mergeMessage(m, b)
	return append(ms, m), err
}

// intern returns a copy of a name that outlives the request it came in,
// shared with every other stream that keeps the same name.
func intern(name string) string { return unique.Make(name).Value() }
