package model

import "strconv"

// The patch limits.
const (
	limPatchGroups fieldLimit = iota + limLocalityEnd
	limPatchGroup
	limPatchTargetName
	limPatchFilterName
	limPatchEnd
)

func patchLimits() map[fieldLimit]Limit {
	patch := func(fields string) string {
		return `{"groups":["edge"],"target":{"type":"listener","name":"web"},` + fields + `}`
	}
	merge := `"merge":{"per_connection_buffer_limit_bytes":32768}`
	return map[fieldLimit]Limit{
		limPatchGroups: {Kind: KindPatch, Field: "groups", Unit: UnitItems, Min: 1, Max: 100, Fill: `"g{i}"`,
			In: `{"target":{"type":"listener","name":"web"},` + merge + `,"groups":@}`},
		limPatchGroup: {Kind: KindPatch, Field: "groups[*]", Unit: UnitBytes, Max: nameMax, Fill: "g",
			In: `{"target":{"type":"listener","name":"web"},` + merge + `,"groups":[@]}`},
		limPatchTargetName: {Kind: KindPatch, Field: "target.name", Unit: UnitBytes, Max: nameMax, Fill: "t",
			In: `{"groups":["edge"],` + merge + `,"target":{"type":"listener","name":@}}`},
		limPatchFilterName: {Kind: KindPatch, Field: "http_filter.name", Unit: UnitBytes, Max: nameMax, Fill: "f",
			In: patch(`"http_filter":{"name":@,"typed_config":{"@type":"type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer","max_request_bytes":1024}}`)},
	}
}

func (p *Patch) checkLimits(v *validator) {
	v.checkLen(limPatchGroups, len(p.Groups), "groups")
	for i, g := range p.Groups {
		v.checkLen(limPatchGroup, len(g), "groups[", strconv.Itoa(i), "]")
	}
	v.checkLen(limPatchTargetName, len(p.Target.Name), "target.name")
	if p.HTTPFilter != nil {
		v.checkLen(limPatchFilterName, len(p.HTTPFilter.Name), "http_filter.name")
	}
}
