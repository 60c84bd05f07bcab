//go:build !js

package websocket

import (
	"math/bits"
	"sync"
)

// This file pools the buffers of connections, so that a connection holds a
// read or write buffer only while it has bytes in it: idle connections cost
// no buffer memory, and busy ones reuse buffers instead of allocating.

// maxPooledBits is the log2 of the largest buffer that is pooled (1 MiB).
const maxPooledBits = 20

// freeListBytes bounds the memory each size's free list keeps.
const freeListBytes = 1 << 20

// bufferPool holds released buffers of one size. A goroutine that waits for
// the network often wakes on another P than the one it released its buffer
// on, where a sync.Pool alone would miss and allocate, so a small free list
// shared by all Ps comes first; the sync.Pool behind it takes the overflow
// and lets the garbage collector shrink it.
type bufferPool struct {
	mu   sync.Mutex
	free []*[]byte
	pool sync.Pool // of *[]byte, so that putting a buffer back does not allocate
}

// pools[i] holds buffers of 1<<i bytes.
var pools [maxPooledBits + 1]bufferPool

// getBuffer returns a buffer of at least size bytes (a power of two), with
// len equal to cap.
func getBuffer(size int) *[]byte {
	i := bits.Len(uint(size - 1))
	if i < len(pools) {
		p := &pools[i]
		p.mu.Lock()
		if n := len(p.free); n > 0 {
			b := p.free[n-1]
			p.free = p.free[:n-1]
			p.mu.Unlock()
			return b
		}
		p.mu.Unlock()
		if b, ok := p.pool.Get().(*[]byte); ok {
			return b
		}
	}
	b := make([]byte, 1<<i)
	return &b
}

// putBuffer returns a buffer from getBuffer for reuse. The caller must not
// use it afterwards.
func putBuffer(b *[]byte) {
	i := bits.Len(uint(cap(*b) - 1))
	if i >= len(pools) || cap(*b) != 1<<i {
		return
	}
	*b = (*b)[:cap(*b)]
	p := &pools[i]
	p.mu.Lock()
	if len(p.free) < max(freeListBytes>>i, 4) {
		p.free = append(p.free, b)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.pool.Put(b)
}
