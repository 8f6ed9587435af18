package translator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/chancery-xds/chancery/storage/model"
)

// applyPatches applies every accepted patch, in name order, to its target
// in each of its groups that has it. A patch that does not apply, or whose
// result Envoy would refuse, is rejected and changes nothing. A patched
// resource is a new one, shared by the patch's groups; groups the patch
// does not name keep the original.
func applyPatches(s *model.Snapshot, groups map[string]*GroupResources, rej *rejections) {
	for _, name := range slices.Sorted(maps.Keys(s.Patches)) {
		if fe := applyPatch(s.Patches[name], groups); fe != nil {
			rej.add(model.Ref{Kind: model.KindPatch, Name: name}, fe.Field, "%s", fe.Msg)
		}
	}
}

func applyPatch(p *model.Patch, groups map[string]*GroupResources) *model.FieldError {
	// Every result is made before any group changes, so that a failure
	// leaves them all as they were.
	patched := map[proto.Message]proto.Message{}
	var holders []string
	for _, g := range slices.Sorted(slices.Values(p.Groups)) {
		gr := groups[g]
		if gr == nil {
			continue
		}
		orig := patchTarget(gr, p.Target)
		if orig == nil {
			continue
		}
		holders = append(holders, g)
		if _, done := patched[orig]; done {
			continue
		}
		out, fe := patchResource(orig, p)
		if fe != nil {
			return fe
		}
		patched[orig] = out
	}
	if len(holders) == 0 {
		return &model.FieldError{Field: "target", Msg: fmt.Sprintf("no %s %q is sent to groups %s; nothing patched",
			p.Target.Type, p.Target.Name, strings.Join(p.Groups, ", "))}
	}
	clones := map[*GroupResources]*GroupResources{}
	for _, g := range holders {
		gr := groups[g]
		c, ok := clones[gr]
		if !ok {
			c = withPatched(gr, patched)
			clones[gr] = c
		}
		groups[g] = c
	}
	return nil
}

// patchTarget finds the target in a group's resources, or nil.
func patchTarget(gr *GroupResources, t model.PatchTarget) proto.Message {
	switch t.Type {
	case model.PatchListener:
		if i := slices.IndexFunc(gr.Listeners, func(l *listenerv3.Listener) bool { return l.Name == t.Name }); i >= 0 {
			return gr.Listeners[i]
		}
	case model.PatchRouteTable:
		for _, r := range gr.Routes {
			if r.Name == t.Name {
				return r
			}
		}
	case model.PatchCluster:
		for _, c := range gr.Clusters {
			if c.Name == t.Name {
				return c
			}
		}
	}
	return nil
}

// withPatched is a copy of gr with each resource patched holds in place
// of the original.
func withPatched(gr *GroupResources, patched map[proto.Message]proto.Message) *GroupResources {
	out := &GroupResources{
		Listeners: slices.Clone(gr.Listeners), Routes: slices.Clone(gr.Routes),
		Clusters: slices.Clone(gr.Clusters), Endpoints: gr.Endpoints, Secrets: gr.Secrets,
	}
	swap(out.Listeners, patched)
	swap(out.Routes, patched)
	swap(out.Clusters, patched)
	return out
}

func swap[T proto.Message](rs []T, patched map[proto.Message]proto.Message) {
	for i, r := range rs {
		if p, ok := patched[r]; ok {
			rs[i] = p.(T)
		}
	}
}

// patchResource is orig with the patch applied, checked as Envoy checks it.
func patchResource(orig proto.Message, p *model.Patch) (proto.Message, *model.FieldError) {
	field := "merge"
	var out proto.Message
	var err error
	if p.HTTPFilter != nil {
		field = "http_filter"
		out, err = withHTTPFilter(orig, p.HTTPFilter)
	} else {
		out, err = merged(orig, p.Merge.Raw())
	}
	what := fmt.Sprintf("%s %q", p.Target.Type, p.Target.Name)
	if err != nil {
		return nil, &model.FieldError{Field: field, Msg: fmt.Sprintf("does not apply to %s: %v", what, err)}
	}
	if name := resourceName(out); name != p.Target.Name {
		return nil, &model.FieldError{Field: field, Msg: fmt.Sprintf("renames %s to %q: a patch may not change a name", what, name)}
	}
	if v, ok := out.(validatable); ok {
		if err := envoyValid(v); err != nil {
			return nil, &model.FieldError{Field: field, Msg: fmt.Sprintf("Envoy would refuse %s patched: %v", what, err)}
		}
	}
	return out, nil
}

func resourceName(m proto.Message) string {
	if n, ok := m.(interface{ GetName() string }); ok {
		return n.GetName()
	}
	return ""
}

// merged applies a JSON merge patch (RFC 7386) to msg's JSON, in Envoy's
// field names.
func merged(msg proto.Message, patch []byte) (proto.Message, error) {
	j, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(msg)
	if err != nil {
		return nil, err
	}
	var target, p any
	if err := decodeJSON(j, &target); err != nil {
		return nil, err
	}
	if err := decodeJSON(patch, &p); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(mergePatch(target, p)) // sorted keys: the same bytes on every replica
	if err != nil {
		return nil, err
	}
	out := msg.ProtoReflect().New().Interface()
	if err := protojson.Unmarshal(doc, out); err != nil {
		return nil, protoJSONError(err)
	}
	return out, nil
}

// mergePatch is RFC 7386: members of an object patch merge into the
// target's, null deletes, anything else replaces.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	tm, ok := target.(map[string]any)
	if !ok {
		tm = map[string]any{}
	}
	for k, v := range pm {
		if v == nil {
			delete(tm, k)
		} else {
			tm[k] = mergePatch(tm[k], v)
		}
	}
	return tm
}

func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // 64-bit integers stay exact
	return d.Decode(v)
}

// withHTTPFilter adds f to every connection manager of a listener, before
// the router.
func withHTTPFilter(msg proto.Message, pf *model.PatchHTTPFilter) (proto.Message, error) {
	l, ok := msg.(*listenerv3.Listener)
	if !ok {
		return nil, fmt.Errorf("not a listener")
	}
	doc, err := json.Marshal(map[string]any{"name": pf.Name, "typed_config": json.RawMessage(pf.TypedConfig.Raw())})
	if err != nil {
		return nil, err
	}
	f := &hcmv3.HttpFilter{}
	if err := protojson.Unmarshal(doc, f); err != nil {
		return nil, protoJSONError(err)
	}
	out := proto.Clone(l).(*listenerv3.Listener)
	chains := slices.Clone(out.FilterChains)
	if out.DefaultFilterChain != nil {
		chains = append(chains, out.DefaultFilterChain)
	}
	added := 0
	for _, fc := range chains {
		for _, nf := range fc.Filters {
			m := &hcmv3.HttpConnectionManager{}
			if nf.GetTypedConfig().MessageIs(m) {
				if err := insertFilter(nf, m, f); err != nil {
					return nil, err
				}
				added++
			}
		}
	}
	if added == 0 {
		return nil, fmt.Errorf("the listener has no HTTP connection manager (a tcp listener)")
	}
	return out, nil
}

// insertFilter puts f before the router of the connection manager nf holds.
func insertFilter(nf *listenerv3.Filter, m *hcmv3.HttpConnectionManager, f *hcmv3.HttpFilter) error {
	if err := nf.GetTypedConfig().UnmarshalTo(m); err != nil {
		return err
	}
	if slices.ContainsFunc(m.HttpFilters, func(h *hcmv3.HttpFilter) bool { return h.Name == f.Name }) {
		return fmt.Errorf("the listener already has an HTTP filter named %q", f.Name)
	}
	at := slices.IndexFunc(m.HttpFilters, func(h *hcmv3.HttpFilter) bool { return h.Name == wellknown.Router })
	if at < 0 {
		at = len(m.HttpFilters)
	}
	m.HttpFilters = slices.Insert(m.HttpFilters, at, proto.Clone(f).(*hcmv3.HttpFilter))
	typed, err := pack(m)
	if err != nil {
		return err
	}
	nf.ConfigType = &listenerv3.Filter_TypedConfig{TypedConfig: typed}
	return nil
}

// protoJSONError drops protojson's "proto:" prefix and the non-breaking
// spaces it puts in messages on purpose, which would make them differ
// between builds, and says what an unknown "@type" means here.
func protoJSONError(err error) error {
	s := strings.TrimPrefix(err.Error(), "proto:")
	s = strings.TrimSpace(strings.ReplaceAll(s, "\u00a0", " "))
	if strings.Contains(s, "unable to resolve") {
		s += " (a patch may name the types Chancery sends and those docs/patches.md lists)"
	}
	return fmt.Errorf("%s", s)
}
