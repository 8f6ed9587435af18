package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// badInputBases are valid objects that, together, hold every field of every
// kind, nested ones included: each bad input is one of them with one field
// spoilt. TestBadInputTable fails if a field of the model is in none.
var badInputBases = []badInputBase{
	{model.KindService, `{"protocol":"http","lb_policy":"least_request","connect_timeout":"2s",
		"circuit_breakers":{"max_connections":10,"max_pending_requests":10,"max_requests":10,"max_retries":3},
		"outlier_detection":{"consecutive_5xx":5,"interval":"10s","base_ejection_time":"30s","max_ejection_percent":50},
		"health_check":{"type":"http","path":"/healthz","expected_statuses":[200],"interval":"5s","timeout":"1s","healthy_threshold":2,"unhealthy_threshold":3}}`},
	{model.KindEndpoint, `{"address":"10.0.0.1","port":8080,"zone":"z1","weight":2,"metadata":{"team":"blue"}}`},
	{model.KindRouteTable, `{"virtual_hosts":[{"name":"all","domains":["*"],"routes":[
		{"match":{"prefix":"/a/","headers":[{"name":"x-e","exact":"1"},{"name":"x-p","prefix":"p"},{"name":"x-r","regex":"r+"},{"name":"x-n","present":true,"invert":true}]},
		 "service":"web","timeout":"5s","retries":{"retry_on":"5xx","num_retries":2,"per_try_timeout":"1s"},"prefix_rewrite":"/",
		 "request_headers_to_add":[{"name":"x-a","value":"1","append":true}],"request_headers_to_remove":["x-b"],
		 "response_headers_to_add":[{"name":"x-c","value":"2","append":true}]},
		{"match":{"path":"/w"},"weighted_services":[{"service":"web","weight":1}]},
		{"match":{"regex":"/d.*"},"direct_response":{"status":200,"body":"ok"}},
		{"match":{"prefix":"/"},"redirect":{"host":"example.com","path":"/x","https":true,"status":302}}]}]}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18081,"protocol":"http","route_table":"web","groups":["bad-input"]}`},
	{model.KindListener, `{"address":"127.0.0.1","port":18082,"protocol":"tcp","service":"web","groups":["bad-input"]}`},
	{model.KindHealth, `{"status":"healthy","since":"2024-01-02T03:04:05Z","reason":"ok"}`},
}

// allBases are badInputBases and the TLS ones: an upstream TLS service, an
// https listener and a passthrough one naming secrets/ca and secrets/c
// (TestBadInputTable writes them), and a secret of each type.
func allBases(t *testing.T) []badInputBase {
	sec := newTestSecrets(t)
	bases := slices.Concat(badInputBases, authzBases, jwtBases, trafficBases, routingBases, telemetryBases, localityBases, patchBases)
	return append(bases,
		badInputBase{model.KindService, `{"protocol":"http","tls":{"sni":"web.internal","ca":"ca","client_certificate":"c","subject_alt_names":["spiffe://corp/web"]}}`},
		badInputBase{model.KindListener, `{"address":"127.0.0.1","port":18083,"protocol":"https","route_table":"web","groups":["bad-input"],
			"tls":{"certificates":[{"secret":"c","server_names":["a.example.com"]},{"secret":"c"}],"client_ca":"ca","min_version":"1.3","alpn":["h2","http/1.1"]}}`},
		badInputBase{model.KindListener, `{"address":"127.0.0.1","port":18084,"protocol":"tcp","service":"web","groups":["bad-input"],
			"tls_passthrough":[{"server_names":["db.example.com"],"service":"web"}]}`},
		badInputBase{model.KindSecret, sec.cert},
		badInputBase{model.KindSecret, withSANs(t, sec.ca)},
	)
}

// withSANs adds subject_alt_names to a validation_context secret.
func withSANs(t *testing.T, ca string) string {
	var v map[string]map[string]any
	if err := json.Unmarshal([]byte(ca), &v); err != nil {
		t.Fatal(err)
	}
	v["validation_context"]["subject_alt_names"] = []string{"spiffe://corp/client"}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// badInputBase is one valid object of a kind, as JSON.
type badInputBase struct {
	kind model.Kind
	json string
}

// badCase is one bad value and the field its rejection must name.
type badCase struct {
	what  string
	kind  model.Kind
	value []byte
	field *regexp.Regexp
}

// step is one step of a path in a JSON tree: an object member or a list item.
type step struct {
	key   string // member name; "" for a list item
	index int
	isMap bool // the member is a map's key, written ["key"] in paths
}

// fieldAt is one field of a base object: where it is and its Go type.
type fieldAt struct {
	steps    []step
	typ      reflect.Type
	typePath string // as model.Limit writes it, "[*]" for each item
}

func chanceryPath(steps []step) string {
	var b strings.Builder
	for _, s := range steps {
		switch {
		case s.key == "":
			b.WriteString("[" + strconv.Itoa(s.index) + "]")
		case s.isMap:
			b.WriteString("[" + strconv.QuoteToASCII(s.key) + "]")
		default:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(s.key)
		}
	}
	return b.String()
}

// fieldsOf walks a decoded base along its Go type and lists every field
// and list item in it.
func fieldsOf(t reflect.Type, v any, steps []step, typePath string) []fieldAt {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []fieldAt
	switch {
	case t == reflect.TypeFor[model.Duration](), t == reflect.TypeFor[time.Time]():
	case t.Kind() == reflect.Struct:
		obj, _ := v.(map[string]any)
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			member, ok := obj[name]
			if name == "" || name == "-" || !ok {
				continue
			}
			s := append(slices.Clone(steps), step{key: name})
			tp := strings.TrimPrefix(typePath+"."+name, ".")
			out = append(out, fieldAt{steps: s, typ: t.Field(i).Type, typePath: tp})
			out = append(out, fieldsOf(t.Field(i).Type, member, s, tp)...)
		}
	case t.Kind() == reflect.Slice:
		items, _ := v.([]any)
		for i, item := range items {
			s := append(slices.Clone(steps), step{index: i})
			out = append(out, fieldAt{steps: s, typ: t.Elem(), typePath: typePath + "[*]"})
			out = append(out, fieldsOf(t.Elem(), item, s, typePath+"[*]")...)
		}
	case t.Kind() == reflect.Map:
		obj, _ := v.(map[string]any)
		for _, k := range slices.Sorted(maps.Keys(obj)) {
			s := append(slices.Clone(steps), step{key: k, isMap: true})
			out = append(out, fieldAt{steps: s, typ: t.Elem(), typePath: typePath + "[*]"})
		}
	}
	return out
}

// allTypePaths lists every field path of t, as fieldsOf names them.
func allTypePaths(t reflect.Type, typePath string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	switch {
	case t == reflect.TypeFor[model.Duration](), t == reflect.TypeFor[time.Time]():
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" || name == "-" {
				continue
			}
			tp := strings.TrimPrefix(typePath+"."+name, ".")
			out = append(out, tp)
			out = append(out, allTypePaths(t.Field(i).Type, tp)...)
		}
	case t.Kind() == reflect.Slice, t.Kind() == reflect.Map:
		out = append(out, typePath+"[*]")
		out = append(out, allTypePaths(t.Elem(), typePath+"[*]")...)
	}
	return out
}

func decodeTree(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("base %s: %v", s, err)
	}
	return v
}

// edit returns a copy of tree with the member or item at steps passed to
// change, which returns what to put there (the same key, or another).
func edit(tree any, steps []step, change func(key string, v any) (string, any)) any {
	if len(steps) == 0 {
		return tree
	}
	s := steps[0]
	switch node := tree.(type) {
	case map[string]any:
		out := maps.Clone(node)
		if len(steps) == 1 {
			delete(out, s.key)
			k, v := change(s.key, node[s.key])
			out[k] = v
			return out
		}
		out[s.key] = edit(node[s.key], steps[1:], change)
		return out
	case []any:
		out := slices.Clone(node)
		if len(steps) == 1 {
			_, out[s.index] = change("", node[s.index])
			return out
		}
		out[s.index] = edit(node[s.index], steps[1:], change)
		return out
	}
	return tree
}

func encode(t *testing.T, v any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSpace(buf.Bytes())
}

// wrongType is a JSON value of another type than t takes.
func wrongType(t reflect.Type) any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[model.Duration](), t == reflect.TypeFor[time.Time]():
		return 7
	case t.Kind() == reflect.String:
		return 7
	case t.Kind() == reflect.Bool:
		return "yes"
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return []any{}
	case t.Kind() == reflect.Slice:
		return map[string]any{}
	}
	return "7" // numbers
}

// exactField matches a rejection reason that names path, with a message
// that starts with msg.
func exactField(path, msg string) *regexp.Regexp {
	return regexp.MustCompile(`(^|; )field ` + regexp.QuoteMeta(path) + `: ` + regexp.QuoteMeta(msg))
}

// fieldCases spoils one field of base in every way that applies: a wrong
// JSON type, the name in another case, the key twice, invalid UTF-8.
func fieldCases(t *testing.T, kind model.Kind, tree any, f fieldAt) []badCase {
	path := chanceryPath(f.steps)
	last := f.steps[len(f.steps)-1]
	out := []badCase{{what: "wrong type", kind: kind, field: exactField(path, ""),
		value: encode(t, edit(tree, f.steps, func(k string, _ any) (string, any) { return k, wrongType(f.typ) }))}}
	if last.key != "" && !last.isMap {
		upper := strings.ToUpper(last.key[:1]) + last.key[1:]
		parent := chanceryPath(f.steps[:len(f.steps)-1])
		out = append(out, badCase{what: "wrong case", kind: kind, field: exactField(strings.TrimPrefix(parent+"."+upper, "."), "unknown field (did you mean"),
			value: encode(t, edit(tree, f.steps, func(_ string, v any) (string, any) { return upper, v }))})
	}
	if last.key != "" {
		// A Go map holds a key once: the duplicate is made in the text, from
		// a member renamed to a mark.
		const mark = "zz-dup-zz"
		var member, marked []byte
		spoilt := encode(t, edit(tree, f.steps, func(k string, v any) (string, any) {
			value := encode(t, v)
			member = slices.Concat(encode(t, k), []byte(":"), value)
			marked = slices.Concat(encode(t, mark), []byte(":"), value)
			return mark, v
		}))
		if !bytes.Contains(spoilt, marked) {
			t.Fatalf("%s: no %s in %s", path, marked, spoilt)
		}
		dup := bytes.Replace(spoilt, marked, slices.Concat(member, []byte(","), member), 1)
		out = append(out, badCase{what: "duplicate key", kind: kind, field: exactField(path, "duplicate key"), value: dup})
	}
	if f.typ.Kind() == reflect.String {
		const mark = "zz-bad-utf8-zz"
		spoilt := encode(t, edit(tree, f.steps, func(k string, _ any) (string, any) { return k, mark }))
		out = append(out, badCase{what: "invalid UTF-8", kind: kind, field: exactField(path, "not valid UTF-8"),
			value: bytes.Replace(spoilt, []byte(mark), []byte("b\xffd"), 1)})
	}
	return out
}

// badInputCases is the whole table: every field of every base spoilt, and
// every limit of model.Limits passed above and below.
func badInputCases(t *testing.T) []badCase {
	covered := map[model.Kind]map[string]bool{}
	var cases []badCase
	for _, b := range allBases(t) {
		obj, err := model.New(b.kind)
		if err != nil {
			t.Fatal(err)
		}
		tree := decodeTree(t, b.json)
		if covered[b.kind] == nil {
			covered[b.kind] = map[string]bool{}
		}
		for _, f := range fieldsOf(reflect.TypeOf(obj), tree, nil, "") {
			covered[b.kind][f.typePath] = true
			cases = append(cases, fieldCases(t, b.kind, tree, f)...)
		}
	}
	for _, k := range model.Kinds {
		obj, err := model.New(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range allTypePaths(reflect.TypeOf(obj), "") {
			if !covered[k][p] {
				t.Errorf("no base object of kind %s holds %s: add it to badInputBases", k, p)
			}
		}
	}
	for _, more := range [][]badCase{authzBadCases(), jwtBadCases(), trafficBadCases(), routingBadCases(),
		telemetryBadCases(), localityBadCases(), patchBadCases()} {
		cases = append(cases, more...)
	}
	for _, l := range model.Limits {
		cases = append(cases, badCase{what: "over its limit", kind: l.Kind, field: namesFieldRE(l.Field), value: []byte(l.Object(l.Over()))})
		if below, ok := l.Below(); ok {
			cases = append(cases, badCase{what: "below its limit", kind: l.Kind, field: namesFieldRE(l.Field), value: []byte(l.Object(below))})
		}
	}
	return cases
}

// etcdctlPut writes value to key with bin/etcdctl, the value on standard
// input: a value past a count limit is larger than one argument may be.
func etcdctlPut(t *testing.T, endpoint, key string, value []byte) error {
	cmd := exec.Command(filepath.Join(harness.RepoRoot(t), "bin", "etcdctl"), "--endpoints="+endpoint, "put", key)
	cmd.Stdin = bytes.NewReader(value)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("etcdctl put %s: %w: %s", key, err, bytes.TrimSpace(out))
	}
	return nil
}

// Every field of every kind, nested ones included, written wrong in each
// way (a wrong JSON type, the name in another case, the key twice, invalid
// UTF-8 in a string) and every value past a bound of model.Limits: each is
// put with etcdctl, one key per case, and each is rejected naming its field,
// while the valid objects beside them keep being served.
func TestBadInputTable(t *testing.T) {
	g := newRig(t)
	cases := badInputCases(t)
	keyOf := func(k model.Kind, name string) string {
		if k.NameParts() == 2 {
			name = "web/" + name
		}
		return k.Segment() + "/" + name
	}
	sec := newTestSecrets(t) // what the TLS bases name
	g.put("secrets/ca", sec.ca)
	g.put("secrets/c", sec.cert)
	var bases []string // the valid objects that must stay accepted
	for i, b := range allBases(t) {
		key := keyOf(b.kind, fmt.Sprintf("base-%d", i))
		if b.kind != model.KindHealth { // the leader deletes a verdict it did not make
			bases = append(bases, key)
		}
		g.put(key, b.json)
	}
	work := make(chan int)
	errs := make(chan error, len(cases))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				errs <- etcdctlPut(t, g.etcd.Endpoint(), prefix+"/"+keyOf(cases[i].kind, fmt.Sprintf("bad-%03d", i)), cases[i].value)
			}
		}()
	}
	for i := range cases {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	harness.Eventually(t, 60*time.Second, 100*time.Millisecond, func() error {
		rej := g.rejections()
		logged := loggedRejections(t, g.r.LogPath())
		for i, c := range cases {
			key := keyOf(c.kind, fmt.Sprintf("bad-%03d", i))
			reason := rej[key]
			if c.kind == model.KindHealth {
				// The leader deletes the verdicts of endpoints it does not
				// check, so a bad one is seen in the log, not for long in views.
				reason = logged[key]
			}
			if !c.field.MatchString(reason) {
				return fmt.Errorf("%s (%s, %.200s): rejection %.300q does not match %s", key, c.what, c.value, reason, c.field)
			}
		}
		for _, key := range append(bases, "services/web", "endpoints/web/up1", "routes/web", "listeners/main") {
			if reason, ok := rej[key]; ok {
				return fmt.Errorf("valid %s rejected: %.300s", key, reason)
			}
		}
		return nil
	})
	g.waitServing()
	g.checkEnvoyAccepted([]string{"http.main.rds.web.update_rejected"})
	t.Logf("%d bad values rejected, each naming its field", len(cases))
}

// loggedRejections reads a replica's "object rejected" log lines: key ->
// the last reason logged.
func loggedRejections(t *testing.T, path string) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(readFile(t, path), "\n") {
		_, fields, ok := strings.Cut(line, "object rejected\t")
		if !ok {
			continue
		}
		var f struct {
			Key    string `json:"key"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal([]byte(fields), &f) == nil {
			out[f.Key] = f.Reason
		}
	}
	return out
}
