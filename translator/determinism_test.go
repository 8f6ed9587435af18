package translator

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"google.golang.org/protobuf/proto"
)

// marshalled is one translation flattened to bytes: every resource's
// deterministic marshal and every rejection, labelled, in a fixed order.
type marshalled struct {
	labels []string
	bytes  [][]byte
}

func marshalAll(t *testing.T, res *Resources) marshalled {
	t.Helper()
	var m marshalled
	eachResource(res, func(label string, r resource) {
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(r)
		if err != nil {
			t.Fatalf("%s: marshal: %v", label, err)
		}
		m.labels = append(m.labels, label)
		m.bytes = append(m.bytes, b)
	})
	for _, r := range res.Rejected {
		m.labels = append(m.labels, "rejected/"+r.Ref.String())
		m.bytes = append(m.bytes, []byte(r.Error()))
	}
	return m
}

func (m marshalled) diff(t *testing.T, other marshalled) {
	t.Helper()
	if len(m.labels) != len(other.labels) {
		t.Fatalf("%d items, then %d: %v vs %v", len(m.labels), len(other.labels), m.labels, other.labels)
	}
	for i := range m.labels {
		if m.labels[i] != other.labels[i] {
			t.Fatalf("item %d is %s, then %s", i, m.labels[i], other.labels[i])
		}
		if !bytes.Equal(m.bytes[i], other.bytes[i]) {
			t.Fatalf("%s differs between translations", m.labels[i])
		}
	}
}

// TestDeterministic rebuilds every golden snapshot with its keys put in
// different orders and translates each many times: replicas must produce
// byte-identical resources whatever order etcd events arrived in and
// whatever order Go iterates maps in.
func TestDeterministic(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			values := readKeyspace(t, name)
			base, _ := Translate(snapshotOf(values))
			want := marshalAll(t, base)
			rng := rand.New(rand.NewPCG(1, uint64(len(values))))
			for i := range 20 {
				shuffled := append([]storedValue(nil), values...)
				if i > 0 {
					rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
				}
				snap := snapshotOf(shuffled)
				for range 3 {
					res, _ := Translate(snap)
					want.diff(t, marshalAll(t, res))
				}
			}
		})
	}
}

// TestTranslateDoesNotModifySnapshot guards purity: the watcher keeps
// snapshots, and a translation must not change what the next one sees.
func TestTranslateDoesNotModifySnapshot(t *testing.T) {
	for _, name := range goldenCases(t) {
		t.Run(name, func(t *testing.T) {
			snap := snapshotOf(readKeyspace(t, name))
			before := len(snap.Rejected)
			first, _ := Translate(snap)
			if len(snap.Rejected) != before {
				t.Fatalf("snapshot rejections changed from %d to %d", before, len(snap.Rejected))
			}
			second, _ := Translate(snap)
			marshalAll(t, first).diff(t, marshalAll(t, second))
		})
	}
}
