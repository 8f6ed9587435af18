package model_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

// httpListener is an http listener's JSON with more members.
func httpListener(fields string) string {
	return `{"port":8080,"protocol":"http","route_table":"web","groups":["edge"],` + fields + `}`
}

func tcpListener(fields string) string {
	return `{"port":5432,"protocol":"tcp","service":"db","groups":["edge"],` + fields + `}`
}

// Every telemetry field accepts what Envoy takes and refuses the rest with
// one error at the field, saying what is wanted.
func TestTelemetryValidation(t *testing.T) {
	cases := []struct {
		name, json, want string // want "" for a valid listener
	}{
		{"text log, default format", httpListener(`"access_logs":[{"path":"/dev/stdout"}]`), ""},
		{"text log, operators and escapes", httpListener(`"access_logs":[{"path":"/var/log/envoy/a.log","format":"text",
			"text":"[%START_TIME(%Y-%m-%dT%H:%M:%S%z)%] %REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %RESPONSE_CODE% 100%% %RESP(server):10%\n"}]`), ""},
		{"json log with a status range", httpListener(`"access_logs":[{"path":"/dev/stderr","format":"json",
			"fields":{"status":"%RESPONSE_CODE%","method":"%REQ(:METHOD)%","meta":"%DYNAMIC_METADATA(envoy.lb:canary)%","fs":"%FILTER_STATE(k:PLAIN)%","lit":"v1"},
			"status":{"min":400,"max":499}}]`), ""},
		{"tcp log", tcpListener(`"access_logs":[{"path":"/dev/stdout","text":"%DOWNSTREAM_REMOTE_ADDRESS% %BYTES_SENT%"}]`), ""},
		{"tracing and stat prefix", httpListener(`"tracing":{"service":"otel","service_name":"edge gateway","sampling":0.5},"stat_prefix":"edge_in-1"`), ""},
		{"least sampling", httpListener(`"tracing":{"service":"otel","sampling":0.0001}`), ""},

		{"relative path", httpListener(`"access_logs":[{"path":"logs/a.log"}]`),
			`field access_logs[0].path: want an absolute path such as /var/log/envoy/access.log (or /dev/stdout), got "logs/a.log"`},
		{"no path", httpListener(`"access_logs":[{}]`), "field access_logs[0].path: required: /dev/stdout, /dev/stderr or an absolute file path"},
		{"dot dot", httpListener(`"access_logs":[{"path":"/var/log/../a.log"}]`), `field access_logs[0].path: want a path without . or .. segments, got "/var/log/../a.log"`},
		{"directory", httpListener(`"access_logs":[{"path":"/var/log/"}]`), `field access_logs[0].path: want a file, got the directory "/var/log/"`},
		{"control in path", httpListener(`"access_logs":[{"path":"/a\nb"}]`), "field access_logs[0].path: must not contain control characters"},
		{"unknown operator", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%RESPONSE_CODEX%"}]`),
			"field access_logs[0].text: %RESPONSE_CODEX%: not a command operator Chancery knows"},
		{"environment refused", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%ENVIRONMENT(HOME)%"}]`),
			"field access_logs[0].text: %ENVIRONMENT(HOME)%: not a command operator Chancery knows"},
		{"lone percent", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"100% done"}]`),
			"field access_logs[0].text: at byte 3: want a command operator such as %RESPONSE_CODE% or %REQ(x-request-id)%, or %% for a '%'"},
		{"unclosed operator", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%REQ(x-a"}]`), "field access_logs[0].text: at byte 0: want a command operator"},
		{"argument where none is taken", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%DURATION(ms)%"}]`),
			"field access_logs[0].text: %DURATION(ms)%: takes no argument"},
		{"header operator without a header", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%REQ%"}]`),
			"field access_logs[0].text: %REQ%: want a header name"},
		{"three headers", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%REQ(a?b?c)%"}]`), "field access_logs[0].text: %REQ(a?b?c)%: want a header name"},
		{"length on a plain operator", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%DURATION:3%"}]`),
			"field access_logs[0].text: %DURATION:3%: only REQ, RESP, TRAILER, DYNAMIC_METADATA and FILTER_STATE take a length"},
		{"length zero", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%REQ(a):0%"}]`), "field access_logs[0].text: %REQ(a):0%: want a length of 1 to 65536"},
		{"filter state how", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"%FILTER_STATE(k:RAW)%"}]`),
			"field access_logs[0].text: %FILTER_STATE(k:RAW)%: want FILTER_STATE(key)"},
		{"newline inside text", httpListener(`"access_logs":[{"path":"/dev/stdout","text":"a\nb"}]`),
			"field access_logs[0].text: must not contain control characters (a text format may end with a newline)"},
		{"fields on a text log", httpListener(`"access_logs":[{"path":"/dev/stdout","fields":{"s":"%RESPONSE_CODE%"}}]`),
			"field access_logs[0].fields: fields are for format json; a text log's line is its text"},
		{"text on a json log", httpListener(`"access_logs":[{"path":"/dev/stdout","format":"json","text":"x","fields":{"s":"%RESPONSE_CODE%"}}]`),
			"field access_logs[0].text: text is for format text; a json log's line is its fields"},
		{"json without fields", httpListener(`"access_logs":[{"path":"/dev/stdout","format":"json"}]`),
			`field access_logs[0].fields: required for format json: at least one key, e.g. {"status": "%RESPONSE_CODE%"}`},
		{"bad json value", httpListener(`"access_logs":[{"path":"/dev/stdout","format":"json","fields":{"s":"%CODE%"}}]`),
			`field access_logs[0].fields["s"]: %CODE%: not a command operator Chancery knows`},
		{"empty json value", httpListener(`"access_logs":[{"path":"/dev/stdout","format":"json","fields":{"s":""}}]`),
			`field access_logs[0].fields["s"]: want a command operator such as %RESPONSE_CODE%, got an empty value`},
		{"unknown format", httpListener(`"access_logs":[{"path":"/dev/stdout","format":"xml"}]`), `field access_logs[0].format: unknown format "xml": want text or json`},
		{"status on tcp", tcpListener(`"access_logs":[{"path":"/dev/stdout","status":{"min":400}}]`),
			"field access_logs[0].status: a tcp listener's log has a line per connection, with no response code to filter on"},
		{"empty status", httpListener(`"access_logs":[{"path":"/dev/stdout","status":{}}]`), `field access_logs[0].status: want min, max or both, e.g. {"min": 400}`},
		{"min above max", httpListener(`"access_logs":[{"path":"/dev/stdout","status":{"min":500,"max":400}}]`), "field access_logs[0].status: min 500 is above max 400"},
		{"status out of range", httpListener(`"access_logs":[{"path":"/dev/stdout","status":{"min":600}}]`), "field access_logs[0].status.min: must be 100-599, got 600"},
		{"sampling 0", httpListener(`"tracing":{"service":"otel","sampling":0}`), "field tracing.sampling: want a percentage of requests, 0.0001 to 100, got 0"},
		{"sampling 101", httpListener(`"tracing":{"service":"otel","sampling":101}`), "field tracing.sampling: want a percentage of requests, 0.0001 to 100, got 101"},
		{"no collector", httpListener(`"tracing":{}`), "field tracing.service: required: the service of the OpenTelemetry collector (gRPC)"},
		{"bad collector name", httpListener(`"tracing":{"service":"a b"}`), `field tracing.service: "a b" is not a valid service name`},
		{"tracing on tcp", tcpListener(`"tracing":{"service":"otel"}`), "field tracing: tracing is for http and https listeners"},
		{"dotted stat prefix", httpListener(`"stat_prefix":"edge.in"`),
			`field stat_prefix: want one stat name segment of letters, digits, '_' and '-' (no '.'), got "edge.in"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := model.Decode(lis("l"), []byte(c.json))
			switch {
			case c.want == "" && err != nil:
				t.Errorf("rejected: %v", err)
			case c.want != "" && err == nil:
				t.Errorf("accepted, want %s", c.want)
			case c.want != "" && !strings.HasPrefix(err.Error(), c.want):
				t.Errorf("got  %v\nwant %s", err, c.want)
			}
		})
	}
}

// A route's bad stat prefix rejects that route alone: the rest of its
// table is served.
func TestRouteStatPrefix(t *testing.T) {
	table := `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[
		{"match":{"prefix":"/a"},"service":"web","stat_prefix":"a.b"},
		{"match":{"prefix":"/"},"service":"web","stat_prefix":"root_1"}]}]}`
	obj, err := model.Decode(rt("r"), []byte(table))
	want := `field virtual_hosts[0].routes[0].stat_prefix: want one stat name segment of letters, digits, '_' and '-' (no '.'), got "a.b"`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	routes := obj.(*model.RouteTable).VirtualHosts[0].Routes
	if routes[0].Err == nil || routes[1].Err != nil {
		t.Errorf("route errors: %v, %v; want the first route rejected alone", routes[0].Err, routes[1].Err)
	}
}

// Sampling defaults to every request.
func TestTracingSamplingDefault(t *testing.T) {
	obj, err := model.Decode(lis("l"), []byte(httpListener(`"tracing":{"service":"otel"}`)))
	if err != nil {
		t.Fatal(err)
	}
	if got := obj.(*model.Listener).Tracing.SamplingPercent(); got != 100 {
		t.Errorf("default sampling %v, want 100", got)
	}
}

// No input makes the format check panic or loop: every prefix of a valid
// format, and odd ones, end in an answer.
func TestFormatCheckTerminates(t *testing.T) {
	const full = "%REQ(x-a?x-b):12%%%%START_TIME(%s)%x%"
	for i := range len(full) + 1 {
		doc := httpListener(`"access_logs":[{"path":"/dev/stdout","text":` + quote(full[:i]) + `}]`)
		_, err := model.Decode(lis("l"), []byte(doc))
		var fes model.FieldErrors
		if err != nil && !errors.As(err, &fes) {
			t.Errorf("%q: %v is not a field error", full[:i], err)
		}
	}
}
