package tiered

import (
	"context"
	"sync"
	"testing"
)

// TestStripedCounter: concurrent adds from goroutines alive at the same
// time sum exactly.
func TestStripedCounter(t *testing.T) {
	var s stripedCounter
	const workers, adds = 16, 5000
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for range adds {
				s.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := s.Load(); got != workers*adds {
		t.Fatalf("Load = %d, want %d", got, workers*adds)
	}
	used := 0
	for i := range s.cells {
		if s.cells[i].n.Load() != 0 {
			used++
		}
	}
	// Where the runtime put the stacks decides the spread: a figure, not
	// a check (TestStripedCells checks the hash).
	t.Logf("%d goroutines used %d of %d cells", workers, used, len(s.cells))
}

// TestStripedCells: stacks at the distances the runtime gives goroutines
// (2, 8, 32 KiB apart, from any base) spread over most cells, and calls at
// different depths of one stack (within 1 KiB) keep one cell.
func TestStripedCells(t *testing.T) {
	const cells = 1 << stripeBits
	for _, base := range []uintptr{0xc000000000, 0xc000123400, 0x7f0012345000} {
		for _, apart := range []uintptr{2 << 10, 8 << 10, 32 << 10} {
			used := map[uint64]bool{}
			for i := range uintptr(cells) {
				c := cellOf(base + i*apart)
				if c >= cells {
					t.Fatalf("cellOf = %d, past %d cells", c, cells)
				}
				used[c] = true
			}
			if len(used) < cells/2 {
				t.Errorf("%d stacks %d KiB apart from %#x: %d of %d cells", cells, apart>>10, base, len(used), cells)
			}
		}
	}
	sp := uintptr(0xc000124000)
	for d := range uintptr(1 << 10) {
		if cellOf(sp+d) != cellOf(sp) {
			t.Fatalf("depth %d of one stack moves to another cell", d)
		}
	}
}

// TestL1HitsCounted: every L1 hit of concurrent callers is in Stats.
func TestL1HitsCounted(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Set(context.Background(), "k", 1); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, ok, _ := c.fromL1(ctx, "k"); !ok {
		t.Fatal("miss after Set")
	}
	const workers, peeks = 8, 2000
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range peeks {
				if _, ok, _ := c.fromL1(ctx, "k"); !ok {
					t.Error("miss")
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := c.Stats().L1Hits; got != 1+workers*peeks {
		t.Fatalf("L1Hits = %d, want %d", got, 1+workers*peeks)
	}
}
