package e2e

import (
	"encoding/json"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/cmd/chanceryctl/manifest"
	"github.com/chancery-xds/chancery/storage/model"
	"github.com/chancery-xds/chancery/test/e2e/harness"
)

// documentation are the address blocks reserved for documentation (RFC
// 5737): nothing real answers a health check there.
var documentation = []netip.Prefix{
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
}

// examples/ uses documentation addresses only, and shares no object, port
// or node group with the README's Quick start, so that either can be
// applied beside the other.
func TestExamplesBesideQuickStart(t *testing.T) {
	root := harness.RepoRoot(t)
	examples := readDocuments(t, manifest.Read([]string{filepath.Join(root, "examples")}, false, nil))
	qs := readDocuments(t, manifest.Read([]string{manifest.Stdin}, false,
		strings.NewReader(quickStartManifest(t, quickStartBlocks(t, filepath.Join(root, "README.md"))))))
	if len(qs) < 4 {
		t.Fatalf("the Quick start applies %d objects, want its service, endpoint, route table and listener", len(qs))
	}

	qsRefs, qsPorts, qsGroups := map[model.Ref]bool{}, map[int]bool{}, map[string]bool{}
	for _, d := range qs {
		qsRefs[d.Ref] = true
		if d.Ref.Kind == model.KindListener {
			l := listenerOf(t, d)
			qsPorts[l.Port] = true
			for _, g := range l.Groups {
				qsGroups[g] = true
			}
		}
	}
	checked := map[model.Kind]int{}
	for _, d := range examples {
		checked[d.Ref.Kind]++
		if qsRefs[d.Ref] {
			t.Errorf("%s: %s is also the Quick start's", d.Source, d.Ref)
		}
		switch d.Ref.Kind {
		case model.KindEndpoint:
			var ep struct {
				Address string `json:"address"`
			}
			if err := json.Unmarshal(d.Value, &ep); err != nil {
				t.Fatal(err)
			}
			if !isDocumentation(ep.Address) {
				t.Errorf("%s: endpoint %s at %s, not a documentation address", d.Source, d.Ref, ep.Address)
			}
		case model.KindListener:
			l := listenerOf(t, d)
			if qsPorts[l.Port] {
				t.Errorf("%s: listener %s on port %d, the Quick start's", d.Source, d.Ref, l.Port)
			}
			for _, g := range l.Groups {
				if qsGroups[g] {
					t.Errorf("%s: listener %s in group %s, the Quick start's", d.Source, d.Ref, g)
				}
			}
		}
	}
	if checked[model.KindEndpoint] == 0 || checked[model.KindListener] == 0 {
		t.Errorf("examples/ has %v: no endpoints or listeners to check", checked)
	}
}

func readDocuments(t *testing.T, set *manifest.Set) []manifest.Document {
	t.Helper()
	if err := set.Err(); err != nil {
		t.Fatal(err)
	}
	return set.Documents
}

type listenerSpec struct {
	Port   int      `json:"port"`
	Groups []string `json:"groups"`
}

func listenerOf(t *testing.T, d manifest.Document) listenerSpec {
	t.Helper()
	var l listenerSpec
	if err := json.Unmarshal(d.Value, &l); err != nil {
		t.Fatal(err)
	}
	return l
}

func isDocumentation(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return false
	}
	for _, p := range documentation {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// quickStartManifest is what the Quick start gives `chanceryctl apply -f -`:
// the here-document after it.
func quickStartManifest(t *testing.T, blocks []string) string {
	t.Helper()
	for _, b := range blocks {
		_, rest, ok := strings.Cut(b, "apply -f - <<'EOF'\n")
		if !ok {
			continue
		}
		doc, _, ok := strings.Cut(rest, "\nEOF\n")
		if !ok {
			t.Fatal("the Quick start's here-document has no EOF line")
		}
		return doc + "\n"
	}
	t.Fatal("the Quick start applies nothing with apply -f -")
	return ""
}
