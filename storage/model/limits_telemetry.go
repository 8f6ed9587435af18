package model

import (
	"maps"
	"slices"
	"strconv"
)

// The telemetry limits: access logs, tracing and stat prefixes.
const (
	limAccessLogs fieldLimit = iota + limRoutingEnd
	limAccessLogPath
	limAccessLogText
	limAccessLogFields
	limAccessLogFieldKey
	limAccessLogFieldValue
	limAccessLogStatusMin
	limAccessLogStatusMax
	limTracingService
	limTracingServiceName
	limListenerStatPrefix
	limRouteStatPrefix
	limTelemetryEnd
)

// statPrefixMax bounds a stat prefix: Envoy keeps every stat name, so a
// prefix is a short segment, not a place for data.
const statPrefixMax = 128

func telemetryLimits() map[fieldLimit]Limit {
	lis := func(fields string) string {
		return `{"address":"127.0.0.1","port":8080,"protocol":"http","route_table":"web","groups":["edge"],` + fields + `}`
	}
	log := func(fields string) string { return lis(`"access_logs":[{` + fields + `}]`) }
	status := func(f string) Limit {
		return Limit{Kind: KindListener, Field: "access_logs[*].status." + f, Unit: UnitNumber, Min: 100, Max: 599, Unset: true,
			In: log(`"path":"/dev/null","status":{"` + f + `":@}`)}
	}
	const r = "virtual_hosts[*].routes[*]."
	return map[fieldLimit]Limit{
		limAccessLogs: {Kind: KindListener, Field: "access_logs", Unit: UnitItems, Max: 8, Fill: `{"path":"/dev/null"}`,
			In: lis(`"access_logs":@`)},
		limAccessLogPath: {Kind: KindListener, Field: "access_logs[*].path", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "/|dev/null",
			Envoy: "FileAccessLog.path is not empty (PGV)", In: log(`"path":@`)},
		limAccessLogText: {Kind: KindListener, Field: "access_logs[*].text", Unit: UnitBytes, Max: 4096, Fill: "x",
			In: log(`"path":"/dev/null","text":@`)},
		limAccessLogFields: {Kind: KindListener, Field: "access_logs[*].fields", Unit: UnitKeys, Max: 64, Fill: `"k{i}":"%RESPONSE_CODE%"`,
			In: log(`"path":"/dev/null","format":"json","fields":@`)},
		limAccessLogFieldKey: {Kind: KindListener, Field: "access_logs[*].fields", Unit: UnitKeyBytes, Min: 1, Max: 128, Fill: "k",
			In: log(`"path":"/dev/null","format":"json","fields":@`)},
		limAccessLogFieldValue: {Kind: KindListener, Field: "access_logs[*].fields[*]", Unit: UnitBytes, Max: 1024, Fill: "v",
			In: log(`"path":"/dev/null","format":"json","fields":{"k":@}`)},
		limAccessLogStatusMin: status("min"),
		limAccessLogStatusMax: status("max"),
		limTracingService: {Kind: KindListener, Field: "tracing.service", Unit: UnitBytes, Max: nameMax, Fill: "s",
			In: lis(`"tracing":{"service":@}`)},
		limTracingServiceName: {Kind: KindListener, Field: "tracing.service_name", Unit: UnitBytes, Max: 256, Fill: "s",
			In: lis(`"tracing":{"service":"web","service_name":@}`)},
		limListenerStatPrefix: {Kind: KindListener, Field: "stat_prefix", Unit: UnitBytes, Max: statPrefixMax, Fill: "s",
			In: lis(`"stat_prefix":@`)},
		limRouteStatPrefix: {Kind: KindRouteTable, Field: r + "stat_prefix", Unit: UnitBytes, Max: statPrefixMax, Fill: "s",
			In: `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web","stat_prefix":@}]}]}`},
	}
}

// checkTelemetryLimits bounds the listener's telemetry fields.
func (l *Listener) checkTelemetryLimits(v *validator) {
	v.checkLen(limListenerStatPrefix, len(l.StatPrefix), "stat_prefix")
	v.checkLen(limAccessLogs, len(l.AccessLogs), "access_logs")
	for i := range l.AccessLogs {
		a := &l.AccessLogs[i]
		p := "access_logs[" + strconv.Itoa(i) + "]"
		v.checkLen(limAccessLogPath, len(a.Path), p, ".path")
		v.checkLen(limAccessLogText, len(a.Text), p, ".text")
		v.checkLen(limAccessLogFields, len(a.Fields), p, ".fields")
		for _, k := range slices.Sorted(maps.Keys(a.Fields)) {
			v.checkLen(limAccessLogFieldKey, len(k), p, ".fields")
			v.checkLen(limAccessLogFieldValue, len(a.Fields[k]), p, ".fields[", strconv.QuoteToASCII(k), "]")
		}
		if s := a.Status; s != nil {
			v.checkNumber(limAccessLogStatusMin, uint64(s.Min), p, ".status.min")
			v.checkNumber(limAccessLogStatusMax, uint64(s.Max), p, ".status.max")
		}
	}
	if t := l.Tracing; t != nil {
		v.checkLen(limTracingService, len(t.Service), "tracing.service")
		v.checkLen(limTracingServiceName, len(t.ServiceName), "tracing.service_name")
	}
}
