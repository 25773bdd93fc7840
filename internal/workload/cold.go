package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Constants of the cold workload.
const (
	coldTick   = 100 * time.Millisecond // interval of the hit-rate curve and of Redis's rates
	coldTarget = 0.9                    // the L1 hit rate the fleet warms up to
	coldSample = 8                      // one read in coldSample is kept for the p99
)

// cold starts ColdNodes nodes of a on a namespace no key of which is in
// Redis (a deploy, a FLUSHALL or a failover, as the fleet sees it), and has
// ColdWorkers goroutines per node read keys drawn by Zipf (ZipfS) over
// ColdKeys, back to back, loaded after MixedLoad, until an interval of
// coldTick has an L1 hit rate of at least 90% (or ColdMax passes). Each
// interval, it reads the nodes' L1 hits and the server's command count and
// CPU time (INFO), for the hit-rate curve, Redis's peak commands per second
// and peak CPU. Loader calls per key are the loader calls over the distinct
// keys read.
func (r *runner) cold(ctx context.Context, a Adapter) (ColdRow, error) {
	c := r.cfg
	row := ColdRow{Adapter: a.Name(), Nodes: c.ColdNodes, Workers: c.ColdNodes * c.ColdWorkers, Keys: c.ColdKeys}
	src := NewSource(0, c.MixedLoad)
	env := r.env(src)
	env.Count = true
	defer r.finish(env)
	nodes, closeAll, err := openNodes(ctx, a, env, c.ColdNodes)
	if err != nil {
		return row, err
	}
	defer closeAll()
	keys := make([]string, c.ColdKeys)
	for i := range keys {
		keys[i] = Key(i)
	}
	seen := make([]atomic.Bool, len(keys))
	var reads, errs atomic.Int64
	var worst atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	samples := make([][]time.Duration, row.Workers)

	hits := func() uint64 {
		var n uint64
		for _, x := range nodes {
			n += x.L1Hits()
		}
		return n
	}
	h0 := hits()
	s0, err := readServer(ctx, r.admin)
	if err != nil {
		return row, err
	}
	start := time.Now()
	for w := 0; w < row.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := nodes[w%len(nodes)]
			rng := rand.New(rand.NewPCG(uint64(start.UnixNano()), uint64(w)))
			z := rand.NewZipf(rng, c.ZipfS, 1, uint64(len(keys)-1))
			for n := 0; !stop.Load() && ctx.Err() == nil; n++ {
				id := int(z.Uint64())
				t := time.Now()
				it, err := node.Get(ctx, keys[id])
				d := time.Since(t)
				reads.Add(1)
				if err != nil || it.ID != id {
					errs.Add(1)
					continue
				}
				seen[id].Store(true)
				if n%coldSample == 0 {
					samples[w] = append(samples[w], d)
				}
				for m := worst.Load(); int64(d) > m && !worst.CompareAndSwap(m, int64(d)); m = worst.Load() {
				}
			}
		}()
	}

	prevHits, prevReads, prev, prevAt := h0, int64(0), s0, time.Duration(0)
	tick := time.NewTicker(coldTick)
	for !row.Reached && ctx.Err() == nil {
		<-tick.C
		at := time.Since(start)
		h, n := hits(), reads.Load()
		s, err := readServer(ctx, r.admin)
		if err != nil {
			break
		}
		d, span := s.since(prev), (at - prevAt).Seconds()
		p := ColdPoint{At: at, OpsSec: float64(d.cmds) / span}
		if n > prevReads {
			p.L1 = float64(h-prevHits) / float64(n-prevReads)
		}
		row.Curve = append(row.Curve, p)
		row.PeakOps = max(row.PeakOps, p.OpsSec)
		row.PeakCPU = max(row.PeakCPU, d.cpu.Seconds()/span)
		row.FinalL1 = p.L1
		if p.L1 >= coldTarget {
			row.Reached, row.To90 = true, at
		}
		if at >= c.ColdMax {
			break
		}
		prevHits, prevReads, prev, prevAt = h, n, s, at
	}
	tick.Stop()
	stop.Store(true)
	wg.Wait()
	row.Elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return row, err
	}
	s1, err := readServer(ctx, r.admin)
	if err != nil {
		return row, err
	}
	total := s1.since(s0)
	row.RedisCPU, row.RedisCmds = total.cpu, total.cmds
	row.Reads, row.Errors = reads.Load(), errs.Load()
	row.Loads = src.Calls()
	for i := range seen {
		if seen[i].Load() {
			row.KeysRead++
		}
	}
	if row.KeysRead > 0 {
		row.LoadsPerKey = float64(row.Loads) / float64(row.KeysRead)
	}
	row.WorstRead = time.Duration(worst.Load())
	all := slices.Concat(samples...)
	slices.Sort(all)
	row.P99 = pct(all, 99)
	row.Measured = true
	if !row.Reached {
		row.Note = fmt.Sprintf("no interval reached a %.0f%% L1 hit rate in %v", 100*coldTarget, c.ColdMax)
	}
	if row.Errors > 0 {
		return row, fmt.Errorf("%d reads failed or returned another item", row.Errors)
	}
	return row, nil
}
