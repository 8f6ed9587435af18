package model_test

import (
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// refFor names an object of kind k for the limit tests.
func refFor(k model.Kind) model.Ref {
	if k.NameParts() == 2 {
		return model.Ref{Kind: k, Name: "web/a"}
	}
	return model.Ref{Kind: k, Name: "web"}
}

// FieldPattern matches the paths a limit's errors give: "[*]" stands for
// any list index or map key.
func fieldPattern(field string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(field), `\[\*\]`, `\[[^\]]+\]`) + "$")
}

// namesField reports whether err has a field error at a path of field.
func namesField(err error, field string) bool {
	re := fieldPattern(field)
	var fes model.FieldErrors
	if !errors.As(err, &fes) {
		return false
	}
	for _, fe := range fes {
		if re.MatchString(fe.Field) {
			return true
		}
	}
	return false
}

// Every limit accepts its largest value and refuses the next one (and the
// one below its least), with an error at the limit's field.
func TestLimitsAreEnforced(t *testing.T) {
	for i, l := range model.Limits {
		if l.Kind == "" || l.Field == "" || !strings.Contains(l.In, "@") || l.Max <= 0 {
			t.Errorf("Limits[%d] is incomplete: %+v", i, l)
			continue
		}
		t.Run(l.Kind.Segment()+"/"+l.Field+"/"+string(l.Unit), func(t *testing.T) {
			ref := refFor(l.Kind)
			if _, err := model.Decode(ref, []byte(l.Object(l.At()))); err != nil {
				t.Errorf("at the limit (%.80s): %v", l.At(), err)
			}
			_, err := model.Decode(ref, []byte(l.Object(l.Over())))
			if !namesField(err, l.Field) {
				t.Errorf("over the limit (%.80s): %v, want an error at %s", l.Over(), err, l.Field)
			}
			if below, ok := l.Below(); ok {
				_, err := model.Decode(ref, []byte(l.Object(below)))
				if !namesField(err, l.Field) {
					t.Errorf("below the limit (%.80s): %v, want an error at %s", below, err, l.Field)
				}
			}
		})
	}
}

func TestLimitMessages(t *testing.T) {
	route := func(r string) string {
		return `{"virtual_hosts":[{"name":"v","domains":["*"],"routes":[{"match":{"prefix":"/"},"service":"web",` + r + `}]}]}`
	}
	value := func(n int, s string) string {
		return `"request_headers_to_add":[{"name":"x","value":"` + strings.Repeat(s, n) + `"}]`
	}
	cases := []struct {
		ref        model.Ref
		json, want string
	}{
		{rt("r"), route(`"timeout":"1000000h"`), "field virtual_hosts[0].routes[0].timeout: must be at most 24h, got 1000000h"},
		{rt("r"), route(`"timeout":"500us"`), "field virtual_hosts[0].routes[0].timeout: must be at least 1ms, got 500µs (Envoy counts in milliseconds)"},
		{rt("r"), route(value(16385, "v")), "field virtual_hosts[0].routes[0].request_headers_to_add[0].value: at most 16384 bytes, got 16385"},
		// Envoy is sent "%%" for each '%': 8193 of them are 16386 bytes.
		{rt("r"), route(value(8193, "%")), `field virtual_hosts[0].routes[0].request_headers_to_add[0].value: at most 16384 bytes, each '%' counting twice (Envoy is sent "%%"), got 16386`},
		{rt("r"), route(value(8192, "%")), ""},
		{rt("r"), `{"virtual_hosts":[{"name":"v","domains":["a\nb"],"routes":[{"match":{"prefix":"/"},"service":"web"}]}]}`,
			"field virtual_hosts[0].domains[0]: must not contain CR, LF or NUL"},
		{svc("web"), `{"protocol":"http","health_check":{"type":"http","path":"/h\r\nx"}}`, "field health_check.path: must not contain CR, LF or NUL"},
		{svc("web"), `{"protocol":"http","circuit_breakers":{"max_requests":4294967295}}`, "field circuit_breakers.max_requests: must be at most 1000000000, got 4294967295"},
		{svc("web"), `{"protocol":"http","connect_timeout":"5m0.001s"}`, "field connect_timeout: must be at most 5m, got 5m0.001s"},
		{ep("web/a"), `{"address":"10.0.0.1","port":0}`, "field port: must be 1-65535, got 0"},
		{ep("web/a"), `{"address":"10.0.0.1","port":80,"metadata":{"` + strings.Repeat("k", 254) + `":"v"}}`, "field metadata: a key of 254 bytes: keys are at most 253 bytes"},
	}
	for _, c := range cases {
		_, err := model.Decode(c.ref, []byte(c.json))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%.100s: %v", c.json, err)
		case c.want != "" && (err == nil || err.Error() != c.want):
			t.Errorf("%.100s:\n got %.300v\nwant %s", c.json, err, c.want)
		}
	}
}

// boundedOtherwise reports whether field ("Kind path") is in
// boundedElsewhere or in a policy feature's list of its own.
func boundedOtherwise(field string) bool {
	for _, m := range []map[string]string{boundedElsewhere, authzBounded, jwtBounded, trafficBounded,
		routingBounded, telemetryBounded, localityBounded, patchBounded} {
		if _, ok := m[field]; ok {
			return true
		}
	}
	return false
}

// boundedElsewhere are the fields of no Limit, with what bounds them.
var boundedElsewhere = map[string]string{
	"Service protocol": "one of four names", "Service lb_policy": "one of four names",
	"Service health_check.type": "one of three names",
	"Endpoint address":          "an IP address", "Listener address": "an IP address", "Listener protocol": "one of two names",
	"Health status": "one of two names", "Health since": "a time",
	"RouteTable virtual_hosts[*].routes[*].redirect.status": "one of five statuses",
	"Listener tls.min_version":                              "one of two versions", "Listener tls.alpn": "a subset of h2, http/1.1",
	"Listener tls.alpn[*]":                     "h2 or http/1.1",
	"Secret tls_certificate.certificate_chain": "PEM, at most 64 KiB", "Secret tls_certificate.private_key": "PEM, at most 16 KiB",
	"Secret validation_context.ca_bundle": "PEM, at most 512 KiB",
}

// Every duration, number, string, list and map of every kind, nested ones
// included, has a Limit (or is an enumeration, an address or a time).
func TestEveryFieldIsBounded(t *testing.T) {
	kinds := map[model.Kind]reflect.Type{}
	for _, k := range model.Kinds {
		obj, err := model.New(k)
		if err != nil {
			t.Fatal(err)
		}
		kinds[k] = reflect.TypeOf(obj).Elem()
	}
	for k, typ := range kinds {
		for _, f := range boundedFields(typ, "") {
			if boundedOtherwise(string(k) + " " + f) {
				continue
			}
			if !slices.ContainsFunc(model.Limits, func(l model.Limit) bool { return l.Kind == k && l.Field == f }) {
				t.Errorf("%s %s has no Limit", k, f)
			}
		}
	}
}

// boundedFields lists the paths of t's fields that need a bound, as
// Limit.Field writes them.
func boundedFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		out = append(out, fieldPaths(f.Type, prefix+name)...)
	}
	return out
}

func fieldPaths(t reflect.Type, p string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[model.Duration](), t == reflect.TypeFor[time.Time]():
		return []string{p}
	case t.Kind() == reflect.Bool:
		return nil
	case t.Kind() == reflect.Struct:
		return boundedFields(t, p+".")
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Map:
		return append([]string{p}, fieldPaths(t.Elem(), p+"[*]")...)
	}
	return []string{p}
}

// docs/bounds.md lists every limit, as Range writes it.
func TestBoundsDocListsEveryLimit(t *testing.T) {
	readme, err := os.ReadFile("../../docs/bounds.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range model.Limits {
		row := "| `" + l.Kind.Segment() + "` | `" + l.Field + "` | " + l.Range() + " |"
		if !strings.Contains(string(readme), row) {
			t.Errorf("docs/bounds.md has no row %s", row)
		}
	}
}
