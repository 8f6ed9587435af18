package e2e

import (
	"fmt"

	"github.com/chancery-xds/chancery/storage/model"
)

// telemetryBases are valid objects holding every telemetry field: TestBadInputTable
// spoils each field of each in every way it knows.
var telemetryBases = []badInputBase{
	{model.KindListener, `{"address":"127.0.0.1","port":18171,"protocol":"http","route_table":"web","groups":["bad-input"],"stat_prefix":"bad_input_http",
		"access_logs":[{"path":"/dev/null","format":"text","text":"%REQ(:METHOD)% %RESPONSE_CODE%\n"},
			{"path":"/dev/null","format":"json","fields":{"status":"%RESPONSE_CODE%","path":"%REQ(:PATH)%"},"status":{"min":400,"max":599}}],
		"tracing":{"service":"web","service_name":"bad-input","sampling":50}}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18172,"protocol":"tcp","service":"web","groups":["bad-input"],"stat_prefix":"bad_input_tcp",
		"access_logs":[{"path":"/dev/null","text":"%DOWNSTREAM_REMOTE_ADDRESS% %BYTES_SENT%"}]}`},
	{model.KindRouteTable, `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","stat_prefix":"all_routes"}]}]}`},
}

// telemetryBadCases are the telemetry values only their own rule refuses (a value of
// the right type that means nothing, a reference to nothing).
func telemetryBadCases() []badCase {
	http := func(fields string) []byte {
		return []byte(`{"address":"127.0.0.1","port":18173,"protocol":"http","route_table":"web","groups":["bad-input"],` + fields + `}`)
	}
	tcp := func(fields string) []byte {
		return []byte(`{"address":"127.0.0.1","port":18174,"protocol":"tcp","service":"web","groups":["bad-input"],` + fields + `}`)
	}
	log := func(fields string) []byte { return http(`"access_logs":[{` + fields + `}]`) }
	cases := []struct {
		what  string
		kind  model.Kind
		value []byte
		field string
	}{
		{"relative log path", model.KindListener, log(`"path":"logs/a.log"`), "access_logs[0].path"},
		{"log path with ..", model.KindListener, log(`"path":"/var/log/../a.log"`), "access_logs[0].path"},
		{"log path a directory", model.KindListener, log(`"path":"/var/log/"`), "access_logs[0].path"},
		{"unknown format", model.KindListener, log(`"path":"/dev/null","format":"xml"`), "access_logs[0].format"},
		{"unknown operator", model.KindListener, log(`"path":"/dev/null","text":"%RESPONSE_CODEX%"`), "access_logs[0].text"},
		{"environment operator", model.KindListener, log(`"path":"/dev/null","text":"%ENVIRONMENT(HOME)%"`), "access_logs[0].text"},
		{"lone percent", model.KindListener, log(`"path":"/dev/null","text":"100% done"`), "access_logs[0].text"},
		{"argument on a plain operator", model.KindListener, log(`"path":"/dev/null","text":"%DURATION(ms)%"`), "access_logs[0].text"},
		{"header operator without a header", model.KindListener, log(`"path":"/dev/null","text":"%REQ%"`), "access_logs[0].text"},
		{"fields on a text log", model.KindListener, log(`"path":"/dev/null","fields":{"s":"%RESPONSE_CODE%"}`), "access_logs[0].fields"},
		{"text on a json log", model.KindListener, log(`"path":"/dev/null","format":"json","text":"x","fields":{"s":"%RESPONSE_CODE%"}`), "access_logs[0].text"},
		{"json log without fields", model.KindListener, log(`"path":"/dev/null","format":"json"`), "access_logs[0].fields"},
		{"bad json field operator", model.KindListener, log(`"path":"/dev/null","format":"json","fields":{"s":"%CODE%"}`), "access_logs[0].fields[*]"},
		{"empty json field", model.KindListener, log(`"path":"/dev/null","format":"json","fields":{"s":""}`), "access_logs[0].fields[*]"},
		{"empty status filter", model.KindListener, log(`"path":"/dev/null","status":{}`), "access_logs[0].status"},
		{"status min above max", model.KindListener, log(`"path":"/dev/null","status":{"min":500,"max":400}`), "access_logs[0].status"},
		{"status filter on tcp", model.KindListener, tcp(`"access_logs":[{"path":"/dev/null","status":{"min":400}}]`), "access_logs[0].status"},
		{"tracing on tcp", model.KindListener, tcp(`"tracing":{"service":"web"}`), "tracing"},
		{"sampling 0", model.KindListener, http(`"tracing":{"service":"web","sampling":0}`), "tracing.sampling"},
		{"sampling 101", model.KindListener, http(`"tracing":{"service":"web","sampling":101}`), "tracing.sampling"},
		{"no collector", model.KindListener, http(`"tracing":{}`), "tracing.service"},
		{"missing collector", model.KindListener, http(`"tracing":{"service":"collector-gone"}`), "tracing.service"},
		{"dotted listener stat prefix", model.KindListener, http(`"stat_prefix":"edge.in"`), "stat_prefix"},
		{"dotted route stat prefix", model.KindRouteTable,
			[]byte(`{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","stat_prefix":"a.b"}]}]}`),
			"virtual_hosts[0].routes[0].stat_prefix"},
	}
	out := make([]badCase, len(cases))
	for i, c := range cases {
		out[i] = badCase{what: fmt.Sprintf("telemetry: %s", c.what), kind: c.kind, value: c.value, field: namesFieldRE(c.field)}
	}
	return out
}
