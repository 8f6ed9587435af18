package model

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Unit is what a Limit bounds.
type Unit string

// The units of Limits.
const (
	UnitBytes    Unit = "bytes"     // a string's length in bytes
	UnitKeyBytes Unit = "key bytes" // the length in bytes of each key of a map
	UnitItems    Unit = "items"     // a list's length
	UnitKeys     Unit = "keys"      // a map's number of keys
	UnitNumber   Unit = "number"    // an integer's value
	UnitDuration Unit = "duration"  // a duration's value
)

// Limit is one bound on one field. Validation enforces every Limit in
// Limits and nothing else bounds a size, so the table is the whole list
// that the README documents and the tests walk.
type Limit struct {
	Kind  Kind
	Field string // the field's path as errors give it, "[*]" for every list item or map value
	Unit  Unit
	// Min and Max are the least and the largest value accepted, durations
	// in nanoseconds. A zero Min bounds nothing below. Where Unset is true
	// a zero value means the field is unset (its default applies) and is
	// accepted whatever Min says.
	Min, Max int64
	Unset    bool
	// Envoy is the rule of Envoy's that the bound keeps Chancery within,
	// so that Envoy never refuses what Chancery sends; "" for a bound of
	// Chancery's own, chosen as what an operator would never need to pass.
	Envoy string
	// Fill and In make example values (At, Over, Below) and objects. Fill
	// is a valid text grown by repeating the byte before '|' (what follows
	// '|' stays last) for bytes, a valid key for key bytes, and one item's
	// JSON with "{i}" for its index for items and keys. In is a valid
	// object of Kind whose field is the "@" it holds.
	Fill, In string
}

// fieldLimit names a Limit by its index in Limits.
type fieldLimit int

// Validation refers to each limit by name, so the table is the one place
// a bound is written.
const (
	limConnectTimeout fieldLimit = iota
	limMaxConnections
	limMaxPendingRequests
	limMaxRequests
	limMaxRetries
	limConsecutive5xx
	limODInterval
	limBaseEjectionTime
	limMaxEjectionPercent
	limHCPath
	limHCStatuses
	limHCStatus
	limHCInterval
	limHCTimeout
	limHealthyThreshold
	limUnhealthyThreshold
	limEndpointPort
	limEndpointWeight
	limZone
	limMetadata
	limMetadataKey
	limMetadataValue
	limHealthReason
	limListenerPort
	limListenerRouteTable
	limListenerService
	limGroups
	limGroup
	// the route table's limits follow in limits_route.go
)

// Limits is every bound validation enforces.
var Limits = limitTable(serviceLimits(), routeTableLimits(), tlsLimits(),
	authzLimits(), jwtLimits(), trafficLimits(), routingLimits(), telemetryLimits(), localityLimits(), patchLimits())

// limitTable places each limit at its index.
func limitTable(parts ...map[fieldLimit]Limit) []Limit {
	out := make([]Limit, numLimits)
	for _, part := range parts {
		for id, l := range part {
			out[id] = l
		}
	}
	return out
}

func limit(id fieldLimit) *Limit { return &Limits[id] }

const (
	maxCount = 1_000_000_000 // circuit breaker thresholds: 10^9 is no limit in practice
	nameMax  = 253           // an object, group or service name: a DNS name's length
)

func serviceLimits() map[fieldLimit]Limit {
	svc := func(fields string) string { return `{"protocol":"http",` + fields + `}` }
	cb := func(f string) Limit {
		return Limit{Kind: KindService, Field: "circuit_breakers." + f, Unit: UnitNumber, Max: maxCount, Unset: true,
			In: svc(`"circuit_breakers":{"` + f + `":@}`)}
	}
	hc := func(fields string) string { return svc(`"health_check":{"type":"http","path":"/h",` + fields + `}`) }
	ep := func(fields string) string { return `{"address":"127.0.0.1","port":8080,` + fields + `}` }
	lis := func(fields string) string { return `{"address":"127.0.0.1","protocol":"http",` + fields + `}` }
	ms := int64(time.Millisecond)
	return map[fieldLimit]Limit{
		limConnectTimeout: {Kind: KindService, Field: "connect_timeout", Unit: UnitDuration, Min: ms, Max: int64(5 * time.Minute), Unset: true,
			Envoy: "Cluster.connect_timeout must be above 0 (PGV); Envoy counts it in milliseconds", In: svc(`"connect_timeout":@`)},
		limMaxConnections:     cb("max_connections"),
		limMaxPendingRequests: cb("max_pending_requests"),
		limMaxRequests:        cb("max_requests"),
		limMaxRetries:         cb("max_retries"),
		limConsecutive5xx: {Kind: KindService, Field: "outlier_detection.consecutive_5xx", Unit: UnitNumber, Max: 1000, Unset: true,
			In: svc(`"outlier_detection":{"consecutive_5xx":@}`)},
		limODInterval: {Kind: KindService, Field: "outlier_detection.interval", Unit: UnitDuration, Min: ms, Max: int64(time.Hour), Unset: true,
			Envoy: "OutlierDetection.interval must be above 0 (PGV); Envoy counts it in milliseconds", In: svc(`"outlier_detection":{"interval":@}`)},
		limBaseEjectionTime: {Kind: KindService, Field: "outlier_detection.base_ejection_time", Unit: UnitDuration, Min: ms, Max: int64(time.Hour), Unset: true,
			Envoy: "OutlierDetection.base_ejection_time must be above 0 (PGV); Envoy counts it in milliseconds", In: svc(`"outlier_detection":{"base_ejection_time":@}`)},
		limMaxEjectionPercent: {Kind: KindService, Field: "outlier_detection.max_ejection_percent", Unit: UnitNumber, Max: 100, Unset: true,
			Envoy: "OutlierDetection.max_ejection_percent at most 100 (PGV)", In: svc(`"outlier_detection":{"max_ejection_percent":@}`)},
		limHCPath: {Kind: KindService, Field: "health_check.path", Unit: UnitBytes, Min: 1, Max: 1024, Fill: "/h",
			In: svc(`"health_check":{"type":"http","path":@}`)},
		limHCStatuses: {Kind: KindService, Field: "health_check.expected_statuses", Unit: UnitItems, Max: 100, Fill: "200",
			In: hc(`"expected_statuses":@`)},
		limHCStatus: {Kind: KindService, Field: "health_check.expected_statuses[*]", Unit: UnitNumber, Min: 100, Max: 599,
			In: hc(`"expected_statuses":[@]`)},
		limHCInterval: {Kind: KindService, Field: "health_check.interval", Unit: UnitDuration, Min: int64(100 * time.Millisecond), Max: int64(time.Hour), Unset: true,
			In: hc(`"interval":@`)},
		limHCTimeout: {Kind: KindService, Field: "health_check.timeout", Unit: UnitDuration, Min: ms, Max: int64(time.Hour), Unset: true,
			In: hc(`"interval":"1h","timeout":@`)},
		limHealthyThreshold: {Kind: KindService, Field: "health_check.healthy_threshold", Unit: UnitNumber, Max: 100, Unset: true,
			In: hc(`"healthy_threshold":@`)},
		limUnhealthyThreshold: {Kind: KindService, Field: "health_check.unhealthy_threshold", Unit: UnitNumber, Max: 100, Unset: true,
			In: hc(`"unhealthy_threshold":@`)},
		limEndpointPort: {Kind: KindEndpoint, Field: "port", Unit: UnitNumber, Min: 1, Max: 65535,
			Envoy: "SocketAddress.port_value at most 65535 (PGV)", In: `{"address":"127.0.0.1","port":@}`},
		limEndpointWeight: {Kind: KindEndpoint, Field: "weight", Unit: UnitNumber, Min: 1, Max: 128, Unset: true,
			Envoy: "LbEndpoint.load_balancing_weight at least 1 (PGV; unset is sent as 1)", In: ep(`"weight":@`)},
		limZone:     {Kind: KindEndpoint, Field: "zone", Unit: UnitBytes, Max: nameMax, Fill: "z", In: ep(`"zone":@`)},
		limMetadata: {Kind: KindEndpoint, Field: "metadata", Unit: UnitKeys, Max: 64, Fill: `"k{i}":"v"`, In: ep(`"metadata":@`)},
		limMetadataKey: {Kind: KindEndpoint, Field: "metadata", Unit: UnitKeyBytes, Min: 1, Max: nameMax, Fill: "k",
			Envoy: "Struct field names are non-empty", In: ep(`"metadata":@`)},
		limMetadataValue: {Kind: KindEndpoint, Field: "metadata[*]", Unit: UnitBytes, Max: 4096, Fill: "v", In: ep(`"metadata":{"k":@}`)},
		limHealthReason: {Kind: KindHealth, Field: "reason", Unit: UnitBytes, Max: 1024, Fill: "r",
			In: `{"status":"healthy","since":"2024-01-02T03:04:05Z","reason":@}`},
		limListenerPort: {Kind: KindListener, Field: "port", Unit: UnitNumber, Min: 1, Max: 65535,
			Envoy: "SocketAddress.port_value at most 65535 (PGV)", In: lis(`"route_table":"web","groups":["edge"],"port":@`)},
		limListenerRouteTable: {Kind: KindListener, Field: "route_table", Unit: UnitBytes, Max: nameMax, Fill: "r",
			In: lis(`"port":8080,"groups":["edge"],"route_table":@`)},
		limListenerService: {Kind: KindListener, Field: "service", Unit: UnitBytes, Max: nameMax, Fill: "s",
			In: `{"address":"127.0.0.1","protocol":"tcp","port":8080,"groups":["edge"],"service":@}`},
		limGroups: {Kind: KindListener, Field: "groups", Unit: UnitItems, Min: 1, Max: 100, Fill: `"g{i}"`,
			In: lis(`"port":8080,"route_table":"web","groups":@`)},
		limGroup: {Kind: KindListener, Field: "groups[*]", Unit: UnitBytes, Max: nameMax, Fill: "g",
			In: lis(`"port":8080,"route_table":"web","groups":[@]`)},
	}
}

// At is the JSON of the largest value l accepts.
func (l Limit) At() string { return l.value(l.Max) }

// Over is the JSON of the first value above l's maximum, which l refuses.
func (l Limit) Over() string { return l.value(l.Max + 1) }

// Below is the JSON of the first value below l's minimum, which l
// refuses; ok is false when every value below is accepted or unset.
func (l Limit) Below() (string, bool) {
	if l.Min <= 0 || (l.Min == 1 && l.Unset) {
		return "", false
	}
	return l.value(l.Min - 1), true
}

// Object is l.In with its field set to value (JSON).
func (l Limit) Object(value string) string { return strings.Replace(l.In, "@", value, 1) }

// value is the JSON of a value of size or value n.
func (l Limit) value(n int64) string {
	switch l.Unit {
	case UnitNumber:
		return strconv.FormatInt(n, 10)
	case UnitDuration:
		return strconv.Quote(durationText(time.Duration(n)))
	case UnitBytes:
		return jsonString(fill(l.Fill, int(n)))
	case UnitKeyBytes:
		return "{" + jsonString(fill(l.Fill, int(n))) + `:"v"}`
	}
	items := make([]string, n)
	for i := range items {
		items[i] = strings.ReplaceAll(l.Fill, "{i}", strconv.Itoa(i))
	}
	if l.Unit == UnitKeys {
		return "{" + strings.Join(items, ",") + "}"
	}
	return "[" + strings.Join(items, ",") + "]"
}

// fill grows pattern to n bytes ("/a|]" to "/aaa]"); a shorter n cuts it.
func fill(pattern string, n int) string {
	head, tail, _ := strings.Cut(pattern, "|")
	if pad := n - len(head) - len(tail); pad > 0 && head != "" {
		return head + strings.Repeat(head[len(head)-1:], pad) + tail
	}
	return (head + tail)[:min(n, len(head)+len(tail))]
}

func jsonString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		return `""` // unreachable: a string always marshals
	}
	return string(b)
}

// Range is the bound as the README writes it: "1ms–5m", "at most 100".
func (l Limit) Range() string {
	format := func(n int64) string {
		if l.Unit == UnitDuration {
			return durationText(time.Duration(n))
		}
		return strconv.FormatInt(n, 10)
	}
	unit := ""
	switch l.Unit {
	case UnitBytes, UnitKeyBytes, UnitItems, UnitKeys:
		unit = " " + string(l.Unit)
	}
	if l.Min > 0 {
		return format(l.Min) + "–" + format(l.Max) + unit
	}
	return "at most " + format(l.Max) + unit
}

// durationText writes d without zero units: "24h", "1h30m", "5m", "1ms".
func durationText(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// The checks take the field's path in parts, joined only for an error:
// a valid object, the usual case, then costs no string building.

// checkNumber reports n outside l's range.
func (v *validator) checkNumber(id fieldLimit, n uint64, path ...string) {
	l := limit(id)
	if n == 0 && l.Unset {
		return
	}
	if n < uint64(l.Min) || n > uint64(l.Max) {
		field := strings.Join(path, "")
		if l.Min > 0 {
			v.add(field, "must be %d-%d, got %d", l.Min, l.Max, n)
		} else {
			v.add(field, "must be at most %d, got %d", l.Max, n)
		}
	}
}

// checkDuration reports a duration outside l's range; Duration.check has
// reported one that does not parse or is negative.
func (v *validator) checkDuration(id fieldLimit, d Duration, path ...string) {
	l := limit(id)
	field := func() string { return strings.Join(path, "") }
	switch n := int64(d.d); {
	case d.bad != "" || n < 0 || (n == 0 && l.Unset):
	case n < l.Min && l.Envoy != "":
		v.add(field(), "must be at least %s, got %s (Envoy counts in milliseconds)", durationText(time.Duration(l.Min)), d.d)
	case n < l.Min:
		v.add(field(), "must be at least %s, got %s", durationText(time.Duration(l.Min)), d.d)
	case n > l.Max:
		v.add(field(), "must be at most %s, got %s", durationText(time.Duration(l.Max)), durationText(d.d))
	}
}

// checkLen reports a string, list or map longer than l allows. What is
// too short (an empty list, a missing path) each field's own rule reports,
// with a message that says what is missing.
func (v *validator) checkLen(id fieldLimit, n int, path ...string) {
	l := limit(id)
	if int64(n) <= l.Max {
		return
	}
	field := strings.Join(path, "")
	what := "bytes"
	switch l.Unit {
	case UnitKeyBytes:
		v.add(field, "a key of %d bytes: keys are at most %d bytes", n, l.Max)
		return
	case UnitItems:
		what = "items"
	case UnitKeys:
		what = "keys"
	}
	v.add(field, "at most %d %s, got %d", l.Max, what, n)
}

// String writes l as "services/<name> connect_timeout: 1ms–5m".
func (l Limit) String() string {
	return fmt.Sprintf("%s %s (%s): %s", l.Kind, l.Field, l.Unit, l.Range())
}
