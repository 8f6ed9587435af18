package fleet

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
)

// Several streams of one node in one group become one record, the newest
// stream winning, in whatever order they come; a node with one stream is
// left as it is, and so is the same node id in another group: that is
// another Envoy, which must not replace the first.
func TestMergeStates(t *testing.T) {
	t0 := time.Unix(1000, 0)
	list := []proxystate.Proxy{
		stateOf(Proxy{NodeID: "n", Group: "g", Connected: t0.Add(time.Second), Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "new"}}}),
		stateOf(Proxy{NodeID: "n", Group: "g", Delta: true, Connected: t0, Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "old"}, "routes": {Acked: "r"}}}),
		stateOf(Proxy{NodeID: "m", Group: "g", Connected: t0}),
		stateOf(Proxy{NodeID: "n", Group: "other", Delta: true, Connected: t0.Add(2 * time.Second), Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "theirs"}}}),
		stateOf(Proxy{NodeID: "n", Group: "g", Connected: t0.Add(time.Millisecond), Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "middle"}, "listeners": {Acked: "l"}}}),
		stateOf(Proxy{NodeID: "m", Group: "g", Connected: t0.Add(time.Second), Types: map[string]proxystate.TypeStatus{"routes": {Acked: "r2"}}}),
		stateOf(Proxy{NodeID: "o", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"routes": {Acked: "o"}}}),
	}
	merged := list[:mergeStates(list)]
	got := map[string]Proxy{}
	for _, st := range merged {
		got[st.Group+"/"+st.NodeID] = recordOf(&st)
	}
	want := map[string]Proxy{
		"g/n":     {NodeID: "n", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "new"}, "routes": {Acked: "r"}, "listeners": {Acked: "l"}}},
		"other/n": {NodeID: "n", Group: "other", Delta: true, Connected: t0.Add(2 * time.Second), Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "theirs"}}},
		"g/m":     {NodeID: "m", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"routes": {Acked: "r2"}}},
		"g/o":     {NodeID: "o", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"routes": {Acked: "o"}}},
	}
	if len(merged) != len(want) || len(got) != len(want) {
		t.Fatalf("%d states, %d Envoys, want %d", len(merged), len(got), len(want))
	}
	for id, w := range want {
		g := got[id]
		if g.NodeID != w.NodeID || g.Group != w.Group || g.Delta != w.Delta || !g.Connected.Equal(w.Connected) || !maps.Equal(g.Types, w.Types) {
			t.Errorf("%s merged into %+v, want %+v", id, g, w)
		}
	}
}

// A changed record, the registration's as well as a proxy's, is written
// once it has held still for a whole interval: a push in flight, over by the
// next look, writes the registration and no proxy record. A flush that
// writes the registration writes every changed proxy record before it, so
// an Envoy left behind is never published as at the served version. New
// Envoys, rejections and Envoys gone are written at once, and a record that
// keeps moving is written after maxHeld looks.
func TestPublisherHoldsMovingRecords(t *testing.T) {
	served := "v1"
	list := map[string]Proxy{}
	var generation uint64 // changes with list, as the xDS server's does
	reads := 0
	set := func(node, sent, acked, nack string) {
		generation++
		list[node] = Proxy{NodeID: node, Group: "g", Delta: true, Connected: time.Unix(1000, 0).UTC(),
			Types: map[string]proxystate.TypeStatus{"clusters": {Sent: sent, Acked: acked, NackError: nack}}}
	}
	p := NewPublisher(PublisherConfig{Self: registry.Record{ID: "a"}, Keyspace: storage.NewKeyspace("/t"),
		EachProxy: func(fn func(*proxystate.Proxy)) {
			reads++
			for _, p := range list {
				st := stateOf(p)
				fn(&st)
			}
		},
		Versions:        func() map[string]map[string]string { return map[string]map[string]string{"g": {"clusters": served}} },
		Revision:        func() int64 { return 1 },
		ProxyGeneration: func() uint64 { return generation },
	})
	look := func() []string { // one interval: the proxies written, sorted, then "reg@<version>"
		t.Helper()
		changes, gen, err := p.changes(false)
		if err != nil {
			t.Fatal(err)
		}
		p.applied(changes)
		p.generation, p.current = gen, true // as publish does once written
		var nodes []string
		reg := ""
		for i, c := range changes {
			if c.node == "" {
				if i != len(changes)-1 {
					t.Errorf("the registration is change %d of %d; want it last", i+1, len(changes))
				}
				reg = "reg@" + c.versions["g"]["clusters"]
				continue
			}
			nodes = append(nodes, c.node)
		}
		slices.Sort(nodes)
		if reg != "" {
			nodes = append(nodes, reg)
		}
		return nodes
	}
	for _, step := range []struct {
		name   string
		change func()
		want   []string
		noRead bool // the proxies are not read: nothing changed
	}{
		{"two new Envoys and the registration are written at once", func() { set("n0", "v1", "v1", ""); set("n1", "v1", "v1", "") }, []string{"n0", "n1", "reg@v1"}, false},
		{"a push in flight is held, the new version too", func() { served = "v2"; set("n0", "v2", "v1", ""); set("n1", "v1", "v1", "") }, nil, false},
		{"over by the next look, it writes the registration alone", func() { set("n0", "v2", "v2", ""); set("n1", "v2", "v2", "") }, []string{"reg@v2"}, false},
		{"a push that leaves n1 behind is held", func() { served = "v3"; set("n0", "v3", "v3", "") }, nil, false},
		{"then n1 is written as behind, before the registration", func() {}, []string{"n1", "reg@v3"}, false},
		{"n1 catching up is held", func() { set("n1", "v3", "v3", "") }, nil, false},
		{"and written, having held still, without a scan", func() {}, []string{"n1"}, true},
		{"a rejection is written at once", func() { set("n0", "v3", "v3", "bad") }, []string{"n0"}, false},
		{"an Envoy gone is deleted at once", func() { generation++; delete(list, "n0") }, []string{"n0"}, false},
		{"records that keep moving are held...", func() { served = "v4"; set("n1", "v4", "v3", "") }, nil, false},
		{"...and held...", func() { served = "v5"; set("n1", "v5", "v4", "") }, nil, false},
		{"...and held...", func() { served = "v6"; set("n1", "v6", "v5", "") }, nil, false},
		{"...and written after maxHeld looks", func() { served = "v7"; set("n1", "v7", "v6", "") }, []string{"n1", "reg@v7"}, false},
	} {
		step.change()
		before := reads
		if got := look(); !slices.Equal(got, step.want) {
			t.Fatalf("%s: wrote %v, want %v", step.name, got, step.want)
		}
		if step.noRead && reads != before {
			t.Errorf("%s: the proxies were read again though nothing changed", step.name)
		}
	}
	for node, e := range p.proxies {
		if e.held != nil || e.scans != 0 {
			t.Errorf("%s held after the last write: %+v", node, e.held)
		}
	}
	if p.heldReg.value != nil {
		t.Errorf("registration held after the last write: %q", p.heldReg.value)
	}
}

// An Envoy with several streams is one record, and looking again at the
// same streams, whatever order they come in, writes nothing: the merged
// state compares equal to what was written. When a stream goes, the record
// is written again once it has held still, and when the node goes, it is
// deleted at once.
func TestPublisherMergedNodeIsStable(t *testing.T) {
	t0 := time.Unix(1000, 0).UTC()
	streams := []proxystate.Proxy{
		stateOf(Proxy{NodeID: "n", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "c1"}, "routes": {Acked: "r1"}}}),
		stateOf(Proxy{NodeID: "n", Group: "g", Connected: t0.Add(time.Second), Types: map[string]proxystate.TypeStatus{"endpoints": {Acked: "e1"}}}),
		stateOf(Proxy{NodeID: "n", Group: "g", Connected: t0.Add(2 * time.Second), Types: map[string]proxystate.TypeStatus{"listeners": {Acked: "l1"}}}),
		stateOf(Proxy{NodeID: "m", Group: "g", Connected: t0, Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "c1"}}}),
	}
	var generation uint64
	p := NewPublisher(PublisherConfig{Self: registry.Record{ID: "a"}, Keyspace: storage.NewKeyspace("/t"),
		EachProxy: func(fn func(*proxystate.Proxy)) {
			// A different order each time, as the xDS server's map gives.
			for i := range streams {
				fn(&streams[(i+int(generation))%len(streams)])
			}
		},
		Versions:        func() map[string]map[string]string { return nil },
		Revision:        func() int64 { return 1 },
		ProxyGeneration: func() uint64 { return generation },
	})
	look := func() map[string]string { // node -> record written, "" for a delete
		t.Helper()
		generation++ // as if a status changed: the proxies are read
		changes, gen, err := p.changes(false)
		if err != nil {
			t.Fatal(err)
		}
		p.applied(changes)
		p.generation, p.current = gen, true
		out := map[string]string{}
		for _, c := range changes {
			if c.node != "" {
				out[c.node] = string(c.value)
			}
		}
		return out
	}
	first := look()
	if len(first) != 2 || !strings.Contains(first["n"], `"listeners":{"acked":"l1"}`) || !strings.Contains(first["n"], `"clusters":{"acked":"c1"}`) {
		t.Fatalf("first look wrote %v, want n (four types) and m", first)
	}
	for i := range 3 {
		if got := look(); len(got) != 0 {
			t.Fatalf("look %d at unchanged streams wrote %v", i+2, got)
		}
	}
	streams = slices.Delete(streams, 2, 3) // n's listeners stream closes
	if got := look(); len(got) != 0 {
		t.Fatalf("n changed and was written at once (%v); want it held for a look", got)
	}
	if got := look(); len(got) != 1 || got["n"] == "" || strings.Contains(got["n"], "listeners") {
		t.Fatalf("after n's listeners stream closed, wrote %v; want n without listeners", got)
	}
	streams = streams[:2] // m goes
	if got := look(); len(got) != 1 || got["m"] != "" {
		t.Fatalf("after m went, wrote %v; want m deleted", got)
	}
}
