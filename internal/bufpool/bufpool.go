// Package bufpool is a gRPC buffer pool that does not clear its buffers.
//
// gRPC's default pool clears every buffer it hands out, and hands out a
// 1 MiB buffer for anything above 32 KiB. Where a buffer is always
// written whole before it is read, as a response assembled for gRPC to send
// or a frame gRPC reads into, that clearing is all cost, paid on every
// push (measured: docs/bench/notes.md).
package bufpool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

const (
	minTier = 10 // 1 KiB: gRPC does not pool smaller buffers
	maxTier = 22 // 4 MiB: larger buffers are allocated, not pooled
)

// Pool holds buffers in powers of two from 1 KiB to 4 MiB. Its buffers
// hold whatever their last use left: take one only to write it whole.
type Pool struct {
	tiers [maxTier - minTier + 1]sync.Pool
}

var _ mem.BufferPool = (*Pool)(nil)

// tierOf is the smallest n with 1<<n >= size.
func tierOf(size int) int { return bits.Len(uint(size - 1)) }

// Get returns a buffer of length size.
func (p *Pool) Get(size int) *[]byte {
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

// Put returns a buffer Get gave; others are left to the garbage collector.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minTier || c > 1<<maxTier || c&(c-1) != 0 {
		return
	}
	p.tiers[tierOf(c)-minTier].Put(b)
}
