package benchapi

import (
	"math/rand/v2"
	"testing"
)

func TestHistogramQuantilesWithinResolution(t *testing.T) {
	h := NewHistogram()
	var sample []int64
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := int64(r.ExpFloat64() * 5e6) // around 5 ms, like a propagation delay
		h.Record(v)
		sample = append(sample, v)
	}
	got, want := h.Quantiles(), Exact(sample)
	if got.Count != want.Count || got.Min != want.Min || got.Max != want.Max {
		t.Fatalf("count/min/max: got %+v, want %+v", got, want)
	}
	for _, c := range []struct {
		name      string
		got, want int64
	}{{"p50", got.P50, want.P50}, {"p90", got.P90, want.P90}, {"p99", got.P99, want.P99}} {
		if diff := float64(c.got-c.want) / float64(c.want); diff > 0.02 || diff < -0.02 {
			t.Errorf("%s: got %d, want %d (within 2%%)", c.name, c.got, c.want)
		}
	}
}

func TestHistogramNegativeCountsAsZero(t *testing.T) {
	h := NewHistogram()
	h.Record(-5)
	h.Record(10)
	q := h.Quantiles()
	if q.Min != -5 || q.Max != 10 || q.P50 != 0 {
		t.Fatalf("got %+v", q)
	}
}

// Histograms recorded apart and merged read as one that recorded it all.
func TestHistogramMergeEqualsOneHistogram(t *testing.T) {
	parts := []*Histogram{NewHistogram(), NewHistogram(), NewHistogram()}
	all := NewHistogram()
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 30000 {
		v := int64(r.ExpFloat64() * 5e6)
		parts[i%3].Record(v)
		all.Record(v)
	}
	merged := NewHistogram()
	for _, p := range parts {
		merged.Merge(p)
	}
	merged.Merge(NewHistogram()) // an empty one changes nothing
	if got, want := merged.Quantiles(), all.Quantiles(); got != want {
		t.Fatalf("merged %+v, recorded in one %+v", got, want)
	}
}
