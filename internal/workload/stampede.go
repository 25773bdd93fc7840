package workload

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// stampedeRounds is the number of cold keys each adapter's stampede tries.
const stampedeRounds = 3

// stampede starts StampedeWaiter goroutines on each of Nodes nodes, releases
// them at once on one cold key, and counts the loader calls.
func (r *runner) stampede(ctx context.Context, a Adapter) (StampedeRow, error) {
	row := StampedeRow{Adapter: a.Name(), Nodes: r.cfg.Nodes, Goroutines: r.cfg.StampedeWaiter, MinLoads: -1}
	src := NewSource(0, r.cfg.StampedeLoad)
	env := r.env(src)
	defer r.finish(env)
	nodes, closeAll, err := openNodes(ctx, a, env, r.cfg.Nodes)
	if err != nil {
		return row, err
	}
	defer closeAll()
	for _, n := range nodes { // connections up
		if _, err := n.Get(ctx, Key(2_000_000)); err != nil {
			return row, err
		}
	}
	var wall time.Duration
	for round := 0; round < stampedeRounds; round++ {
		key := Key(2_000_001 + round)
		before := src.Calls()
		release := make(chan struct{})
		var ready, wg sync.WaitGroup
		var failed atomic.Int64
		var firstErr atomic.Value
		for _, n := range nodes {
			for g := 0; g < r.cfg.StampedeWaiter; g++ {
				wg.Add(1)
				ready.Add(1)
				go func() {
					defer wg.Done()
					ready.Done()
					<-release
					if _, err := n.Get(ctx, key); err != nil {
						failed.Add(1)
						firstErr.CompareAndSwap(nil, err)
					}
				}()
			}
		}
		ready.Wait()
		start := time.Now()
		close(release)
		wg.Wait()
		wall += time.Since(start)
		if f := failed.Load(); f > 0 {
			return row, fmt.Errorf("%d reads failed, first: %v", f, firstErr.Load())
		}
		loads := src.Calls() - before
		if row.MinLoads < 0 || loads < row.MinLoads {
			row.MinLoads = loads
		}
		row.MaxLoads = max(row.MaxLoads, loads)
		row.Rounds++
	}
	row.Wall = wall / time.Duration(row.Rounds)
	row.Measured = true
	if !a.Features().Dedup {
		row.Note = "no per-key load deduplication"
	}
	return row, nil
}
