package bufpool

import "testing"

// A buffer holds what was asked, in a power of two below twice the size
// where it is pooled; a buffer of the pool's goes back to its tier.
func TestSizes(t *testing.T) {
	p := &Pool{}
	for _, size := range []int{1, 1000, 1024, 1025, 20000, 32768, 40000, 1 << maxTier, 1<<maxTier + 1} {
		b := p.Get(size)
		c := cap(*b)
		pooled := size <= 1<<maxTier
		if len(*b) != size || c < size || (pooled && c&(c-1) != 0) || (size > 1<<minTier && c >= 2*size) || (!pooled && c != size) {
			t.Errorf("Get(%d): len %d, cap %d", size, len(*b), c)
		}
		p.Put(b)
	}
	p.Put(&[]byte{1, 2, 3}) // not the pool's: ignored
}
