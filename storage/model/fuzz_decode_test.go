package model_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/chancery-xds/chancery/storage/model"
)

// FuzzDecode runs every kind's full decode (strict pass, decode,
// validation) on arbitrary values: it never panics, what it accepts
// validates again, and an accepted object written back as JSON decodes
// to an accepted object. Seeds: every object of the translator's golden
// inputs, as its kind. The committed corpus is in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, s := range goldenObjects(f) {
		f.Add(s.kind, s.name, s.data)
	}
	f.Fuzz(func(t *testing.T, kind uint8, name string, data []byte) {
		ref := model.Ref{Kind: model.Kinds[int(kind)%len(model.Kinds)], Name: name}
		obj, err := model.Decode(ref, data)
		if err != nil {
			if err.Error() == "" {
				t.Fatalf("%s: an error without a message", ref)
			}
			return
		}
		if obj == nil {
			t.Fatalf("%s: no object and no error", ref)
		}
		if err := obj.Validate(); err != nil {
			t.Fatalf("%s: accepted, then invalid: %v", ref, err)
		}
		again, err := json.Marshal(obj)
		if err != nil {
			t.Fatalf("%s: accepted, then not encodable: %v", ref, err)
		}
		if _, err := model.Decode(ref, again); err != nil {
			t.Fatalf("%s: accepted %q, its encoding %q refused: %v", ref, data, again, err)
		}
	})
}

type seed struct {
	kind uint8
	name string
	data []byte
}

// goldenObjects reads translator/testdata/in/*.yaml: each top-level key is
// a kind's key segment, each entry below it one object.
func goldenObjects(tb testing.TB) []seed {
	tb.Helper()
	files, err := filepath.Glob("../../translator/testdata/in/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("golden inputs: %v (%d files)", err, len(files))
	}
	var out []seed
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			tb.Fatal(err)
		}
		var doc map[string]map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			tb.Fatalf("%s: %v", file, err)
		}
		for seg, objs := range doc {
			k, ok := model.KindForSegment(seg)
			if !ok {
				continue
			}
			for name, v := range objs {
				data, err := json.Marshal(v)
				if err != nil {
					continue // a YAML value JSON cannot hold: not a seed
				}
				out = append(out, seed{kind: kindIndex(k), name: name, data: data})
			}
		}
	}
	return out
}

func kindIndex(k model.Kind) uint8 {
	for i, kk := range model.Kinds {
		if kk == k {
			return uint8(i)
		}
	}
	return 0
}
