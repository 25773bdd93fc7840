package tiered

import (
	"sync/atomic"
	"unsafe"
)

// stripeBits sets the number of cells of a stripedCounter: 1<<stripeBits.
const stripeBits = 4

// stripedCounter is a counter for the L1 hit path, where a single atomic
// written by every core would move its cache line between the cores on
// every hit. An add goes to one of several cells, each on cache lines of its
// own, chosen by a hash of the caller's stack address: a goroutine keeps
// its cell (until its stack moves), and goroutines running at the same time
// on different cores use different cells, with high probability. Load sums
// the cells: it is exact once the adds it should see have returned.
type stripedCounter struct {
	_     [128]byte // keeps the first cell off the lines of the fields before
	cells [1 << stripeBits]paddedUint64
}

// paddedUint64 fills two cache lines, so that the adjacent-line prefetch of
// some CPUs does not couple two cells either; with the padding before the
// first cell, no other data shares a cache line pair with a cell.
type paddedUint64 struct {
	n atomic.Uint64
	_ [128 - 8]byte
}

// Add adds delta.
func (s *stripedCounter) Add(delta uint64) {
	var anchor byte
	s.cells[cellOf(uintptr(unsafe.Pointer(&anchor)))].n.Add(delta)
}

// cellOf is the cell of a caller whose stack is at sp. Goroutine stacks are
// at least 2 KiB apart: it drops the low bits, which depend on the call
// depth, and spreads the rest (Fibonacci hashing).
func cellOf(sp uintptr) uint64 {
	return (uint64(sp) >> 10 * 0x9E3779B97F4A7C15) >> (64 - stripeBits)
}

// Load returns the sum of the cells.
func (s *stripedCounter) Load() uint64 {
	var sum uint64
	for i := range s.cells {
		sum += s.cells[i].n.Load()
	}
	return sum
}
