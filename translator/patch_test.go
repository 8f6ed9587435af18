package translator

import (
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/chancery-xds/chancery/storage/model"
)

// A patch that is rejected changes nothing: the translation is the one
// without it, resource for resource.
func TestRejectedPatchChangesNothing(t *testing.T) {
	base := readKeyspace(t, "basic")
	without, _ := Translate(snapshotOf(base))
	for name, value := range map[string]string{
		"unknown-field":  `{"groups":["edge"],"target":{"type":"cluster","name":"web"},"merge":{"nope":1}}`,
		"envoy-refuses":  `{"groups":["edge"],"target":{"type":"cluster","name":"web"},"merge":{"connect_timeout":"0s"}}`,
		"not-in-group":   `{"groups":["other"],"target":{"type":"listener","name":"http"},"merge":{"per_connection_buffer_limit_bytes":1}}`,
		"renames":        `{"groups":["edge"],"target":{"type":"route_table","name":"main"},"merge":{"name":"x"}}`,
		"unknown-filter": `{"groups":["edge"],"target":{"type":"listener","name":"http"},"http_filter":{"name":"x","typed_config":{"@type":"type.googleapis.com/x.Y"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			with := append(append([]storedValue(nil), base...), storedValue{ref: model.Ref{Kind: model.KindPatch, Name: name}, value: []byte(value)})
			res, _ := Translate(snapshotOf(with))
			if len(res.Rejected) != 1 || res.Rejected[0].Ref.Name != name {
				t.Fatalf("rejections %v, want patches/%s alone", res.Rejected, name)
			}
			if diff := cmp.Diff(without.Groups, res.Groups, protocmp.Transform()); diff != "" {
				t.Errorf("resources changed (-without +with):\n%s", diff)
			}
		})
	}
}

// A patched resource is one new resource shared by the patch's groups, so
// it is marshalled once; a group the patch does not name keeps the
// original, and the original is not modified.
func TestPatchSharesItsResult(t *testing.T) {
	res := translateCase(t, "patch")
	edge, edgeB := res.Groups["edge"], res.Groups["edge-b"]
	if edge.Routes[0] != edgeB.Routes[0] {
		t.Error("the route table patched for both groups is two resources")
	}
	http := model.PatchTarget{Type: model.PatchListener, Name: "http"}
	mine, theirs := patchTarget(edge, http).(*listenerv3.Listener), patchTarget(edgeB, http).(*listenerv3.Listener)
	if mine == theirs {
		t.Error("the listener patched for edge alone is edge-b's too")
	}
	if theirs.PerConnectionBufferLimitBytes != nil {
		t.Error("edge-b's listener carries edge's patch")
	}
	if mine.GetPerConnectionBufferLimitBytes().GetValue() != 32768 {
		t.Errorf("edge's listener: per_connection_buffer_limit_bytes %v, want 32768", mine.PerConnectionBufferLimitBytes)
	}
}
