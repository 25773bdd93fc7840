package tiered_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
)

// The scenarios of py-matroska-cache's tests, ported (the parts that need no
// scopes or ORM).

type article struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Author author `json:"author"`
}

type author struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

func TestSeedPlainDependencies(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			c := newNode(t, nil)
			if mode != "one-process" {
				c = newClusterOn(t, mode, 1).nodes[0]
			}
			kolypto := author{ID: 1, Name: "kolypto"}
			data := []article{{1, "Python", kolypto}, {2, "Cache", kolypto}}
			err := c.Set(bg(), "articles-list", data,
				matroska.Depend(deps.Id("article", 1), deps.Id("article", 2), deps.Id("author", 1)),
				matroska.TTL(60*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			got, err := matroska.Get[[]article](bg(), c, "articles-list")
			if err != nil || len(got) != 2 || got[1].Title != "Cache" {
				t.Fatalf("get: %v, %v", got, err)
			}
			// Invalidating an unrelated tag keeps it.
			if err := c.Invalidate(bg(), deps.Tag("unrelated")); err != nil {
				t.Fatal(err)
			}
			if _, err := matroska.Get[[]article](bg(), c, "articles-list"); err != nil {
				t.Fatalf("unrelated invalidation removed the entry: %v", err)
			}
			// Id('article', '1') is Id('article', 1).
			if err := c.Invalidate(bg(), deps.Id("article", "1")); err != nil {
				t.Fatal(err)
			}
			if _, err := matroska.Get[[]article](bg(), c, "articles-list"); !errors.Is(err, matroska.ErrMiss) {
				t.Fatalf("invalidated entry still served: %v", err)
			}
			// Delete removes an entry without dependencies.
			if err := c.Set(bg(), "plain", "v"); err != nil {
				t.Fatal(err)
			}
			if err := c.Delete(bg(), "plain"); err != nil {
				t.Fatal(err)
			}
			if _, err := matroska.Get[string](bg(), c, "plain"); !errors.Is(err, matroska.ErrMiss) {
				t.Fatalf("deleted entry still served: %v", err)
			}
		})
	}
}

// Seed defect 1: a dependency lost when invalidate runs between put's two
// steps. Here puts and invalidations race on several nodes, and every entry
// left in Redis must still be reachable from each of its dependencies.
func TestSeedDefect1_RacingPutAndInvalidateKeepIndex(t *testing.T) {
	forTopologies(t, testSeedDefect1)
}

func testSeedDefect1(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 3)
	ds := []deps.Dep{deps.Id("a", 1), deps.Id("a", 2), deps.Tag("t")}
	var wg sync.WaitGroup
	for i, c := range cl.nodes {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				key := "k" + string(rune('a'+j%10))
				_, _ = matroska.GetOrLoad(bg(), c, key, func(ctx context.Context, rec *matroska.Recorder) (int, error) {
					rec.Depend(ds[j%3], ds[(j+i)%3])
					return j, nil
				})
				c.L1().Reset(c.L1().Applied()) // go to Redis every time
			}
		}()
		go func() {
			defer wg.Done()
			for j := 0; j < 100; j++ {
				_ = c.Invalidate(bg(), ds[(i+j)%3])
			}
		}()
	}
	wg.Wait()
	keys := cl.keys(t, "t:e:*")
	for _, k := range keys {
		key := k[len("t:e:"):]
		found := 0
		for _, d := range ds {
			if _, err := cl.rdb.ZScore(bg(), cl.nodes[0].L2().DepKey(d), key).Result(); err == nil {
				found++
			}
		}
		if found == 0 {
			t.Fatalf("entry %s is in Redis without any index", key)
		}
	}
	t.Logf("%d entries left, all indexed", len(keys))
}

// Seed defect 2: a value loaded before an invalidation stored after it. See
// TestG1_InvalidationDuringLoadIsNotStored; here with Set and a start mark.
func TestSeedDefect2_StaleWriteRefused(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			c := newNode(t, nil)
			if mode != "one-process" {
				c = newClusterOn(t, mode, 1).nodes[0]
			}
			dep := deps.Id("article", 1)
			mark, err := c.Mark(bg()) // taken before reading the database
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Invalidate(bg(), dep); err != nil { // a writer commits and invalidates
				t.Fatal(err)
			}
			err = c.Set(bg(), "k", "old row", matroska.Depend(dep), matroska.AtMark(mark))
			if !errors.Is(err, matroska.ErrStale) {
				t.Fatalf("stale Set: %v, want ErrStale", err)
			}
			if _, err := matroska.Get[string](bg(), c, "k"); !errors.Is(err, matroska.ErrMiss) {
				t.Fatalf("stale value stored: %v", err)
			}
			fresh, _ := c.Mark(bg())
			if err := c.Set(bg(), "k", "new row", matroska.Depend(dep), matroska.AtMark(fresh)); err != nil {
				t.Fatalf("fresh Set: %v", err)
			}
		})
	}
}

// Seed defect 5: re-putting a key with other dependencies kept the old ones.
func TestSeedDefect5_RePutDropsOldDependencies(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			c := newNode(t, nil)
			if mode != "one-process" {
				c = newClusterOn(t, mode, 1).nodes[0]
			}
			if err := c.Set(bg(), "k", 1, matroska.Depend(deps.Tag("old"))); err != nil {
				t.Fatal(err)
			}
			if err := c.Set(bg(), "k", 2, matroska.Depend(deps.Tag("new"))); err != nil {
				t.Fatal(err)
			}
			if err := c.Invalidate(bg(), deps.Tag("old")); err != nil {
				t.Fatal(err)
			}
			if v, err := matroska.Get[int](bg(), c, "k"); err != nil || v != 2 {
				t.Fatalf("invalidating the old dependency removed the new entry: %d, %v", v, err)
			}
			if err := c.Invalidate(bg(), deps.Tag("new")); err != nil {
				t.Fatal(err)
			}
			if _, err := matroska.Get[int](bg(), c, "k"); !errors.Is(err, matroska.ErrMiss) {
				t.Fatalf("new dependency not tracked: %v", err)
			}
		})
	}
}

// Seed defect 6: has() then get() was racy. Get answers in one call, and
// GetOrLoad never needs the pair.
func TestSeedDefect6_NoHasThenGet(t *testing.T) {
	forTopologies(t, testSeedDefect6)
}

func testSeedDefect6(t *testing.T, topo string) {
	c := newClusterOn(t, topo, 1).nodes[0]
	var n atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(2)
		go func() {
			defer wg.Done()
			v, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 1, deps.Tag("t")))
			if err != nil || v != 1 {
				t.Errorf("GetOrLoad: %d, %v", v, err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = c.Invalidate(bg(), deps.Tag("t"))
		}()
	}
	wg.Wait()
}

func TestNestingRecordsInnerEntries(t *testing.T) {
	forTopologies(t, testNesting)
}

func testNesting(t *testing.T, topo string) {
	c := newClusterOn(t, topo, 1).nodes[0]
	var outerLoads atomic.Int64
	inner := func(ctx context.Context) (int, error) {
		return matroska.GetOrLoad(ctx, c, "author:7", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(deps.Id("author", 7))
			return 7, nil
		})
	}
	outer := func() (int, error) {
		return matroska.GetOrLoad(bg(), c, "page", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			outerLoads.Add(1)
			v, err := inner(ctx)
			return v * 10, err
		})
	}
	if _, err := inner(bg()); err != nil { // the inner entry is a hit inside the outer load
		t.Fatal(err)
	}
	for _, invalidate := range []deps.Dep{deps.Id("author", 7), deps.Key("author:7")} {
		if v, err := outer(); err != nil || v != 70 {
			t.Fatalf("outer = %d, %v", v, err)
		}
		loads := outerLoads.Load()
		if err := c.Invalidate(bg(), invalidate); err != nil {
			t.Fatal(err)
		}
		if _, err := outer(); err != nil {
			t.Fatal(err)
		}
		if outerLoads.Load() != loads+1 {
			t.Fatalf("invalidating %v did not invalidate the outer entry", invalidate)
		}
	}
}
