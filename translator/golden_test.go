package translator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite testdata/out from the current translation and delete stale outputs")

// resource is what every xDS resource the translator emits satisfies.
type resource interface {
	proto.Message
	ValidateAll() error
}

// goldenKinds are the output files of one case, by suffix.
var goldenKinds = []string{"listeners", "routes", "clusters", "endpoints", "secrets", "rejected"}

// TestGolden translates each testdata/in/<case>.yaml keyspace and compares
// every resource type, per group, and the rejections with
// testdata/out/<case>.<kind>.yaml. Reviewing a golden diff is reviewing
// the behaviour change; run with -update to accept it.
func TestGolden(t *testing.T) {
	expected := map[string]bool{}
	for _, name := range goldenCases(t) {
		for _, kind := range goldenKinds {
			expected[name+"."+kind+".yaml"] = true
		}
		t.Run(name, func(t *testing.T) {
			res := translateCase(t, name)
			for _, kind := range goldenKinds {
				got := renderGolden(t, res, kind)
				checkGolden(t, filepath.Join("testdata", "out", name+"."+kind+".yaml"), got)
			}
		})
	}
	checkStaleOutputs(t, expected)
}

// renderGolden writes one kind as YAML: group -> resources, each resource
// as protojson re-read as plain JSON so that the YAML is stable (protojson
// itself varies its whitespace on purpose).
func renderGolden(t *testing.T, res *Resources, kind string) []byte {
	t.Helper()
	var doc any
	if kind == "rejected" {
		msgs := make([]string, 0, len(res.Rejected))
		for _, r := range res.Rejected {
			msgs = append(msgs, r.Error())
		}
		doc = msgs
	} else {
		groups := map[string][]any{}
		for g, gr := range res.Groups {
			for _, r := range groupResources(gr, kind) {
				groups[g] = append(groups[g], digestInline(plainJSON(t, r)))
			}
		}
		doc = groups
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatalf("render %s: %v", kind, err)
	}
	return out
}

func groupResources(gr *GroupResources, kind string) []proto.Message {
	var out []proto.Message
	switch kind {
	case "listeners":
		for _, r := range gr.Listeners {
			out = append(out, r)
		}
	case "routes":
		for _, r := range gr.Routes {
			out = append(out, r)
		}
	case "clusters":
		for _, r := range gr.Clusters {
			out = append(out, r)
		}
	case "endpoints":
		for _, r := range gr.Endpoints {
			out = append(out, r)
		}
	case "secrets":
		for _, r := range gr.Secrets {
			out = append(out, r)
		}
	}
	return out
}

func plainJSON(t *testing.T, m proto.Message) any {
	t.Helper()
	b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
	if err != nil {
		t.Fatalf("protojson: %v", err)
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("re-read protojson: %v", err)
	}
	return v
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./translator -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got), run with -update to accept:\n%s", path, diff)
	}
}

// checkStaleOutputs keeps testdata/out from holding outputs of cases that
// no longer exist, which would otherwise look like reviewed behaviour.
func checkStaleOutputs(t *testing.T, expected map[string]bool) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if expected[e.Name()] || !strings.HasSuffix(e.Name(), ".yaml") {
			continue
		}
		path := filepath.Join("testdata", "out", e.Name())
		if !*update {
			t.Errorf("stale golden output %s (run with -update to delete it)", path)
			continue
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// digestInline replaces the PEM a secret carries inline with its length and
// a digest: a golden file then shows which certificate or key went where
// without holding key material or pages of base64.
func digestInline(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if b64, ok := e.(string); ok && k == "inline_bytes" {
				raw, err := base64.StdEncoding.DecodeString(b64)
				if err != nil {
					return x
				}
				sum := sha256.Sum256(raw)
				x[k] = fmt.Sprintf("%d bytes, sha256 %x", len(raw), sum[:6])
				continue
			}
			x[k] = digestInline(e)
		}
	case []any:
		for i, e := range x {
			x[i] = digestInline(e)
		}
	}
	return v
}
