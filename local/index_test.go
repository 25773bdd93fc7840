package local

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"pgregory.net/rapid"

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

// depKeys holds one key inline and turns into a map at the second; it
// behaves as a set of strings throughout, and each tolerates removals of
// the keys it visits (Invalidate drops entries while it ranges).
func TestDepKeysIsASet(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var s depKeys
		model := map[string]bool{}
		key := rapid.SampledFrom([]string{"", "a", "b", "c"})
		for i := range rapid.IntRange(0, 30).Draw(t, "ops") {
			k := key.Draw(t, fmt.Sprint("key", i))
			if rapid.Bool().Draw(t, fmt.Sprint("add", i)) {
				s = s.add(k)
				model[k] = true
			} else {
				s = s.remove(k)
				delete(model, k)
			}
			if s.len() != len(model) || (s.single && s.many != nil) {
				t.Fatalf("set %+v, want %v", s, model)
			}
			for _, k := range []string{"", "a", "b", "c"} {
				if s.has(k) != model[k] {
					t.Fatalf("set %+v has(%q) = %v, want %v", s, k, s.has(k), model[k])
				}
			}
		}
		seen := map[string]int{}
		s.each(func(k string) {
			seen[k]++
			s = s.remove(k) // as dropLocked does through the index
		})
		if len(seen) != len(model) {
			t.Fatalf("each visited %v, want %v", seen, model)
		}
		for k, n := range seen {
			if !model[k] || n != 1 {
				t.Fatalf("each visited %q %d times; the set was %v", k, n, model)
			}
		}
		if s.len() != 0 {
			t.Fatalf("set %+v not empty after removing every key", s)
		}
	})
}
