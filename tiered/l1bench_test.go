package tiered_test

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// l1BenchKeys is the number of hot keys of BenchmarkL1Hit: a power of two.
const l1BenchKeys = 1024

// l1BenchSlice is how many reads each goroutine makes in one slice of
// BenchmarkL1Hit (about a millisecond).
const l1BenchSlice = 1 << 14

// itemLoad is the loader of BenchmarkL1Hit, as a value: an L1 hit through
// GetOrLoadWith allocates nothing for it.
type itemLoad struct{ id int }

func (l itemLoad) Load(_ context.Context, rec *matroska.Recorder) (benchItem, error) {
	rec.Depend(deps.Id("item", l.id))
	return benchItem{ID: l.id, Version: 1, Name: "item " + strconv.Itoa(l.id)}, nil
}

// BenchmarkL1Hit measures an L1 hit of the typed read path (GetOrLoadWith
// on a node with Redis, its bus trusted, the loader a value) against a raw
// Ristretto Get of the same values without a TTL (whose Get then reads no
// clock) and with one, over l1BenchKeys keys built beforehand, with
// GOMAXPROCS goroutines (run it with -cpu 2 for two). The three take turns
// in slices of about a millisecond, every goroutine reading with the same
// one at a time, so that the load of other processes weighs on them alike.
// Reported: ns/op (the hit, wall time per read across the goroutines),
// raw-ns/op and raw-ttl-ns/op, and x-raw, the hit's time over the raw Get
// without a TTL.
func BenchmarkL1Hit(b *testing.B) {
	keys := make([]string, l1BenchKeys)
	for i := range keys {
		keys[i] = "item:" + strconv.Itoa(i)
	}
	srv := redistest.Start(b)
	c, err := tiered.New(tiered.Config{Redis: srv.Client(b), Namespace: "bench", DefaultTTL: time.Hour,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for i, k := range keys {
		if _, err := matroska.GetOrLoadWith(ctx, c, k, itemLoad{i}); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		all := c.Trusted()
		for _, k := range keys {
			all = all && c.InL1(k)
		}
		if all {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("keys not in L1 after 5s")
		}
	}
	raw := func(ttl time.Duration) *ristretto.Cache[string, benchItem] {
		rc, err := ristretto.NewCache(&ristretto.Config[string, benchItem]{
			NumCounters: 1e6, MaxCost: 1 << 26, BufferItems: 64, IgnoreInternalCost: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(rc.Close)
		for i, k := range keys {
			rc.SetWithTTL(k, benchItem{ID: i, Version: 1, Name: "item " + strconv.Itoa(i)}, 1, ttl)
		}
		rc.Wait()
		return rc
	}
	rawNone, rawTTL := raw(0), raw(time.Hour)
	reads := []func(j int) bool{
		func(j int) bool {
			_, err := tiered.GetOrLoadWith(ctx, c, keys[j], itemLoad{j})
			return err == nil
		},
		func(j int) bool { _, ok := rawNone.Get(keys[j]); return ok },
		func(j int) bool { _, ok := rawTTL.Get(keys[j]); return ok },
	}
	g := runtime.GOMAXPROCS(0)
	var spent [3]time.Duration
	var done [3]int
	var failed sync.Once
	hits := c.Stats().L1Hits
	b.ReportAllocs()
	b.ResetTimer()
	for done[0] < b.N {
		n := min(l1BenchSlice, (b.N-done[0]+g-1)/g)
		for v, read := range reads {
			var wg sync.WaitGroup
			t0 := time.Now()
			for w := range g {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w * 97; i < w*97+n; i++ { // goroutines apart, as in the harness
						if !read(i & (l1BenchKeys - 1)) {
							failed.Do(func() { b.Errorf("read %d missed its cache", v) })
							return
						}
					}
				}()
			}
			wg.Wait()
			spent[v] += time.Since(t0)
			done[v] += n * g
		}
	}
	b.StopTimer()
	if n := c.Stats().L1Hits - hits; n != uint64(done[0]) {
		b.Fatalf("%d L1 hits for %d reads", n, done[0])
	}
	perOp := func(v int) float64 { return float64(spent[v]) / float64(done[v]) }
	b.ReportMetric(perOp(0), "ns/op")
	b.ReportMetric(perOp(1), "raw-ns/op")
	b.ReportMetric(perOp(2), "raw-ttl-ns/op")
	b.ReportMetric(perOp(0)/perOp(1), "x-raw")
}
