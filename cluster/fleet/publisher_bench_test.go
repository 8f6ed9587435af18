package fleet

import (
	"fmt"
	"testing"
	"time"

	"github.com/chancery-xds/chancery/cluster/registry"
	"github.com/chancery-xds/chancery/internal/proxystate"
	"github.com/chancery-xds/chancery/storage"
)

// Looks at 10,000 Envoys through pushes, as under constant churn: every
// push is seen once in flight (each Envoy sent the new version, none has
// ACKed it: held) and once over (each at the new served version: nothing to
// write but the registration). Reported per Envoy per look.
func BenchmarkPublisherLookDuringPushes(b *testing.B) {
	const n = 10000
	list := make([]proxystate.Proxy, n)
	for i := range list {
		list[i] = stateOf(Proxy{NodeID: fmt.Sprintf("envoy-%05d", i), Group: "g", Delta: true, Connected: time.Unix(1000, int64(i)).UTC(),
			Types: map[string]proxystate.TypeStatus{"clusters": {Acked: "c1"}, "endpoints": {Acked: "e1"}, "listeners": {Acked: "l1"}, "routes": {Acked: "r1"}}})
	}
	served, generation := "e1", uint64(0)
	p := NewPublisher(PublisherConfig{Self: registry.Record{ID: "a"}, Keyspace: storage.NewKeyspace("/t"),
		EachProxy: func(fn func(*proxystate.Proxy)) {
			for i := range list {
				fn(&list[i])
			}
		},
		Versions:        func() map[string]map[string]string { return map[string]map[string]string{"g": {"endpoints": served}} },
		Revision:        func() int64 { return 1 },
		ProxyGeneration: func() uint64 { return generation },
	})
	look := func(want int) {
		changes, gen, err := p.changes(false)
		if err != nil {
			b.Fatal(err)
		}
		if len(changes) != want {
			b.Fatalf("%d changes, want %d", len(changes), want)
		}
		p.applied(changes)
		p.generation, p.current = gen, true
	}
	look(n + 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		prev := served
		served = fmt.Sprintf("e%d", i+2)
		for j := range list {
			list[j].Types[proxystate.Endpoints] = proxystate.TypeStatus{Sent: served, Acked: prev}
		}
		generation++
		b.StartTimer()
		look(0)
		b.StopTimer()
		for j := range list {
			list[j].Types[proxystate.Endpoints] = proxystate.TypeStatus{Sent: served, Acked: served}
		}
		generation++
		b.StartTimer()
		look(1)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N*n), "ns/envoy-look")
}
