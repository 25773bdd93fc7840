package local

import (
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// TestG6_NoResurrection: Ristretto applies the Set of a new key on its own
// goroutine, after the fill was handed to it; an Invalidate right after
// deletes the key from the store before that Set lands, and the Set then
// makes the item visible until Ristretto processes the buffered delete. Get
// must miss throughout: the item is dead. Each round reads until Ristretto
// has applied everything. Without the dead flag about one round in five sees
// a resurrected entry. The fills are handed to Ristretto before the
// invalidation ("handed over"), or still staged when it comes ("staged").
func TestG6_NoResurrection(t *testing.T) {
	for _, handOver := range []bool{true, false} {
		name := "staged"
		if handOver {
			name = "handed over"
		}
		t.Run(name, func(t *testing.T) { testNoResurrection(t, handOver) })
	}
}

func testNoResurrection(t *testing.T, handOver bool) {
	c := newTestCache(t, Config{})
	const keys, rounds = 50, 200
	d := deps.Tag("g6")
	ds := []deps.Dep{d}
	resurrected, reads := 0, 0
	for round := range rounds {
		mark := uint64(2*round + 1)
		gen := c.Generation()
		names := make([]string, keys)
		for i := range names {
			names[i] = "g6:" + strconv.Itoa(round) + ":" + strconv.Itoa(i)
			if !c.Fill(names[i], Item{Value: round, Deps: ds, Mark: mark}, gen, time.Minute, 1) {
				t.Fatalf("round %d: fill of %s refused", round, names[i])
			}
		}
		if handOver {
			c.mu.Lock()
			c.handOverLocked() // the Sets are in Ristretto's buffer, or applied
			c.mu.Unlock()
		}
		c.Invalidate(mark+1, ds)
		// Ristretto may still be applying the Sets, then the Dels: read
		// until it is done.
		applied := make(chan struct{})
		go func() { c.Wait(); close(applied) }()
		for done := false; !done; {
			select {
			case <-applied:
				done = true
			default:
			}
			for _, k := range names {
				reads++
				if _, ok := c.Get(k); ok {
					resurrected++
				}
			}
		}
	}
	if resurrected > 0 {
		t.Fatalf("%d of %d Gets returned an invalidated entry", resurrected, reads)
	}
	mustConsistent(t, c)
}

// TestG6_DeleteAndReset: the same for Delete, and for Reset (the
// generation).
func TestG6_DeleteAndReset(t *testing.T) {
	c := newTestCache(t, Config{})
	for round := range 20 {
		gen := c.Generation()
		for i := range 500 {
			c.Fill("d:"+strconv.Itoa(i), Item{Value: i, Mark: uint64(round + 1)}, gen, time.Minute, 1)
		}
		for i := range 500 {
			c.Delete("d:" + strconv.Itoa(i))
		}
		for i := range 500 {
			if _, ok := c.Get("d:" + strconv.Itoa(i)); ok {
				t.Fatalf("round %d: hit after Delete", round)
			}
		}
		gen = c.Generation()
		for i := range 500 {
			c.Fill("r:"+strconv.Itoa(i), Item{Value: i, Mark: uint64(round + 1)}, gen, time.Minute, 1)
		}
		c.Reset(uint64(round + 1))
		for i := range 500 {
			if _, ok := c.Get("r:" + strconv.Itoa(i)); ok {
				t.Fatalf("round %d: hit after Reset", round)
			}
		}
	}
	c.Wait()
	mustConsistent(t, c)
}

// TestFillIsVisibleAtOnce: a fill is a hit for the next Get, before any
// Wait (it is staged), and the clock's goroutine hands the staged fills to
// Ristretto by itself.
func TestFillIsVisibleAtOnce(t *testing.T) {
	c := newTestCache(t, Config{})
	const n = 100 // below stageLimit: Fill leaves them to the clock
	gen := c.Generation()
	for i := range n {
		k := "v:" + strconv.Itoa(i)
		if !c.Fill(k, Item{Value: i, Mark: 1}, gen, time.Minute, 1) {
			t.Fatalf("fill of %s refused", k)
		}
		if it, ok := c.Get(k); !ok || it.Value != i {
			t.Fatalf("Get right after the fill of %s: %v, %v", k, it, ok)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.smu.RLock()
		staged := len(c.staged)
		c.smu.RUnlock()
		if staged == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d fills still staged after 5s: the clock does not hand them over", staged)
		}
		time.Sleep(time.Millisecond)
	}
	c.rc.Wait()
	for i := range n {
		k := "v:" + strconv.Itoa(i)
		if got, ok := c.rc.Get(k); !ok || got.Value != i {
			t.Fatalf("Ristretto does not hold %s after the hand-over", k)
		}
	}
	mustConsistent(t, c)
}

// TestFillStaysThroughHandOver: an entry filled once is a hit for every Get
// while the clock's goroutine hands it to Ristretto and unstages it, under
// concurrent Gets (each of which Ristretto counts in its admission policy).
func TestFillStaysThroughHandOver(t *testing.T) {
	for round := range 50 {
		c := newTestCache(t, Config{})
		if !c.Fill("k", Item{Value: round, Mark: 1}, c.Generation(), time.Minute, 1) {
			t.Fatal("fill refused")
		}
		var wg sync.WaitGroup
		var misses atomic.Int64
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 2000 {
					if _, ok := c.Get("k"); !ok {
						misses.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		if n := misses.Load(); n != 0 {
			st := c.Stats()
			t.Fatalf("round %d: %d misses of an entry filled once; stats %+v", round, n, st)
		}
	}
}
