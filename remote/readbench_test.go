package remote

import (
	"bytes"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

// BenchmarkReadVsRaw measures Read against plain commands on the same Redis
// in a way that load from other processes cannot skew: the kinds run in
// alternating rounds on one goroutine, and each is timed over its own rounds
// only. The entry holds a 300-byte payload and one dependency (the L2 hit of
// the benchmark harness). Reported: ns/op (Read), get-ns/op (a GET of the
// same bytes under another key), pipe-ns/op (a pipeline of GET seq, GET
// epoch, GET entry: the floor of a read that returns the start mark), and
// the ratios x-get and x-pipe; unchecked-ns/op and unchecked-x-get, the same
// for ReadUnchecked (one MGET of seq, epoch and entry).
func BenchmarkReadVsRaw(b *testing.B) {
	e := newEnv(b)
	payload := bytes.Repeat([]byte("x"), 300)
	st := e.state(b)
	env := Envelope{Deps: []deps.Dep{deps.Id("item", 1)}, Payload: payload}
	if r, err := e.s.Put(e.ctx, "k", env, time.Hour, st); err != nil || r != Stored {
		b.Fatal(r, err)
	}
	raw, err := e.rdb.Get(e.ctx, e.s.EntryKey("k")).Bytes()
	if err != nil {
		b.Fatal(err)
	}
	if err := e.rdb.Set(e.ctx, "raw", raw, time.Hour).Err(); err != nil {
		b.Fatal(err)
	}
	read := func(n int) {
		for range n {
			if _, _, found, err := e.s.Read(e.ctx, "k"); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	}
	get := func(n int) {
		for range n {
			if _, err := e.rdb.Get(e.ctx, "raw").Bytes(); err != nil {
				b.Fatal(err)
			}
		}
	}
	pipe := func(n int) {
		for range n {
			var ek *redis.StringCmd
			_, err := e.rdb.Pipelined(e.ctx, func(p redis.Pipeliner) error {
				p.Get(e.ctx, e.s.SeqKey())
				p.Get(e.ctx, e.s.EpochKey())
				ek = p.Get(e.ctx, e.s.EntryKey("k"))
				return nil
			})
			if err != nil || ek.Val() == "" {
				b.Fatal(err)
			}
		}
	}
	plain := func(n int) {
		for range n {
			if _, _, found, err := e.s.ReadUnchecked(e.ctx, "k"); err != nil || !found {
				b.Fatal(found, err)
			}
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	t := alternateRounds(b.N, read, get, pipe, plain)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(t[0])/n, "ns/op")
	b.ReportMetric(float64(t[1])/n, "get-ns/op")
	b.ReportMetric(float64(t[2])/n, "pipe-ns/op")
	b.ReportMetric(float64(t[0])/float64(t[1]), "x-get")
	b.ReportMetric(float64(t[0])/float64(t[2]), "x-pipe")
	b.ReportMetric(float64(t[3])/n, "unchecked-ns/op")
	b.ReportMetric(float64(t[3])/float64(t[1]), "unchecked-x-get")
}

// alternateRounds runs each of fs for n calls in rounds of a few calls, in
// turn, and returns the time spent in each one's rounds.
func alternateRounds(n int, fs ...func(n int)) []time.Duration {
	const round = 16
	t := make([]time.Duration, len(fs))
	for ; n > 0; n -= round {
		for i, f := range fs {
			t0 := time.Now()
			f(min(round, n))
			t[i] += time.Since(t0)
		}
	}
	return t
}
