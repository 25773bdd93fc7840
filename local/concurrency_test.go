package local

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// TestConcurrentNoStaleRead runs fillers, invalidators, readers, a deleter
// and a resetter on random keys and dependencies against one cache, with a
// simulated global sequence like Redis's N:seq. An invalidator takes
// s = seq+1, calls Invalidate(s, d), then records s as completed for d. A
// filler reads the generation, then its start mark m = seq, then (the value
// is "read" now) fills with Mark m. A reader snapshots the completed
// sequences before Get; a hit is stale if one of its deps (or the key's own
// deps.Key) has a completed invalidation s > Mark: the value was read before
// an invalidation that had returned before the read started. There must be
// none.
func TestConcurrentNoStaleRead(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"roomy", Config{MaxCost: 1 << 20}},
		{"evicting, few tombstones", Config{MaxCost: 40, Tombstones: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runStaleReadCheck(t, newTestCache(t, tc.cfg))
		})
	}
}

func runStaleReadCheck(t *testing.T, c *Cache) {
	const (
		nKeys  = 48
		nDeps  = 12
		budget = 400 * time.Millisecond
		nFill  = 4
		nInval = 2
		nRead  = 4
	)
	keys := make([]string, nKeys)
	// pool: the plain deps, then deps.Key of every key; slot maps a dep to
	// its index in completed.
	pool := make([]deps.Dep, 0, nDeps+nKeys)
	for i := range nDeps {
		pool = append(pool, deps.Id("t", i))
	}
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i)
		pool = append(pool, deps.Key(keys[i]))
	}
	slot := make(map[deps.Dep]int, len(pool))
	for i, d := range pool {
		slot[d] = i
	}
	completed := make([]atomic.Uint64, len(pool))
	var seq atomic.Uint64
	seq.Store(1)

	var (
		wg                           sync.WaitGroup
		stop                         atomic.Bool
		hits, reads, fills, refused  atomic.Int64
		invalidations, stale, resets atomic.Int64
	)
	run := func(n int, f func(rng *rand.Rand)) {
		for w := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(w), uint64(n)))
				for !stop.Load() {
					f(rng)
				}
			}()
		}
	}
	run(nFill, func(rng *rand.Rand) {
		k := rng.IntN(nKeys)
		ds := make([]deps.Dep, 0, 3)
		for range 1 + rng.IntN(3) {
			if rng.IntN(5) == 0 { // nested: depends on another entry
				ds = append(ds, pool[nDeps+rng.IntN(nKeys)])
			} else {
				ds = append(ds, pool[rng.IntN(nDeps)])
			}
		}
		gen := c.Generation()
		m := seq.Load()
		switch rng.IntN(16) {
		case 0, 1, 2, 3: // a slow read: invalidations slip in
			runtime.Gosched()
		case 4: // a very slow one: its deps' tombstones may be forgotten
			for range 50 {
				runtime.Gosched()
			}
		}
		if c.Fill(keys[k], Item{Value: m, Deps: ds, Mark: m}, gen, time.Minute, 1+rng.Int64N(4)) {
			fills.Add(1)
		} else {
			refused.Add(1)
		}
	})
	run(nInval, func(rng *rand.Rand) {
		i := rng.IntN(len(pool))
		if rng.IntN(3) > 0 {
			i = rng.IntN(nDeps)
		}
		s := seq.Add(1)
		c.Invalidate(s, []deps.Dep{pool[i]})
		for {
			cur := completed[i].Load()
			if s <= cur || completed[i].CompareAndSwap(cur, s) {
				break
			}
		}
		invalidations.Add(1)
		runtime.Gosched() // fewer invalidations than fills and reads
	})
	run(nRead, func(rng *rand.Rand) {
		k := rng.IntN(nKeys)
		var snap [nDeps + nKeys]uint64
		for i := range completed {
			snap[i] = completed[i].Load()
		}
		reads.Add(1)
		defer runtime.Gosched() // let the writers in
		it, ok := c.Get(keys[k])
		if !ok {
			return
		}
		hits.Add(1)
		if it.Value != it.Mark {
			t.Errorf("key %s: value %v with mark %d", keys[k], it.Value, it.Mark)
		}
		if s := snap[nDeps+k]; s > it.Mark && stale.Add(1) <= 10 {
			t.Errorf("key %s: Mark %d served after its own invalidation at %d", keys[k], it.Mark, s)
		}
		for _, d := range it.Deps {
			if s := snap[slot[d]]; s > it.Mark && stale.Add(1) <= 10 {
				t.Errorf("key %s: Mark %d served after the invalidation of %s at %d", keys[k], it.Mark, d, s)
			}
		}
	})
	// A deleter, with now and then a Reset.
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(7, 7))
		for i := 0; !stop.Load(); i++ {
			c.Delete(keys[rng.IntN(nKeys)])
			if i%300 == 299 {
				c.Reset(seq.Load())
				resets.Add(1)
			}
			runtime.Gosched()
		}
	}()
	time.Sleep(budget) // the duration of the run, not a synchronisation
	stop.Store(true)
	wg.Wait()
	mustConsistent(t, c)

	t.Logf("reads %d, hits %d, fills %d, refused %d, invalidations %d, resets %d, stale %d; %+v",
		reads.Load(), hits.Load(), fills.Load(), refused.Load(), invalidations.Load(), resets.Load(), stale.Load(), c.Stats())
	if n := stale.Load(); n > 0 {
		t.Errorf("%d stale reads in all", n)
	}
	if hits.Load() == 0 || refused.Load() == 0 {
		t.Errorf("the run exercised too little: %d hits, %d refused fills", hits.Load(), refused.Load())
	}
}
