package xdsserver

import (
	"testing"

	"github.com/chancery-xds/chancery/internal/proxystate"
)

// A stream keeps its status by typeIdx and hands it out as a
// proxystate.Proxy, whose Types are by proxystate.Type: the two indexes
// must name the same types in the same order. (That they count as many is
// checked by the compiler, in EachProxy.)
func TestTypeIndexMatchesProxyState(t *testing.T) {
	for typ, name := range typeNames {
		if got := proxystate.Type(typ).String(); got != name {
			t.Errorf("type %d is %s in the xDS server and %s in proxystate", typ, name, got)
		}
	}
}
