package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// Every index is visited once, whether the work is split or not.
func TestForVisitsEachIndexOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, c := range []struct{ n, minPer int }{{0, 1}, {1, 1}, {7, 100}, {1000, 10}, {1001, 1}} {
		seen := make([]atomic.Int32, c.n)
		For(c.n, c.minPer, func(i int) { seen[i].Add(1) })
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Fatalf("n=%d minPer=%d: index %d visited %d times", c.n, c.minPer, i, v)
			}
		}
	}
}
