package xdsserver

import "testing"

// A publish wakes, before it returns, every stream of the groups it
// changed that has a subscription to bring up to date, and no other.
func TestGroupsWakeTheirStreams(t *testing.T) {
	gs := &groups{all: map[string]*group{}}
	a, b, c := gs.get("a"), gs.get("b"), gs.get("c")
	newStream := func(g *group, open int32) *stream {
		st := &stream{wakeCh: make(chan struct{}, 1)}
		st.open.Store(open)
		g.join(st)
		return st
	}
	var inA, inB []*stream
	for range 100 {
		inA = append(inA, newStream(a, 1))
		inB = append(inB, newStream(b, 2))
	}
	waiting := newStream(a, 0) // every subscription waits for an answer
	other := newStream(c, 1)

	gs.wake([]*group{a, b})
	gs.wake([]*group{b}) // a wake already pending covers this one: wake never blocks
	for i, st := range append(inA, inB...) {
		select {
		case <-st.wakeCh:
		default:
			t.Fatalf("stream %d not woken", i)
		}
	}
	for name, st := range map[string]*stream{"a stream waiting on every answer": waiting, "a stream of another group": other} {
		select {
		case <-st.wakeCh:
			t.Errorf("%s was woken", name)
		default:
		}
	}
}
