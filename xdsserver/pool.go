package xdsserver

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

// responsePool holds the buffers responses are assembled in, in powers of
// two from 1 KiB to 4 MiB, and does not clear them: a response is written
// whole before gRPC sends it, and gRPC sends only what was written, so
// nothing of a buffer's last use can leak. gRPC's default pool clears every
// buffer it hands out and rounds anything above 32 KiB up to 1 MiB: under
// endpoint churn, where a push carries tens of kilobytes, clearing was more
// than a quarter of the replica's CPU (p5-rate-2000-cpu.pb.gz).
var responsePool mem.BufferPool = &tieredPool{}

const (
	minTier = 10 // 1 KiB: below gRPC's pooling threshold a buffer is not pooled
	maxTier = 22 // 4 MiB: larger responses are allocated, not pooled
)

type tieredPool struct {
	tiers [maxTier - minTier + 1]sync.Pool
}

// tierOf is the smallest n with 1<<n >= size.
func tierOf(size int) int { return bits.Len(uint(size - 1)) }

func (p *tieredPool) Get(size int) *[]byte {
	t := max(tierOf(size), minTier)
	if t > maxTier {
		b := make([]byte, size)
		return &b
	}
	if b, ok := p.tiers[t-minTier].Get().(*[]byte); ok {
		*b = (*b)[:size]
		return b
	}
	b := make([]byte, size, 1<<t)
	return &b
}

func (p *tieredPool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minTier || c > 1<<maxTier || c&(c-1) != 0 {
		return // not one of the pool's
	}
	p.tiers[tierOf(c)-minTier].Put(b)
}
