package local

import (
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// TestIndexFollowsEvictions: with a MaxCost far below what is filled,
// Ristretto evicts and rejects most entries; afterwards the index holds
// exactly entries Ristretto holds, and Invalidate still drops everything it
// must.
func TestIndexFollowsEvictions(t *testing.T) {
	c := newTestCache(t, Config{MaxCost: 300, BufferItems: 64})
	rng := rand.New(rand.NewPCG(1, 2))
	pool := make([]deps.Dep, 20)
	for i := range pool {
		pool[i] = deps.Id("t", i)
	}
	var seq uint64 = 1
	for i := range 20_000 {
		key := "k" + strconv.Itoa(rng.IntN(400))
		switch r := rng.IntN(100); {
		case r < 80:
			ds := []deps.Dep{pool[rng.IntN(len(pool))], pool[rng.IntN(len(pool))]}
			if rng.IntN(4) == 0 {
				ds = append(ds, deps.Key("k"+strconv.Itoa(rng.IntN(400))))
			}
			c.Fill(key, Item{Value: i, Deps: ds, Mark: seq}, c.Generation(), time.Minute, 1+rng.Int64N(20))
		case r < 95:
			seq++
			c.Invalidate(seq, []deps.Dep{pool[rng.IntN(len(pool))]})
		case r < 98:
			seq++
			c.Invalidate(seq, []deps.Dep{deps.Key(key)})
		default:
			c.Delete(key)
		}
		if i%5000 == 4999 {
			mustConsistent(t, c)
		}
	}
	mustConsistent(t, c)
	st := c.Stats()
	if st.Prunes == 0 {
		t.Fatalf("no prunes: Ristretto never evicted? %+v", st)
	}
	if st.Entries > 300 {
		t.Fatalf("%d entries indexed with MaxCost 300", st.Entries)
	}
	t.Logf("stats: %+v", st)

	// Every indexed entry is served; invalidating every dep leaves nothing.
	c.mu.Lock()
	keys := make([]string, 0, len(c.idx.keys))
	for k := range c.idx.keys {
		keys = append(keys, k)
	}
	c.mu.Unlock()
	for _, k := range keys {
		if _, ok := c.Get(k); !ok {
			t.Errorf("indexed key %s misses", k)
		}
	}
	seq++
	c.Invalidate(seq, pool)
	c.Wait()
	for _, k := range keys {
		if _, ok := c.Get(k); ok {
			t.Errorf("key %s survived the invalidation of every dep", k)
		}
	}
	mustConsistent(t, c)
	if st := c.Stats(); st.Entries != 0 || st.Deps != 0 {
		t.Errorf("index not empty: %+v", st)
	}
}

// TestPruneOnlyThatItem: a prune queued for a replaced item leaves the
// key's newer entry in the index.
func TestPruneOnlyThatItem(t *testing.T) {
	c := newTestCache(t, Config{})
	fill(c, "k", 1, depA)
	c.Wait()
	c.mu.Lock()
	old := c.idx.keys["k"]
	c.mu.Unlock()
	fill(c, "k", 2, depB) // replaces old in place; Ristretto reports old's exit
	c.pq.push(old)        // and a stale report of it must not remove the new entry
	mustConsistent(t, c)
	it, ok := c.Get("k")
	if !ok || it.Mark != 2 {
		t.Fatalf("Get = %+v, %v", it, ok)
	}
	if st := c.Stats(); st.Entries != 1 || st.Deps != 1 || st.Prunes != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !old.dead.Load() {
		t.Fatal("replaced item is not dead")
	}
}
