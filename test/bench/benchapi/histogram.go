package benchapi

import (
	"math"
	"math/bits"
	"sort"
	"sync/atomic"
)

// subBits sets the histogram's resolution: 2^subBits buckets per power of
// two, so a reported quantile is within 1/64 (1.6%) of the true value.
const subBits = 6

const (
	subCount = 1 << subBits
	buckets  = 2*subCount + (64-subBits-1)*subCount
)

// Histogram counts non-negative durations (ns) in log-linear buckets. Many
// goroutines record into it at once without a lock; negative values (a
// watch event seen before the writer saw its Put return) count as zero.
type Histogram struct {
	counts [buckets]atomic.Int64
	total  atomic.Int64
	min    atomic.Int64
	max    atomic.Int64
}

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

func bucketOf(v int64) int {
	if v < 2*subCount {
		return int(max(v, 0))
	}
	shift := bits.Len64(uint64(v)) - subBits - 1
	mant := int(uint64(v) >> shift) // in [subCount, 2*subCount)
	return 2*subCount + (shift-1)*subCount + (mant - subCount)
}

// bucketValue is the middle of a bucket.
func bucketValue(i int) int64 {
	if i < 2*subCount {
		return int64(i)
	}
	shift := (i-2*subCount)/subCount + 1
	mant := int64((i-2*subCount)%subCount + subCount)
	return mant<<shift + (int64(1)<<shift)/2
}

// Record adds one duration.
func (h *Histogram) Record(ns int64) {
	h.counts[bucketOf(ns)].Add(1)
	h.total.Add(1)
	for cur := h.min.Load(); ns < cur && !h.min.CompareAndSwap(cur, ns); cur = h.min.Load() {
	}
	for cur := h.max.Load(); ns > cur && !h.max.CompareAndSwap(cur, ns); cur = h.max.Load() {
	}
}

// Merge adds o's counts to h. Recording into h and o may go on meanwhile;
// each count is read once.
func (h *Histogram) Merge(o *Histogram) {
	var total int64
	for i := range o.counts {
		if n := o.counts[i].Load(); n > 0 {
			h.counts[i].Add(n)
			total += n
		}
	}
	h.total.Add(total)
	for v, cur := o.min.Load(), h.min.Load(); v < cur && !h.min.CompareAndSwap(cur, v); cur = h.min.Load() {
	}
	for v, cur := o.max.Load(), h.max.Load(); v > cur && !h.max.CompareAndSwap(cur, v); cur = h.max.Load() {
	}
}

// Quantiles reads the histogram; min and max are exact.
func (h *Histogram) Quantiles() Quantiles {
	q := Quantiles{Count: h.total.Load()}
	if q.Count == 0 {
		return q
	}
	q.Min, q.Max = h.min.Load(), h.max.Load()
	targets := []float64{0.5, 0.9, 0.99}
	out := []*int64{&q.P50, &q.P90, &q.P99}
	var seen int64
	t := 0
	for i := range h.counts {
		seen += h.counts[i].Load()
		for t < len(targets) && float64(seen) >= targets[t]*float64(q.Count) {
			*out[t] = min(max(bucketValue(i), q.Min), q.Max)
			t++
		}
	}
	for ; t < len(targets); t++ {
		*out[t] = q.Max
	}
	return q
}

// Exact computes quantiles of a sample by sorting it (nearest rank).
func Exact(ns []int64) Quantiles {
	if len(ns) == 0 {
		return Quantiles{}
	}
	s := append([]int64(nil), ns...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) int64 {
		i := int(math.Ceil(p*float64(len(s)))) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return Quantiles{Count: int64(len(s)), Min: s[0], P50: rank(0.5), P90: rank(0.9), P99: rank(0.99), Max: s[len(s)-1]}
}
