package remote

import (
	"fmt"
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

// BenchmarkInvalidate10k: one Invalidate of a dependency with 10,000
// dependent entries (each also under a second, per-entry dependency). The
// entries are written (untimed) before each invalidation through pipelined
// Puts.
func BenchmarkInvalidate10k(b *testing.B) {
	const n = 10_000
	e := newEnv(b)
	hot := deps.Tag("hot")
	var total time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		mark := e.state(b)
		pipe := e.rdb.Pipeline()
		for j := 0; j < n; j++ {
			key := fmt.Sprint("k", j)
			env := Envelope{Deps: []deps.Dep{hot, deps.Id("row", j)}, Payload: make([]byte, 64)}
			args := []any{mark.Epoch, fmt.Sprint(mark.Seq), "60000", AppendEnvelope(nil, env), key,
				e.s.keys.entryPrefix, e.s.keys.depPrefix, e.s.keys.tombPrefix, deps.Key(key).String(),
				hot.String(), deps.Id("row", j).String()}
			e.s.scripts.put.EvalSha(e.ctx, pipe, []string{e.s.keys.seq, e.s.keys.epoch}, args...)
		}
		if err := e.s.scripts.put.Load(e.ctx, e.rdb).Err(); err != nil {
			b.Fatal(err)
		}
		if _, err := pipe.Exec(e.ctx); err != nil {
			b.Fatal(err)
		}
		if got := e.rdb.ZCard(e.ctx, e.s.DepKey(hot)).Val(); got != n {
			b.Fatalf("%d dependents, want %d", got, n)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "bench"); err != nil {
			b.Fatal(err)
		}
		total += time.Since(start)
		b.StopTimer()
		if got := e.rdb.DBSize(e.ctx).Val(); got > 3+2 { // seq, epoch, log, tombstone (+ row sets expire later)
			if e.hasEntry(b, "k0") {
				b.Fatal("entries survived the invalidation")
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/invalidate")
}
