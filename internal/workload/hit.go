package workload

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// hit measures L1 hits of HitKeys warm keys on one node, with one goroutine
// and with GOMAXPROCS goroutines. Adapters without L1 are measured too (their
// "hit" is a Redis read), as the reference of what an L1 saves.
func (r *runner) hit(ctx context.Context, a Adapter, res *Results) error {
	src := NewSource(r.cfg.HitKeys, 0)
	env := r.env(src)
	defer r.finish(env)
	n, err := a.Open(ctx, env)
	if err != nil {
		return err
	}
	defer n.Close()
	keys := make([]string, r.cfg.HitKeys)
	for i := range keys {
		keys[i] = Key(i)
	}
	if err := warm(ctx, n, keys, a.Features().L1); err != nil {
		return err
	}
	for _, parallel := range []bool{false, true} {
		mode := "1 goroutine"
		if parallel {
			mode = fmt.Sprintf("%d goroutines", runtime.GOMAXPROCS(0))
		}
		r.prog.Step("L1 hit, "+mode, a.Name())
		row, err := r.measureHit(ctx, n, src, keys, parallel)
		row.Adapter = a.Name()
		if !a.Features().L1 {
			row.Note = "no L1: every read is a Redis GET and a decode"
		}
		res.Hit = append(res.Hit, row)
		if err != nil {
			return err
		}
	}
	return nil
}

// warm reads every key until it is in L1 (when the cache has one).
func warm(ctx context.Context, n Node, keys []string, l1 bool) error {
	for pass := 0; pass < 2; pass++ {
		for _, k := range keys {
			if _, err := n.Get(ctx, k); err != nil {
				return err
			}
		}
	}
	if !l1 {
		return nil
	}
	ok := settle(5*time.Second, func() bool {
		all := true
		for _, k := range keys {
			if !n.InL1(ctx, k) {
				all = false
				_, _ = n.Get(ctx, k)
			}
		}
		return all
	})
	if !ok {
		return fmt.Errorf("warm-up: keys still missing from L1 after 5s: %w", errTimeout)
	}
	return nil
}

func (r *runner) measureHit(ctx context.Context, n Node, src *Source, keys []string, parallel bool) (HitRow, error) {
	g := 1
	if parallel {
		g = runtime.GOMAXPROCS(0)
	}
	row := HitRow{Parallel: parallel, Goroutines: g}
	loop := func(d time.Duration) (ops, errs int64, firstErr error) {
		var stop atomic.Bool
		var wg sync.WaitGroup
		var mu sync.Mutex
		for w := 0; w < g; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var o, e int64
				var fe error
				for i := w * 97; ; i++ {
					if i&127 == 0 && stop.Load() {
						break
					}
					if _, err := n.Get(ctx, keys[i%len(keys)]); err != nil {
						e++
						if fe == nil {
							fe = err
						}
					}
					o++
				}
				mu.Lock()
				ops, errs = ops+o, errs+e
				if firstErr == nil {
					firstErr = fe
				}
				mu.Unlock()
			}()
		}
		time.Sleep(d)
		stop.Store(true)
		wg.Wait()
		return ops, errs, firstErr
	}
	loop(r.cfg.HitDuration / 5) // warm-up: caches, branch predictors, CPU frequency

	loads := src.Calls()
	cmds := commands(ctx, r.admin)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	ops, errs, err := loop(r.cfg.HitDuration)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	cmds = commands(ctx, r.admin) - cmds - 1 // the INFO call itself
	row.Ops = ops
	row.Loads = src.Calls() - loads
	if ops > 0 {
		row.NsPerOp = float64(elapsed.Nanoseconds()) / float64(ops)
		row.AllocsOp = float64(m1.Mallocs-m0.Mallocs) / float64(ops)
		row.BytesOp = float64(m1.TotalAlloc-m0.TotalAlloc) / float64(ops)
		row.RedisOp = float64(max(cmds, 0)) / float64(ops)
	}
	if errs > 0 {
		return row, fmt.Errorf("%d of %d reads failed, first: %w", errs, ops, err)
	}
	return row, nil
}
