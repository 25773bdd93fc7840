package local

import (
	"strconv"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/matroska-go/matroska/deps"
)

const benchKeys = 1024 // a power of two

func benchKeyNames() []string {
	keys := make([]string, benchKeys)
	for i := range keys {
		keys[i] = "bench:entry:" + strconv.Itoa(i)
	}
	return keys
}

// benchCache returns a cache holding benchKeys entries.
func benchCache(b *testing.B) (*Cache, []string) {
	c := newTestCache(b, Config{})
	keys := benchKeyNames()
	ds := []deps.Dep{deps.Id("article", 1), deps.Tag("bench")}
	for i, k := range keys {
		if !c.Fill(k, Item{Value: i, Deps: ds, Mark: 1}, c.Generation(), time.Hour, 64) {
			b.Fatal("fill refused")
		}
	}
	c.Wait()
	for _, k := range keys {
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss after fill")
		}
	}
	return c, keys
}

// rawCache is a bare Ristretto cache configured as New configures its own,
// holding the same items: the baseline of BenchmarkGet.
func rawCache(b *testing.B) (*ristretto.Cache[string, *item], []string) {
	cfg, _ := Config{}.withDefaults()
	rc, err := ristretto.NewCache(&ristretto.Config[string, *item]{
		NumCounters: cfg.NumCounters, MaxCost: cfg.MaxCost, BufferItems: cfg.BufferItems, IgnoreInternalCost: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	keys := benchKeyNames()
	for i, k := range keys {
		rc.Set(k, &item{Item: Item{Value: i, Mark: 1}, key: k, gen: 1, expires: maxInt64}, 64)
	}
	rc.Wait()
	return rc, keys
}

// BenchmarkGet is an L1 hit; compare with BenchmarkRawRistrettoGet.
func BenchmarkGet(b *testing.B) {
	c, keys := benchCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := c.Get(keys[i&(benchKeys-1)]); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetMiss(b *testing.B) {
	c, keys := benchCache(b)
	for i := range keys {
		keys[i] += ":absent"
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := c.Get(keys[i&(benchKeys-1)]); ok {
			b.Fatal("hit")
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c, keys := benchCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, ok := c.Get(keys[i&(benchKeys-1)]); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkRawRistrettoGet is the baseline: Ristretto's own Get of the same
// values, without the dead and generation checks.
func BenchmarkRawRistrettoGet(b *testing.B) {
	rc, keys := rawCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := rc.Get(keys[i&(benchKeys-1)]); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkRawRistrettoGetParallel(b *testing.B) {
	rc, keys := rawCache(b)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for i := 0; pb.Next(); i++ {
			if _, ok := rc.Get(keys[i&(benchKeys-1)]); !ok {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkFill is a fill that replaces a stored entry (Ristretto's update
// in place), with two deps and the tombstone checks.
func BenchmarkFill(b *testing.B) {
	c, keys := benchCache(b)
	ds := []deps.Dep{deps.Id("article", 1), deps.Tag("bench")}
	gen := c.Generation()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.Fill(keys[i&(benchKeys-1)], Item{Value: i, Deps: ds, Mark: 1}, gen, time.Hour, 64)
	}
}

// BenchmarkInvalidateFill is an invalidation of one entry's dep followed by
// its refill.
func BenchmarkInvalidateFill(b *testing.B) {
	c := newTestCache(b, Config{})
	keys := benchKeyNames()
	pool := make([]deps.Dep, benchKeys)
	for i := range pool {
		pool[i] = deps.Id("article", i)
	}
	gen := c.Generation()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i & (benchKeys - 1)
		seq := uint64(i + 1)
		c.Invalidate(seq, pool[j:j+1])
		c.Fill(keys[j], Item{Value: i, Deps: pool[j : j+1], Mark: seq}, gen, time.Hour, 64)
	}
}
