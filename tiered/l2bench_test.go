package tiered_test

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// benchItem is the value of the L2 hit benchmark: about 300 bytes of JSON,
// the item of the benchmark harness.
type benchItem struct {
	ID      int      `json:"id"`
	Version uint64   `json:"version"`
	Name    string   `json:"name"`
	Tags    []string `json:"tags"`
	Body    string   `json:"body"`
}

var errNoLoad = errors.New("the benchmark's loader must not run")

func noLoad(context.Context, *matroska.Recorder) (benchItem, error) { return benchItem{}, errNoLoad }

// BenchmarkL2HitVsRaw measures an L2 hit through GetOrLoad (a node whose L1
// does not hold the key: the Redis read, the decode, the L1 fill) against a
// go-redis GET of the same value's JSON and its decoding, on the same Redis,
// each with its own client. The two alternate call by call on one
// goroutine, so that load from other processes weighs on both alike;
// every key is read once (the reader's L1 is reset, untimed, whenever the
// keys are used up), as in the harness's L2 hit workload. Reported:
// ns/op (the L2 hit), raw-ns/op and x-raw, their ratio. The callers' context
// is context.Background (which can never end: its Redis calls share a
// deadline) or one that can be canceled (a request's: each Redis call gets
// a timeout context of its own).
//
// pace=0 reads back to back. On a small VM that favours whichever read
// leaves the shorter gap before the next request: a Redis server idle for
// more than a few microseconds pays a wake-up (tens of microseconds) on the
// next request, and here each hit is followed by a raw read and the other
// way round. pace=200µs spins that long before every read of either kind,
// so that each meets an idle server, as a read does whose process has
// other work between reads.
func BenchmarkL2HitVsRaw(b *testing.B) {
	for _, pace := range []time.Duration{0, 200 * time.Microsecond} {
		b.Run("ctx=background/pace="+pace.String(), func(b *testing.B) { benchmarkL2Hit(b, context.Background(), pace) })
		b.Run("ctx=cancelable/pace="+pace.String(), func(b *testing.B) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			benchmarkL2Hit(b, ctx, pace)
		})
	}
}

// benchNode is a node of the benchmarks on srv: namespace "bench", an hour
// of TTL, closed when the benchmark ends.
func benchNode(b *testing.B, srv *redistest.Server) *tiered.Cache {
	c, err := tiered.New(tiered.Config{Redis: srv.Client(b), Namespace: "bench", DefaultTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return c
}

// spin keeps the goroutine busy for d (a sleep would let the client's own
// core idle too).
func spin(d time.Duration) {
	for t0 := time.Now(); d > 0 && time.Since(t0) < d; {
	}
}

func benchmarkL2Hit(b *testing.B, ctx context.Context, pace time.Duration) {
	srv := redistest.Start(b)
	const nkeys = 8192
	keys := make([]string, nkeys)
	body := strings.Repeat("matroska ", 18)[:160]
	writer, reader, raw := benchNode(b, srv), benchNode(b, srv), srv.Client(b)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < nkeys; i += 8 {
				keys[i] = "item:" + strconv.Itoa(i)
				it := benchItem{ID: i, Version: 1, Name: "item " + strconv.Itoa(i), Tags: []string{"cache", "go", "redis"}, Body: body}
				if _, err := matroska.GetOrLoad(ctx, writer, keys[i], func(ctx context.Context, rec *matroska.Recorder) (benchItem, error) {
					rec.Depend(deps.Id("item", i))
					return it, nil
				}); err != nil {
					errs <- err
					return
				}
				js, err := json.Marshal(it)
				if err == nil {
					err = raw.Set(ctx, "raw:"+keys[i], js, time.Hour).Err()
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); !reader.Trusted(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("the reader never trusted its L1")
		}
	}
	var tHit, tRaw time.Duration
	pos := 0
	hit := func(n int) {
		for range n {
			if pos%nkeys == 0 {
				reader.L1().Reset(reader.L1().Applied()) // every key cold again
			}
			k := keys[pos%nkeys]
			pos++
			spin(pace)
			t0 := time.Now()
			v, err := matroska.GetOrLoad(ctx, reader, k, noLoad)
			tHit += time.Since(t0)
			if err != nil || v.Body != body {
				b.Fatal(v, err)
			}
		}
	}
	rawPos := 0
	rawGet := func(n int) {
		for range n {
			k := "raw:" + keys[rawPos%nkeys]
			rawPos++
			spin(pace)
			t0 := time.Now()
			var v benchItem
			js, err := raw.Get(ctx, k).Bytes()
			if err == nil {
				err = json.Unmarshal(js, &v)
			}
			tRaw += time.Since(t0)
			if err != nil || v.Body != body {
				b.Fatal(v, err)
			}
		}
	}
	hit(50) // connections, scripts
	rawGet(50)
	tHit, tRaw = 0, 0
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		hit(1)
		rawGet(1)
	}
	b.StopTimer()
	if st := reader.Stats(); st.L1.Fills < uint64(b.N) || st.RefusedFills > 0 {
		b.Fatalf("%d L1 fills (%d refused) for %d L2 hits", st.L1.Fills, st.RefusedFills, b.N)
	}
	b.ReportMetric(float64(tHit)/float64(b.N), "ns/op")
	b.ReportMetric(float64(tRaw)/float64(b.N), "raw-ns/op")
	b.ReportMetric(float64(tHit)/float64(tRaw), "x-raw")
}
