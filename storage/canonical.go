package storage

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/chancery-xds/chancery/storage/model"
)

// CanonicalJSON is how the CLI encodes every value it writes: the operator's
// spec as compact JSON with object keys sorted, numbers exactly as written
// and no HTML escaping. Applying the same file twice therefore produces the
// same bytes, and the spec reads back (with etcdctl too) as the operator
// wrote it, durations such as "60s" included. Model defaults are not filled
// in: a default stays the model's to choose.
func CanonicalJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // a float64 round trip would change large integers
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return encodeCanonical(v)
}

// CanonicalValue encodes a Go value (a model object, a map) canonically.
func CanonicalValue(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return CanonicalJSON(b)
}

func encodeCanonical(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "<" in a direct response body stays "<"
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SameObject reports whether two values of ref mean the same object: equal
// bytes, or both decode and validate to equal model objects. A value that
// does not decode is the same only as identical bytes.
func SameObject(ref model.Ref, a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	oa, err := model.Decode(ref, a)
	if err != nil {
		return false
	}
	ob, err := model.Decode(ref, b)
	if err != nil {
		return false
	}
	// Marshalling the decoded objects compares them field by field, maps
	// in sorted order, without caring how the JSON was laid out.
	ja, errA := json.Marshal(oa)
	jb, errB := json.Marshal(ob)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
