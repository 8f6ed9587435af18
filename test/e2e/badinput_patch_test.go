package e2e

import (
	"regexp"

	"github.com/chancery-xds/chancery/storage/model"
)

// patchBases are valid objects holding every patch field: TestBadInputTable
// spoils each field of each in every way it knows. They patch the http
// listener base (base-3, in group bad-input).
var patchBases = []badInputBase{
	{model.KindPatch, `{"groups":["bad-input"],"target":{"type":"listener","name":"base-3"},"merge":{"per_connection_buffer_limit_bytes":1048576}}`},
	{model.KindPatch, `{"groups":["bad-input"],"target":{"type":"listener","name":"base-3"},"http_filter":{"name":"envoy.filters.http.buffer",
		"typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer","max_request_bytes":1048576}}}`},
}

// patchBadCases are the patch values only their own rule refuses, the
// model's and the translator's.
func patchBadCases() []badCase {
	bad := func(what, field, value string) badCase {
		return badCase{what: what, kind: model.KindPatch, field: namesFieldRE(field), value: []byte(value)}
	}
	oneOf := func(what, value string) badCase {
		return badCase{what: what, kind: model.KindPatch, field: regexp.MustCompile(`exactly one of merge, http_filter`), value: []byte(value)}
	}
	const target = `"groups":["bad-input"],"target":{"type":"listener","name":"base-3"}`
	return []badCase{
		bad("endpoints are not patched", "target.type", `{"groups":["bad-input"],"target":{"type":"endpoint","name":"web"},"merge":{"a":1}}`),
		oneOf("both kinds", `{`+target+`,"merge":{"a":1},"http_filter":{"name":"x","typed_config":{"@type":"t"}}}`),
		oneOf("neither kind", `{`+target+`}`),
		bad("a merge that names no field", "merge", `{`+target+`,"merge":{"no_such_field":1}}`),
		bad("a merge Envoy refuses", "merge", `{`+target+`,"merge":{"address":{"socket_address":{"address":"127.0.0.1","port_value":70000}}}}`),
		bad("a renaming merge", "merge", `{`+target+`,"merge":{"name":"other"}}`),
		bad("a target no group has", "target", `{"groups":["bad-input"],"target":{"type":"cluster","name":"nothing"},"merge":{"per_connection_buffer_limit_bytes":1}}`),
		bad("a filter on a cluster", "http_filter", `{"groups":["bad-input"],"target":{"type":"cluster","name":"web"},"http_filter":{"name":"x","typed_config":{"@type":"t"}}}`),
		bad("a filter without @type", "http_filter.typed_config", `{`+target+`,"http_filter":{"name":"x","typed_config":{"max_request_bytes":1}}}`),
		bad("a filter of an unknown type", "http_filter", `{`+target+`,"http_filter":{"name":"x","typed_config":{"@type":"type.googleapis.com/x.Y"}}}`),
		bad("a filter on a tcp listener", "http_filter", `{"groups":["bad-input"],"target":{"type":"listener","name":"base-4"},"http_filter":{"name":"envoy.filters.http.buffer",
			"typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer","max_request_bytes":1}}}`),
	}
}
