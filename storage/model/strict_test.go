package model_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// Each case is a value encoding/json alone accepts (or accepts without
// the path), and the error the strict pass gives instead.
func TestDecodeStrictRefuses(t *testing.T) {
	route := func(r string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web"},` + r + `]}]}`
	}
	cases := []struct {
		name string
		ref  model.Ref
		json string
		want string // the whole error
	}{
		{"field name in upper case", svc("web"), `{"PROTOCOL":"http"}`,
			`field PROTOCOL: unknown field (did you mean "protocol"?)`},
		{"field name in mixed case", svc("web"), `{"protocol":"http","Lb_Policy":"random"}`,
			`field Lb_Policy: unknown field (did you mean "lb_policy"?)`},
		{"nested field in another case, full path", rt("r"), route(`{"match":{"prefix":"/a"},"service":"web","Retries":{"retry_on":"5xx"}}`),
			`field virtual_hosts[0].routes[1].Retries: unknown field (did you mean "retries"?)`},
		{"misspelt field", svc("web"), `{"protocol":"http","lb_polcy":"random"}`,
			`field lb_polcy: unknown field (did you mean "lb_policy"?)`},
		{"unknown field, nothing near", svc("web"), `{"protocol":"http","colour":"blue"}`,
			`field colour: unknown field`},
		{"duplicate key", svc("web"), `{"protocol":"http","protocol":"tcp"}`,
			`field protocol: duplicate key`},
		{"duplicate key deep", rt("r"), route(`{"match":{"prefix":"/a","prefix":"/b"},"service":"web"}`),
			`field virtual_hosts[0].routes[1].match.prefix: duplicate key`},
		{"duplicate map key", ep("web/a"), `{"address":"10.0.0.1","port":80,"metadata":{"team":"a","team":"b"}}`,
			`field metadata["team"]: duplicate key`},
		{"duplicate key inside a value of an unknown field", svc("web"), `{"protocol":"http","x":{"a":1,"a":2}}`,
			`field x: unknown field; field x.a: duplicate key`},
		{"invalid UTF-8 in a value", rt("r"), route("{\"match\":{\"prefix\":\"/\xff\"},\"service\":\"web\"}"),
			`field virtual_hosts[0].routes[1].match.prefix: not valid UTF-8`},
		{"invalid UTF-8 in a map value", ep("web/a"), "{\"address\":\"10.0.0.1\",\"port\":80,\"metadata\":{\"k\":\"\xc3\"}}",
			`field metadata["k"]: not valid UTF-8`},
		{"lone surrogate escape", svc("web"), `{"protocol":"http\ud800"}`,
			`field protocol: not valid UTF-8: a \u escape of a lone surrogate`},
		{"reversed surrogate pair", svc("web"), `{"protocol":"\udc00\ud800"}`,
			`field protocol: not valid UTF-8: a \u escape of a lone surrogate`},
		{"invalid UTF-8 in a key", svc("web"), "{\"protocol\":\"http\",\"p\xffx\":1}",
			`field "p\xffx": key not valid UTF-8; field "p\xffx": unknown field`},
		{"wrong type, full path", rt("r"), route(`{"match":{"prefix":"/a"},"service":"web","retries":{"retry_on":"5xx","num_retries":"2"}}`),
			`field virtual_hosts[0].routes[1].retries.num_retries: want uint32, got JSON string`},
		{"number out of range", ep("web/a"), `{"address":"10.0.0.1","port":4294967296}`,
			`field port: want uint32, got JSON number 4294967296`},
		{"fraction for an integer", ep("web/a"), `{"address":"10.0.0.1","port":80.5}`,
			`field port: want uint32, got JSON number 80.5`},
		{"object for a list", rt("r"), `{"virtual_hosts":{}}`,
			`field virtual_hosts: want []model.VirtualHost, got JSON object`},
		{"list for an object", rt("r"), route(`{"match":[],"service":"web"}`),
			`field virtual_hosts[0].routes[1].match: want model.RouteMatch, got JSON array`},
		{"bool for a string", lis("l"), `{"port":80,"protocol":"http","route_table":true,"groups":["g"]}`,
			`field route_table: want string, got JSON bool`},
		{"field of no JSON name", rt("r"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[],"Err":"x"}]}`,
			`field virtual_hosts[0].Err: unknown field`},
		{"bad time", model.Ref{Kind: model.KindHealth, Name: "web/a"}, `{"status":"healthy","since":"yesterday"}`,
			`field since: invalid value: parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Decode(c.ref, []byte(c.json))
			if err == nil || err.Error() != c.want {
				t.Errorf("%s\n got %v\nwant %s", c.json, err, c.want)
			}
		})
	}
}

// What encoding/json accepts and means the same is still accepted.
func TestDecodeStrictAccepts(t *testing.T) {
	cases := []struct {
		ref  model.Ref
		json string
	}{
		{svc("web"), `{"protocol":"http","lb_policy":null,"circuit_breakers":null}`},
		{svc("web"), ` { "protocol" : "http" , "connect_timeout" : "2s" } `},
		{svc("web"), `{"protocol":"ht\u0074p"}`},
		{ep("web/a"), `{"address":"10.0.0.1","port":80,"metadata":{"k":"\ud83d\ude00 \ufffd ` + "\uFFFD" + `","\\ufffd":"a\\\\ufffd"}}`},
		{ep("web/a"), `{"address":"10.0.0.1","port":8e1}`[:0] + `{"address":"10.0.0.1","port":80,"weight":1}`},
		{rt("r"), `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","timeout":"1s"}]}]}`},
		{model.Ref{Kind: model.KindHealth, Name: "web/a"}, `{"status":"healthy","since":"2024-01-02T03:04:05Z"}`},
	}
	for _, c := range cases {
		if _, err := model.Decode(c.ref, []byte(c.json)); err != nil {
			t.Errorf("%s: %v", c.json, err)
		}
	}
}

// Syntax errors keep the messages they had: the strict pass leaves them
// to encoding/json.
func TestDecodeStrictLeavesSyntaxToJSON(t *testing.T) {
	for in, want := range map[string]string{
		`{"protocol":"http",`:            "invalid JSON: empty or truncated value",
		`{"protocol":"http" "x"}`:        "invalid JSON at byte 20",
		`{"protocol":"http"} {}`:         "invalid JSON: data after the object",
		`{"protocol":"http","protocol":`: "invalid JSON: empty or truncated value",
	} {
		_, err := model.Decode(svc("web"), []byte(in))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: got %v, want %s...", in, err, want)
		}
	}
}

// An object of many keys costs linear time: the duplicate check switches
// to a map.
func TestDecodeStrictManyKeys(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"address":"10.0.0.1","port":80,"metadata":{`)
	for i := range 5000 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"k` + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + `":"v"`)
	}
	b.WriteString(`,"kxa":"dup"}}`)
	_, err := model.Decode(ep("web/a"), b.Bytes())
	if err == nil || !strings.Contains(err.Error(), `field metadata["kxa"]: duplicate key`) {
		t.Errorf("got %v", err)
	}
}

func ep(n string) model.Ref { return model.Ref{Kind: model.KindEndpoint, Name: n} }

// typicalRouteTable is a route table as an operator writes one: two
// virtual hosts, a dozen routes with header matches, retries, header edits.
func typicalRouteTable() []byte {
	var routes []any
	for i := range 6 {
		p := "/api/v" + string(rune('0'+i)) + "/"
		routes = append(routes, map[string]any{
			"match":   map[string]any{"prefix": p, "headers": []any{map[string]any{"name": "x-tenant", "exact": "blue"}}},
			"service": "api", "timeout": "5s", "prefix_rewrite": "/",
			"retries":                map[string]any{"retry_on": "5xx,connect-failure", "num_retries": 2, "per_try_timeout": "500ms"},
			"request_headers_to_add": []any{map[string]any{"name": "x-route", "value": p}},
		}, map[string]any{
			"match":             map[string]any{"regex": p + "[0-9]+"},
			"weighted_services": []any{map[string]any{"service": "api", "weight": 90}, map[string]any{"service": "api-canary", "weight": 10}},
		})
	}
	vh := func(name, domain string) any {
		return map[string]any{"name": name, "domains": []string{domain, "www." + domain}, "routes": routes}
	}
	b, err := json.Marshal(map[string]any{"virtual_hosts": []any{vh("a", "a.example.com"), vh("b", "b.example.com")}})
	if err != nil {
		panic(err)
	}
	return b
}

// BenchmarkDecodeRouteTable measures Decode of a typical route table;
// "json-only" is encoding/json's decode alone, as Decode was before the
// strict pass, for comparison.
func BenchmarkDecodeRouteTable(b *testing.B) {
	data := typicalRouteTable()
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := model.Decode(rt("r"), data); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-strict", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v model.RouteTable
			if err := model.DecodeStrict(data, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json-only", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		b.ReportAllocs()
		for b.Loop() {
			var v model.RouteTable
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The strict pass never panics, and reads as well-formed exactly what
// encoding/json reads as well-formed: every other error is left to it.
func FuzzDecodeStrict(f *testing.F) {
	for _, s := range []string{`{"protocol":"http"}`, `{"virtual_hosts":[{"name":"v","routes":[{"match":{"prefix":"/"}}]}]}`,
		`{"a":"\ud800\udc00","b":[1,-0.5e+3,true,null]}`, "{\"k\":\"\xff\"}", `[`, `{"a":1,"a":2}`, `"\u00e9"`, `{"address":"x","metadata":{"k":"v"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, k := range model.Kinds {
			v, _ := model.New(k)
			err := model.DecodeStrict(data, v)
			var syntax bool
			if err != nil {
				syntax = strings.HasPrefix(err.Error(), "invalid JSON")
			}
			var raw json.RawMessage // syntax only
			jsonErr := json.NewDecoder(bytes.NewReader(data)).Decode(&raw)
			if (jsonErr != nil) != syntax && !strings.Contains(err.Error(), "data after the object") {
				t.Fatalf("%q: strict %v, encoding/json %v", data, err, jsonErr)
			}
		}
	})
}

// A value nested past encoding/json's depth limit is refused as encoding/json
// refuses it, without the strict pass recursing a million levels deep.
func TestDecodeStrictDeepValue(t *testing.T) {
	n := 1_000_000
	data := slices.Concat([]byte(`{"virtual_hosts":`), bytes.Repeat([]byte("["), n), bytes.Repeat([]byte("]"), n), []byte("}"))
	err := model.DecodeStrict(data, &model.RouteTable{})
	if err == nil || !strings.Contains(err.Error(), "exceeded max depth") {
		t.Errorf("got %.200v", err)
	}
}

// A value of many bad keys reports the first hundred, not megabytes.
func TestDecodeStrictBoundsErrors(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"protocol":"http"`)
	for i := range 10000 {
		b.WriteString(`,"x` + strconv.Itoa(i) + `":1`)
	}
	b.WriteString("}")
	err := model.DecodeStrict(b.Bytes(), &model.Service{})
	var fes model.FieldErrors
	if !errors.As(err, &fes) || len(fes) != 101 || fes[100].Msg != "and more errors" {
		t.Errorf("got %d errors: %.200v", len(fes), err)
	}
}
