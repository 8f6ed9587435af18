package health

import (
	"container/heap"
	"time"

	"github.com/chancery-xds/chancery/storage/model"
)

// target is one endpoint the leader checks, with the state of its
// thresholds. Only the checker's goroutine touches it.
type target struct {
	key     string // "<service>/<id>", the name of its health verdict
	addr    string // host:port
	spec    checkSpec
	gen     uint64 // bumped when addr or spec change: checks begun before do not count
	verdict string // what etcd holds, or will once the pending write lands; "" is unknown

	successes, failures uint32 // consecutive, capped at the thresholds
	due                 time.Time
	running             bool // a check is in flight; the target is not in the heap
	index               int  // in the due heap
}

// observe counts one check and returns the new verdict when it crosses a
// threshold. Only transitions are reported: a verdict that stands is never
// rewritten.
func (t *target) observe(err error) (string, bool) {
	if err == nil {
		t.failures = 0
		t.successes = min(t.successes+1, t.spec.healthy)
		if t.verdict != model.Healthy && t.successes >= t.spec.healthy {
			t.verdict = model.Healthy
			return t.verdict, true
		}
		return "", false
	}
	t.successes = 0
	t.failures = min(t.failures+1, t.spec.unhealthy)
	if t.verdict != model.Unhealthy && t.failures >= t.spec.unhealthy {
		t.verdict = model.Unhealthy
		return t.verdict, true
	}
	return "", false
}

// dueHeap orders the targets waiting for their next check by due time.
type dueHeap []*target

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *dueHeap) Push(x any) {
	t := x.(*target)
	t.index = len(*h)
	*h = append(*h, t)
}

func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	t.index = -1
	return t
}

// schedule puts a waiting target in the heap at due, or moves it there.
func (h *dueHeap) schedule(t *target, due time.Time) {
	t.due = due
	if t.index >= 0 && t.index < len(*h) && (*h)[t.index] == t {
		heap.Fix(h, t.index)
		return
	}
	heap.Push(h, t)
}

// remove takes a target out of the heap if it is there.
func (h *dueHeap) remove(t *target) {
	if t.index >= 0 && t.index < len(*h) && (*h)[t.index] == t {
		heap.Remove(h, t.index)
	}
}
