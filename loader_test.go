package matroska_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type row struct {
	ID    int
	Title string
	Tags  []string
}

var theRow = row{ID: 1, Title: "Python", Tags: []string{"a", "b"}}

func loadRow(ctx context.Context, rec *matroska.Recorder) (row, error) {
	rec.Depend(deps.Id("row", 1))
	return theRow, nil
}

// warm returns a cache (one-process, or on a private Redis) holding "k" in L1.
func warm(tb testing.TB, withRedis bool) *tiered.Cache {
	tb.Helper()
	cfg := tiered.Config{}
	if withRedis {
		cfg.Redis = redistest.Start(tb).Client(tb)
	}
	c, err := tiered.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	ctx := context.Background()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := matroska.GetOrLoad(ctx, c, "k", loadRow); err != nil {
			tb.Fatal(err)
		}
		if c.InL1("k") {
			return c
		}
		if time.Now().After(deadline) {
			tb.Fatal("k never reached L1")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestL1HitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, withRedis := range []bool{false, true} {
		c := warm(t, withRedis)
		ctx := context.Background()
		allocs := testing.AllocsPerRun(1000, func() {
			v, err := matroska.GetOrLoad(ctx, c, "k", loadRow, matroska.TTL(time.Minute))
			if err != nil || v.ID != 1 {
				t.Fatal(v, err)
			}
		})
		if allocs != 0 {
			t.Fatalf("redis=%v: an L1 hit through GetOrLoad allocates %.1f times", withRedis, allocs)
		}
	}
}

// The L1 hit path against a raw Ristretto Get of the same value: compare
// the two in one run (benchstat, or the ratio of ns/op).
func BenchmarkGetOrLoadHit(b *testing.B) {
	c := warm(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := matroska.GetOrLoad(ctx, c, "k", loadRow, matroska.TTL(time.Minute)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGetOrLoadHitParallel(b *testing.B) {
	c := warm(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := matroska.GetOrLoad(ctx, c, "k", loadRow, matroska.TTL(time.Minute)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func rawRistretto(b *testing.B) *ristretto.Cache[string, row] {
	rc, err := ristretto.NewCache(&ristretto.Config[string, row]{NumCounters: 1e6, MaxCost: 64 << 20, BufferItems: 64})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(rc.Close)
	rc.Set("k", theRow, 1)
	rc.Wait()
	return rc
}

func BenchmarkRawRistrettoGet(b *testing.B) {
	rc := rawRistretto(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := rc.Get("k"); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkRawRistrettoGetParallel(b *testing.B) {
	rc := rawRistretto(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := rc.Get("k"); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkHitVsRaw measures the ratio of the two benchmarks above in a way
// that load from other processes cannot skew: the L1 hit through GetOrLoad
// and the raw Ristretto Get run in alternating rounds, on one goroutine or
// on GOMAXPROCS goroutines that start each round together, and each kind is
// timed over its own rounds only. It reports the time per call of each
// (ns/op is the GetOrLoad hit's, raw-ns/op Ristretto's, both per call on one
// goroutine's clock divided by the goroutines) and x-raw, their ratio.
func BenchmarkHitVsRaw(b *testing.B) {
	for _, workers := range []int{1, runtime.GOMAXPROCS(0)} {
		b.Run("goroutines="+strconv.Itoa(workers), func(b *testing.B) {
			c := warm(b, true)
			rc := rawRistretto(b)
			ctx := context.Background()
			hit := func(n int) {
				for range n {
					if _, err := matroska.GetOrLoad(ctx, c, "k", loadRow, matroska.TTL(time.Minute)); err != nil {
						panic(err)
					}
				}
			}
			raw := func(n int) {
				for range n {
					if _, ok := rc.Get("k"); !ok {
						panic("miss")
					}
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			tHit, tRaw := alternate(b.N, workers, hit, raw)
			b.StopTimer()
			calls := float64(b.N) * float64(workers)
			b.ReportMetric(float64(tHit)/calls, "ns/op")
			b.ReportMetric(float64(tRaw)/calls, "raw-ns/op")
			b.ReportMetric(float64(tHit)/float64(tRaw), "x-raw")
		})
	}
}

// alternate runs a and b for n calls each on every one of workers
// goroutines, in rounds: all goroutines run a round of a, then all run a
// round of b. It returns the wall time spent in the rounds of each.
func alternate(n, workers int, a, b func(n int)) (ta, tb time.Duration) {
	const round = 4096
	start := make([]chan func(int), workers)
	var done sync.WaitGroup
	for i := range start {
		start[i] = make(chan func(int))
		go func() {
			for f := range start[i] {
				f(min(round, n))
				done.Done()
			}
		}()
	}
	run := func(f func(int)) time.Duration {
		t0 := time.Now()
		done.Add(workers)
		for _, ch := range start {
			ch <- f
		}
		done.Wait()
		return time.Since(t0)
	}
	for ; n > 0; n -= round {
		ta += run(a)
		tb += run(b)
	}
	for _, ch := range start {
		close(ch)
	}
	return ta, tb
}

// rowLoader is a loader as a value, built on every call as a handler
// would: it holds the id and a pointer to the data source.
type rowLoader struct {
	names map[int]string
	id    int
}

func (l rowLoader) Load(ctx context.Context, rec *matroska.Recorder) (row, error) {
	rec.Depend(deps.Id("row", l.id))
	return row{ID: l.id, Title: l.names[l.id]}, nil
}

// An L1 hit of GetOrLoadWith allocates nothing even though its loader
// carries per-call data; the same data captured by a LoadFunc closure costs
// one allocation per call (made by Go where the closure is built), which is
// why GetOrLoadWith exists.
func TestLoaderValueHitAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c, err := tiered.New(tiered.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	names := map[int]string{7: "seven"}
	id := 7
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := matroska.GetOrLoadWith(ctx, c, "row:7", rowLoader{names, id}); err != nil {
			t.Fatal(err)
		}
		if c.InL1("row:7") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("row:7 never reached L1")
		}
		time.Sleep(time.Millisecond)
	}
	loads := c.Stats().Loads
	with := testing.AllocsPerRun(1000, func() {
		v, err := matroska.GetOrLoadWith(ctx, c, "row:7", rowLoader{names, id})
		if err != nil || v.Title != "seven" {
			t.Fatal(v, err)
		}
	})
	closure := testing.AllocsPerRun(1000, func() {
		v, err := matroska.GetOrLoad(ctx, c, "row:7", func(ctx context.Context, rec *matroska.Recorder) (row, error) {
			return rowLoader{names, id}.Load(ctx, rec)
		})
		if err != nil || v.Title != "seven" {
			t.Fatal(v, err)
		}
	})
	if c.Stats().Loads != loads {
		t.Fatal("the measured calls loaded: they were not L1 hits")
	}
	t.Logf("allocations per L1 hit: GetOrLoadWith %v, GetOrLoad with a capturing closure %v", with, closure)
	if with != 0 {
		t.Fatalf("GetOrLoadWith hit: %v allocations, want 0", with)
	}
}

// In one-process mode an entry built from an inner L1 hit is cached like
// any other: the inner hit's mark is known (one process has no epoch).
func TestNestedHitIsCachedInOneProcess(t *testing.T) {
	c, err := tiered.New(tiered.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	var inner, outer int
	innerLoad := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		inner++
		rec.Depend(deps.Id("row", 1))
		return 1, nil
	}
	outerLoad := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		outer++
		v, err := matroska.GetOrLoad(ctx, c, "inner", innerLoad)
		return v + 1, err
	}
	if _, err := matroska.GetOrLoad(ctx, c, "inner", innerLoad); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if v, err := matroska.GetOrLoad(ctx, c, "outer", outerLoad); err != nil || v != 2 {
			t.Fatalf("outer = %d, %v", v, err)
		}
	}
	if inner != 1 || outer != 1 {
		t.Fatalf("loads: inner %d, outer %d; want 1 each (the outer entry was not cached)", inner, outer)
	}
	if err := c.Invalidate(ctx, deps.Id("row", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := matroska.GetOrLoad(ctx, c, "outer", outerLoad); err != nil || outer != 2 {
		t.Fatalf("after invalidating the inner row: outer loads %d, %v; want 2", outer, err)
	}
}

// BenchmarkMiss: a miss in both tiers (the L2 read, the loader, the put and
// the fill) on a private Redis, one new key per iteration.
func BenchmarkMiss(b *testing.B) {
	c, err := tiered.New(tiered.Config{Redis: redistest.Start(b).Client(b), DefaultTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		id := i
		if _, err := matroska.GetOrLoad(ctx, c, "miss:"+strconv.Itoa(id), func(ctx context.Context, rec *matroska.Recorder) (row, error) {
			rec.Depend(deps.Id("row", id))
			return theRow, nil
		}); err != nil {
			b.Fatal(err)
		}
	}
}
