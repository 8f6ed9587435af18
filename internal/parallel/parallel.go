// Package parallel spreads independent work over the machine's cores.
package parallel

import (
	"runtime"
	"sync"
)

// For calls fn(i) for every i in [0, n). It splits the range into one
// contiguous share per core when every share has at least minPer items, and
// otherwise runs on the caller's goroutine. Calls of fn run concurrently:
// each may write only what belongs to its own i.
func For(n, minPer int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/max(minPer, 1))
	if workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	per := (n + workers - 1) / workers
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}
