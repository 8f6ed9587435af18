package translator

import (
	"strings"
	"testing"

	"github.com/chancery-xds/chancery/storage/model"
)

func TestBindingConflict(t *testing.T) {
	l := func(addr string, port uint32, groups ...string) binding {
		return bindingOf("l", &model.Listener{Address: addr, Port: port, Groups: groups})
	}
	tests := []struct {
		name string
		a, b binding
		want bool
	}{
		{"same address and port", l("10.0.0.1", 80, "edge"), l("10.0.0.1", 80, "edge"), true},
		{"default address is 0.0.0.0", l("", 80, "edge"), l("10.0.0.1", 80, "edge"), true},
		{"IPv6 wildcard overlaps IPv4", l("::", 80, "edge"), l("127.0.0.1", 80, "edge"), true},
		{"IPv4-mapped is the IPv4 address", l("::ffff:10.0.0.1", 80, "edge"), l("10.0.0.1", 80, "edge"), true},
		{"IPv6 written two ways", l("2001:db8::1", 80, "edge"), l("2001:db8:0:0:0:0:0:1", 80, "edge"), true},
		{"one shared group is enough", l("", 80, "a", "b"), l("", 80, "c", "b"), true},
		{"different ports", l("", 80, "edge"), l("", 81, "edge"), false},
		{"different addresses", l("10.0.0.1", 80, "edge"), l("10.0.0.2", 80, "edge"), false},
		{"no shared group", l("", 80, "edge"), l("", 80, "internal"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := tt.a.conflict(tt.b); got != tt.want {
				t.Errorf("a.conflict(b) = %v, want %v", got, tt.want)
			}
			if _, got := tt.b.conflict(tt.a); got != tt.want {
				t.Errorf("b.conflict(a) = %v, want %v", got, tt.want)
			}
		})
	}
}

// The listener created first keeps the port, whatever the names: a new
// listener whose name sorts first does not take it from one that serves.
// Without create revisions (a snapshot built by hand) names decide.
func TestConflictOlderListenerKeepsPort(t *testing.T) {
	for _, tt := range []struct {
		name          string
		created       map[string]int64
		winner, loser string
	}{
		{"older name sorts last", map[string]int64{"zeta": 10, "alpha": 20}, "zeta", "alpha"},
		{"older name sorts first", map[string]int64{"alpha": 10, "zeta": 20}, "alpha", "zeta"},
		{"one not yet in etcd", map[string]int64{"zeta": 10}, "zeta", "alpha"},
		{"no revisions: by name", nil, "alpha", "zeta"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			snap := model.NewSnapshot(30)
			snap.Services["db"] = &model.Service{Protocol: model.ProtocolTCP}
			for _, n := range []string{"zeta", "alpha"} {
				snap.Listeners[n] = &model.Listener{Port: 5432, Protocol: model.ListenerTCP, Service: "db", Groups: []string{"g"}}
			}
			for n, rev := range tt.created {
				snap.Created[n] = rev
			}
			res, _ := Translate(snap)
			if got := res.Groups["g"].Listeners; len(got) != 1 || got[0].GetName() != tt.winner {
				t.Fatalf("listeners %v, want only %s", got, tt.winner)
			}
			if len(res.Rejected) != 1 || res.Rejected[0].Ref.Name != tt.loser || !strings.Contains(res.Rejected[0].Error(), `listener "`+tt.winner+`"`) {
				t.Fatalf("rejected %v, want %s, naming %s", res.Rejected, tt.loser, tt.winner)
			}
		})
	}
}

// TestConflictLaterNameLoses: the outcome depends on names, not on which
// listener was written first, so every replica excludes the same one.
func TestConflictLaterNameLoses(t *testing.T) {
	snap := model.NewSnapshot(1)
	snap.Services["db"] = &model.Service{Protocol: model.ProtocolTCP}
	snap.Listeners["zeta"] = &model.Listener{Port: 5432, Protocol: model.ListenerTCP, Service: "db", Groups: []string{"g"}}
	snap.Listeners["alpha"] = &model.Listener{Port: 5432, Protocol: model.ListenerTCP, Service: "db", Groups: []string{"g"}}
	res, err := Translate(snap)
	if err == nil {
		t.Fatal("want a rejection")
	}
	if got := res.Groups["g"].Listeners; len(got) != 1 || got[0].GetName() != "alpha" {
		t.Fatalf("listeners %v, want only alpha", got)
	}
	if len(res.Rejected) != 1 || res.Rejected[0].Ref != (model.Ref{Kind: model.KindListener, Name: "zeta"}) {
		t.Fatalf("rejected %v, want listeners/zeta", res.Rejected)
	}
}
