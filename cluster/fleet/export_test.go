package fleet

import "github.com/chancery-xds/chancery/internal/proxystate"

// StateOf is p as the xDS server would report it.
var StateOf = stateOf

// stateOf is the state whose record p is: each type under its index.
func stateOf(p Proxy) proxystate.Proxy {
	st := proxystate.Proxy{NodeID: p.NodeID, Group: p.Group, Delta: p.Delta, Connected: p.Connected}
	for typ := range proxystate.NumTypes {
		st.Types[typ] = p.Types[typ.String()]
	}
	return st
}
