package tiered

import (
	"context"
	"sync"
	"testing"
)

// TestStripedCounter: concurrent adds from goroutines alive at the same
// time sum exactly, and spread over more than one cell.
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
	t.Logf("%d goroutines used %d of %d cells", workers, used, len(s.cells))
	if used < 2 {
		t.Errorf("%d goroutines used %d cell(s)", workers, used)
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
