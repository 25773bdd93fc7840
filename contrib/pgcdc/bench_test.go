package pgcdc_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// BenchmarkCommitToEviction measures, for a row that another node holds
// in L1, the time from the return of the COMMIT that changes it to the
// moment that node's L1 stops serving it: through the commit log (the
// consumer invalidates), and through the application (Invalidate after the
// COMMIT). It reports the median and the 99th percentile (ns); ns/op is
// the whole round (commit, eviction, the read that fills L1 again).
//
//	go test -run '^$' -bench CommitToEviction ./contrib/pgcdc
func BenchmarkCommitToEviction(b *testing.B) {
	for _, path := range []string{"log", "app"} {
		b.Run(path, func(b *testing.B) {
			r := newRig(b, "bench_"+path)
			// The private server commits asynchronously (for the tests'
			// speed), which leaves a commit unflushed, and unseen by the
			// log, for up to wal_writer_delay: commit as a production
			// server does.
			r.exec(`SET synchronous_commit = on`)
			r.exec(`INSERT INTO articles VALUES (1, 'v', 'go', true)`)
			if path == "log" {
				cfg := r.config()
				cfg.Invalidator = r.node("feeder")
				start(b, cfg)
			}
			writer := r.a
			var lat []time.Duration
			v := 0
			for b.Loop() {
				waitFor(b, 5*time.Second, "the row in L1", func() bool {
					r.article(r.b, 1)
					return r.b.InL1("article:1")
				})
				v++
				r.exec(`UPDATE articles SET title = $1 WHERE id = 1`, fmt.Sprint(v))
				committed := time.Now()
				if path == "app" {
					if err := writer.Invalidate(context.Background(), deps.Id("articles", 1)); err != nil {
						b.Fatal(err)
					}
				}
				for r.b.InL1("article:1") {
					time.Sleep(20 * time.Microsecond)
				}
				lat = append(lat, time.Since(committed))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2]), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100]), "p99-ns")
		})
	}
}

// BenchmarkConsumerThroughput measures how many committed row changes per
// second the consumer turns into invalidations: 8 connections commit
// single-row updates as fast as they can while the consumer follows; the
// rate is the consumer's, from the first commit to the moment it has
// invalidated the last (rows/s).
//
//	go test -run '^$' -bench ConsumerThroughput -benchtime 5000x ./contrib/pgcdc
func BenchmarkConsumerThroughput(b *testing.B) {
	r := newRig(b, "bench_rate")
	const rows = 1000
	r.exec(`INSERT INTO articles SELECT g, 't', 'go', true FROM generate_series(1, $1) g`, rows)
	cfg := r.config()
	cfg.Invalidator = r.node("feeder")
	c := start(b, cfg)
	waitFor(b, 10*time.Second, "the consumer streams", func() bool { return c.Stats().Active })
	conns := make([]*conn, 8)
	for i := range conns {
		conns[i] = dial(b, r.dsn)
		if err := conns[i].exec(`SET synchronous_commit = on`); err != nil {
			b.Fatal(err)
		}
	}
	before := c.Stats().Rows
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for w, cn := range conns {
		wg.Go(func() {
			for i := w; i < b.N; i += len(conns) {
				if err := cn.exec(`UPDATE articles SET title = $1 WHERE id = $2`, fmt.Sprint(i), 1+i%rows); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	committed := time.Since(began)
	waitFor(b, time.Minute, "the consumer invalidates every change", func() bool { return c.Stats().Rows-before >= uint64(b.N) })
	took := time.Since(began)
	b.ReportMetric(float64(b.N)/took.Seconds(), "rows/s")
	b.ReportMetric(float64(b.N)/committed.Seconds(), "commits/s")
}
