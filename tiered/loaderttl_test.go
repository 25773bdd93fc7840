package tiered_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// TestLoaderTTL: rec.TTL sets the entry's TTL in place of the call's, in
// Redis and in L1, and a node that reads the entry from Redis follows it.
func TestLoaderTTL(t *testing.T) {
	forTopologies(t, testLoaderTTL)
	t.Run("one-process", func(t *testing.T) {
		c := newNode(t, nil)
		var loads atomic.Int64
		load := shortLived(&loads, 300*time.Millisecond)
		for range 3 {
			if _, err := matroska.GetOrLoad(bg(), c, "token", load, matroska.TTL(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		if loads.Load() != 1 {
			t.Fatalf("%d loads before the loader's TTL, want 1", loads.Load())
		}
		time.Sleep(400 * time.Millisecond)
		if _, err := matroska.GetOrLoad(bg(), c, "token", load, matroska.TTL(time.Hour)); err != nil || loads.Load() != 2 {
			t.Fatalf("after the loader's TTL: %d loads, %v; want a second load", loads.Load(), err)
		}
	})
}

// shortLived is a loader of a value that its source says holds for d.
func shortLived(loads *atomic.Int64, d time.Duration) matroska.LoadFunc[int] {
	return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(deps.Tag("tokens"))
		rec.TTL(d)
		return int(loads.Add(1)), nil
	}
}

func testLoaderTTL(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	var loads atomic.Int64
	const d = 300 * time.Millisecond
	load := shortLived(&loads, d)
	if v, err := matroska.GetOrLoad(bg(), a, "token", load, matroska.TTL(time.Hour)); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	pttl, err := cl.rdb.PTTL(bg(), a.L2().EntryKey("token")).Result()
	if err != nil || pttl <= 0 || pttl > d {
		t.Fatalf("the entry's TTL in Redis is %v (%v), want at most the loader's %v", pttl, err, d)
	}
	// B reads the entry from Redis (an hour by its own call's TTL) and
	// keeps it in L1 no longer than the loader said.
	if v, err := matroska.GetOrLoad(bg(), b, "token", load, matroska.TTL(time.Hour)); err != nil || v != 1 || loads.Load() != 1 {
		t.Fatalf("B: %d, %v after %d loads; want the entry A stored", v, err, loads.Load())
	}
	time.Sleep(d + 100*time.Millisecond)
	for name, c := range map[string]*tiered.Cache{"A": a, "B": b} {
		if c.InL1("token") {
			t.Fatalf("%s still holds the entry in L1 past the loader's TTL", name)
		}
	}
	if v, err := matroska.GetOrLoad(bg(), b, "token", load, matroska.TTL(time.Hour)); err != nil || v != 2 {
		t.Fatalf("B past the loader's TTL: %d, %v; want a new load", v, err)
	}
}

// TestLoaderTTLNotPositive: rec.TTL(0) is bad input: the value is answered
// with ErrInvalidTTL and cached nowhere.
func TestLoaderTTLNotPositive(t *testing.T) {
	cl := newCluster(t, 1)
	c := cl.nodes[0]
	var loads atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.TTL(0)
		return int(loads.Add(1)), nil
	}
	for i := 1; i <= 2; i++ {
		v, err := matroska.GetOrLoad(bg(), c, "k", load)
		if !errors.Is(err, matroska.ErrInvalidTTL) || v != i {
			t.Fatalf("call %d: %d, %v; want the new value %d and ErrInvalidTTL", i, v, err, i)
		}
	}
	if n, err := cl.rdb.Exists(bg(), c.L2().EntryKey("k")).Result(); err != nil || n != 0 {
		t.Fatalf("an entry in Redis: %d, %v", n, err)
	}
}

// TestNoCache: rec.NoCache answers the caller and stores nothing; an outer
// load that consumed the value is not stored either.
func TestNoCache(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			var c *tiered.Cache
			var cl *cluster
			if mode == "one-process" {
				c = newNode(t, nil)
			} else {
				cl = newClusterOn(t, mode, 1)
				c = cl.nodes[0]
			}
			var inner, outer atomic.Int64
			secret := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
				rec.NoCache()
				return int(inner.Add(1)), nil
			}
			page := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
				outer.Add(1)
				return matroska.GetOrLoad(ctx, c, "secret", secret)
			}
			for i := 1; i <= 2; i++ {
				if v, err := matroska.GetOrLoad(bg(), c, "secret", secret); err != nil || v != 2*i-1 {
					t.Fatalf("call %d: %d, %v; want a new load each time", i, v, err)
				}
				if v, err := matroska.GetOrLoad(bg(), c, "page", page); err != nil || v != 2*i {
					t.Fatalf("page %d: %d, %v; want a new load each time", i, v, err)
				}
			}
			if outer.Load() != 2 {
				t.Fatalf("the outer load ran %d times, want 2: it consumed an uncached value", outer.Load())
			}
			if c.InL1("secret") || c.InL1("page") {
				t.Fatal("L1 holds what was not to be cached")
			}
			if mode != "one-process" {
				for _, k := range []string{"secret", "page"} {
					if n, err := cl.rdb.Exists(bg(), c.L2().EntryKey(k)).Result(); err != nil || n != 0 {
						t.Fatalf("Redis holds %s: %d, %v", k, n, err)
					}
				}
			}
		})
	}
}

// TestEntryTimesFollowTheWriter: an entry's TTL, StaleIfError grace and
// RefreshAfter are those its writer chose, whatever the reader's call
// says: a reader without StaleIfError does not serve a value kept past its
// TTL as fresh, and a reader without RefreshAfter refreshes a due entry.
func TestEntryTimesFollowTheWriter(t *testing.T) {
	forTopologies(t, testEntryTimesFollowTheWriter)
}

func testEntryTimesFollowTheWriter(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	var loads atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(deps.Tag("t"))
		return int(loads.Add(1)), nil
	}
	// Kept past its TTL for errors only.
	if v, err := matroska.GetOrLoad(bg(), a, "kept", load, matroska.TTL(150*time.Millisecond), matroska.StaleIfError(time.Minute)); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	time.Sleep(250 * time.Millisecond)
	if v, err := matroska.GetOrLoad(bg(), b, "kept", load, matroska.TTL(time.Hour)); err != nil || v != 2 {
		t.Fatalf("B read %d, %v past the writer's TTL; want a new load, not the kept value", v, err)
	}

	// Due for a refresh.
	if v, err := matroska.GetOrLoad(bg(), a, "due", load, matroska.TTL(time.Minute), matroska.RefreshAfter(100*time.Millisecond)); err != nil || v != 3 {
		t.Fatal(v, err)
	}
	time.Sleep(200 * time.Millisecond)
	if v, err := matroska.GetOrLoad(bg(), b, "due", load, matroska.TTL(time.Minute)); err != nil || v != 3 {
		t.Fatalf("B read %d, %v; want the entry, served while it is refreshed", v, err)
	}
	waitFor(t, 5*time.Second, "B refreshes the entry its writer said is due", func() bool {
		return b.Stats().RefreshesStored == 1
	})
	if v, err := matroska.GetOrLoad(bg(), b, "due", load, matroska.TTL(time.Minute)); err != nil || v != 4 {
		t.Fatalf("B after its refresh: %d, %v; want the refreshed value", v, err)
	}
}
