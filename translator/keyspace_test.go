package translator

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/chancery-xds/chancery/storage/model"
)

// goldenRevision is the revision every golden snapshot is built at; it is
// not part of any resource, only of Resources.Revision.
const goldenRevision = 42

// storedValue is one key of a test keyspace and the bytes stored under it.
type storedValue struct {
	ref   model.Ref
	value []byte
}

// readKeyspace reads testdata/in/<name>.yaml: top-level keys are key
// segments (services, endpoints, routes, listeners, health), below them
// object name -> spec. A spec is turned into JSON as etcdctl users would
// store it; a spec written as a YAML string is stored verbatim instead, so
// cases can hold invalid JSON. Values come back sorted by key.
func readKeyspace(t *testing.T, name string) []storedValue {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "in", name+".yaml"))
	if err != nil {
		t.Fatalf("read case: %v", err)
	}
	var doc map[string]map[string]json.RawMessage
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("parse %s.yaml: %v", name, err)
	}
	var out []storedValue
	for seg, objs := range doc {
		kind, ok := model.KindForSegment(seg)
		if !ok {
			t.Fatalf("%s.yaml: unknown top-level key %q", name, seg)
		}
		for obj, spec := range objs {
			value := []byte(spec)
			var verbatim string
			if strings.HasPrefix(string(spec), `"`) {
				if err := json.Unmarshal(spec, &verbatim); err != nil {
					t.Fatalf("%s.yaml: %s/%s: %v", name, seg, obj, err)
				}
				value = []byte(verbatim)
			}
			out = append(out, storedValue{ref: model.Ref{Kind: kind, Name: obj}, value: value})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ref.String() < out[j].ref.String() })
	return out
}

// snapshotOf builds a snapshot exactly as the etcd watcher does: one Put
// per stored value, in the order given, then SortRejections.
func snapshotOf(values []storedValue) *model.Snapshot {
	snap := model.NewSnapshot(goldenRevision)
	for _, v := range values {
		snap.Put(v.ref, v.value)
	}
	snap.SortRejections()
	return snap
}

// goldenCases lists the case names in testdata/in, sorted.
func goldenCases(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("testdata", "in", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no cases in testdata/in")
	}
	names := make([]string, len(paths))
	for i, p := range paths {
		names[i] = strings.TrimSuffix(filepath.Base(p), ".yaml")
	}
	sort.Strings(names)
	return names
}

// translateCase reads and translates one golden case.
func translateCase(t *testing.T, name string) *Resources {
	t.Helper()
	res, err := Translate(snapshotOf(readKeyspace(t, name)))
	if res == nil {
		t.Fatal("Translate returned nil Resources")
	}
	if (err != nil) != (len(res.Rejected) > 0) {
		t.Fatalf("Translate error %v does not agree with %d rejections", err, len(res.Rejected))
	}
	if err != nil {
		for _, r := range res.Rejected {
			if !strings.Contains(err.Error(), r.Error()) {
				t.Errorf("error does not mention rejection %q", r.Error())
			}
		}
	}
	return res
}

// eachResource calls fn for every resource of every group, in a fixed
// order, with a label naming it.
func eachResource(res *Resources, fn func(label string, r resource)) {
	for _, g := range slices.Sorted(maps.Keys(res.Groups)) {
		gr := res.Groups[g]
		for _, r := range gr.Listeners {
			fn(fmt.Sprintf("%s/listener/%s", g, r.GetName()), r)
		}
		for _, r := range gr.Routes {
			fn(fmt.Sprintf("%s/route/%s", g, r.GetName()), r)
		}
		for _, r := range gr.Clusters {
			fn(fmt.Sprintf("%s/cluster/%s", g, r.GetName()), r)
		}
		for _, r := range gr.Endpoints {
			fn(fmt.Sprintf("%s/endpoints/%s", g, r.GetClusterName()), r)
		}
		for _, r := range gr.Secrets {
			fn(fmt.Sprintf("%s/secret/%s", g, r.GetName()), r)
		}
	}
}
