package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// Patch changes named resources of chosen groups in ways Chancery does not
// model: the escape hatch for an Envoy field or filter the keyspace has no
// word for. Key: patches/<name>.
//
// The model checks a patch's shape; the translator applies it to the
// resource as Envoy receives it and checks the result with Envoy's own
// validation (ValidateAll). A patch that does not apply, or whose result
// Envoy would refuse, is rejected and changes nothing.
type Patch struct {
	// Groups are the node groups whose copy of the target is patched.
	Groups []string    `json:"groups"`
	Target PatchTarget `json:"target"`
	// Merge is a JSON merge patch (RFC 7386) on the resource's JSON, in
	// Envoy's field names: objects merge, anything else replaces, null
	// deletes.
	Merge *JSONObject `json:"merge,omitempty"`
	// HTTPFilter adds an HTTP filter to every connection manager of a
	// listener target, before the router.
	HTTPFilter *PatchHTTPFilter `json:"http_filter,omitempty"`
}

// PatchTarget names one resource: its type and name.
type PatchTarget struct {
	Type string `json:"type"` // listener, route_table or cluster
	Name string `json:"name"`
}

// Patch target types. Endpoints (they change every few seconds) and
// secrets (no key material in patches) are not patched.
const (
	PatchListener   = "listener"
	PatchRouteTable = "route_table"
	PatchCluster    = "cluster"
)

// PatchHTTPFilter is an HTTP filter in Envoy's JSON: its name and its
// typed_config, an Any with "@type".
type PatchHTTPFilter struct {
	Name        string      `json:"name"`
	TypedConfig *JSONObject `json:"typed_config"`
}

// JSONObject is a JSON object kept as written, for the translator to read
// as Envoy's JSON. Decoding refuses anything but an object.
type JSONObject struct {
	raw []byte
}

// NewJSONObject returns the object raw holds, or an error if it is none.
func NewJSONObject(raw []byte) (*JSONObject, error) {
	o := &JSONObject{}
	if err := o.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return o, nil
}

// Raw is the object's JSON text.
func (o *JSONObject) Raw() []byte { return o.raw }

// Keys are the object's member names, sorted.
func (o *JSONObject) Keys() []string {
	var m map[string]json.RawMessage
	if json.Unmarshal(o.raw, &m) != nil {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// MarshalJSON writes the object as it was read.
func (o JSONObject) MarshalJSON() ([]byte, error) {
	if o.raw == nil {
		return []byte("{}"), nil
	}
	return o.raw, nil
}

// UnmarshalJSON keeps a JSON object.
func (o *JSONObject) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return errors.New("want a JSON object")
	}
	o.raw = slices.Clone(t)
	return nil
}

// Validate checks every field and reports all problems at once.
func (p *Patch) Validate() error {
	v := &validator{}
	p.checkLimits(v)
	checkGroups(v, p.Groups)
	switch p.Target.Type {
	case PatchListener, PatchRouteTable, PatchCluster:
	case "":
		v.add("target.type", "required: listener, route_table or cluster")
	default:
		v.add("target.type", "unknown type %q: want listener, route_table or cluster (endpoints and secrets are not patched)", p.Target.Type)
	}
	if p.Target.Name == "" {
		v.add("target.name", "required: the resource's name, as Envoy receives it")
	} else if !ValidName(p.Target.Name) {
		v.add("target.name", "%q is not a valid name", p.Target.Name)
	}
	switch {
	case (p.Merge == nil) == (p.HTTPFilter == nil):
		v.add("", "exactly one of merge, http_filter is required")
	case p.HTTPFilter != nil:
		p.HTTPFilter.validate(v, p.Target.Type)
	}
	return v.err()
}

func (f *PatchHTTPFilter) validate(v *validator, target string) {
	if target != PatchListener {
		v.add("http_filter", "adds a filter to a listener: target.type must be listener")
	}
	if f.Name == "" {
		v.add("http_filter.name", "required, e.g. envoy.filters.http.buffer")
	} else if !validFilterName(f.Name) {
		v.add("http_filter.name", "%q is not a filter name: letters, digits and . _ - only", f.Name)
	}
	if f.TypedConfig == nil {
		v.add("http_filter.typed_config", `required: the filter's config with its "@type"`)
	} else if !slices.Contains(f.TypedConfig.Keys(), "@type") {
		v.add("http_filter.typed_config", `needs "@type", e.g. "type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer"`)
	}
}

func validFilterName(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return s != ""
}
