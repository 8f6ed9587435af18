package cluster

import (
	"maps"
	"slices"
)

// StateOf is p as the xDS server would report it: its types in name order.
var StateOf = stateOf

func stateOf(p Proxy) ProxyState {
	st := ProxyState{NodeID: p.NodeID, Group: p.Group, Delta: p.Delta, Connected: p.Connected}
	for i, name := range slices.Sorted(maps.Keys(p.Types)) {
		st.Types[i] = TypeState{Name: name, TypeRecord: p.Types[name]}
	}
	return st
}
