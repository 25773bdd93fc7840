package remote

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// BenchmarkRead: one Read of a present entry (one EVALSHA round trip).
func BenchmarkRead(b *testing.B) {
	e := newEnv(b)
	e.mustPut(b, "k", deps.Id("article", 1), deps.Tag("home"))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, found, err := e.s.Read(e.ctx, "k"); err != nil || !found {
			b.Fatal(found, err)
		}
	}
}

// BenchmarkPut: one Put of an entry with three dependencies, replacing the
// previous one (the steady state of a hot key).
func BenchmarkPut(b *testing.B) {
	e := newEnv(b)
	mark := e.state(b)
	env := Envelope{Deps: []deps.Dep{deps.Id("article", 1), deps.Id("user", 7), deps.Tag("home")}, Payload: make([]byte, 512)}
	b.ReportAllocs()
	for b.Loop() {
		if r, err := e.s.Put(e.ctx, "k", env, time.Minute, mark); err != nil || r != Stored {
			b.Fatal(r, err)
		}
	}
}

// BenchmarkInvalidate10k and BenchmarkInvalidate100k: one Invalidate of a
// dependency with 10,000 or 100,000 dependent entries (each also under a
// second, per-entry dependency), with the default InvalidateBatch. The
// entries are written (untimed) before each invalidation through pipelined
// put scripts. Reported: the wall time of the Invalidate (ms/invalidate),
// the longest and the median script call as Redis's SLOWLOG measured them
// (max-call-ms, p50-call-ms), and the number of script calls
// (calls/invalidate).
func BenchmarkInvalidate10k(b *testing.B)  { benchmarkInvalidate(b, 10_000) }
func BenchmarkInvalidate100k(b *testing.B) { benchmarkInvalidate(b, 100_000) }

func benchmarkInvalidate(b *testing.B, n int) {
	e := newEnv(b)
	e.slowlogOn(b)
	hot := deps.Tag("hot")
	h := &countHook{}
	e.rdb.AddHook(h)
	var total time.Duration
	var durations []time.Duration
	calls := 0
	for b.Loop() {
		b.StopTimer()
		e.seedDependents(b, hot, "k", n)
		e.scriptCalls(b)
		h.take()
		b.StartTimer()
		start := time.Now()
		if _, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "bench"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		calls += len(h.take())
		durations = append(durations, e.scriptCalls(b)...)
		h.take()
		if e.hasEntry(b, "k0") || e.hasEntry(b, "k"+strconv.Itoa(n-1)) {
			b.Fatal("entries survived the invalidation")
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/invalidate")
	slices.Sort(durations)
	if len(durations) > 0 {
		b.ReportMetric(float64(durations[len(durations)-1].Microseconds())/1000, "max-call-ms")
		b.ReportMetric(float64(durations[len(durations)/2].Microseconds())/1000, "p50-call-ms")
	}
	b.ReportMetric(float64(calls)/float64(b.N), "calls/invalidate")
}
