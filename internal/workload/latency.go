package workload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// latency measures one read per key, one goroutine, on a node whose L1 has
// never seen the keys. With l2, the keys were put in Redis by another node
// first (an L2 hit); without, they are in no tier (a miss: read, load, put).
func (r *runner) latency(ctx context.Context, a Adapter, l2 bool) (LatencyRow, error) {
	row := LatencyRow{Adapter: a.Name()}
	const warmKeys = 50
	n := r.cfg.MissKeys
	first := 1_000_000 // ids past the source's versions: version 0
	if l2 {
		n, first = r.cfg.L2Keys, 0
	}
	src := NewSource(0, 0)
	env := r.env(src)
	defer r.finish(env)
	keys := make([]string, n+warmKeys)
	for i := range keys {
		keys[i] = Key(first + i)
	}
	if l2 {
		w, err := a.Open(ctx, env)
		if err != nil {
			return row, err
		}
		err = fillParallel(ctx, w, keys, 8)
		_ = w.Close()
		if err != nil {
			return row, fmt.Errorf("fill: %w", err)
		}
	}
	reader, err := a.Open(ctx, env)
	if err != nil {
		return row, err
	}
	defer reader.Close()
	for _, k := range keys[:warmKeys] { // connections, scripts loaded
		if _, err := reader.Get(ctx, k); err != nil {
			return row, err
		}
	}
	keys = keys[warmKeys:]
	lat := make([]time.Duration, len(keys))
	loads, rt, cmds := src.Calls(), env.MeasuredRoundTrips(), commands(ctx, r.admin)
	var total time.Duration
	mctx := env.Measure(ctx) // round trips of the reads, not of heartbeats
	for i, k := range keys {
		start := time.Now()
		it, err := reader.Get(mctx, k)
		lat[i] = time.Since(start)
		total += lat[i]
		if err != nil {
			return row, err
		}
		if want := first + warmKeys + i; it.ID != want {
			return row, fmt.Errorf("read %s: got item %d", k, it.ID)
		}
	}
	cmds = commands(ctx, r.admin) - cmds - 1
	row.Loads = src.Calls() - loads
	row.Ops = len(keys)
	row.Measured = true
	if row.Ops == 0 {
		return row, nil
	}
	row.Mean = total / time.Duration(row.Ops)
	slices.Sort(lat)
	row.P50, row.P99 = pct(lat, 50), pct(lat, 99)
	row.RedisOp = float64(max(cmds, 0)) / float64(row.Ops)
	row.RTOp = -1
	if env.clients.Load() > 0 {
		row.RTOp = float64(env.MeasuredRoundTrips()-rt) / float64(row.Ops)
	}
	if l2 && row.Loads > 0 {
		row.Note = fmt.Sprintf("%d of %d reads called the loader", row.Loads, row.Ops)
	}
	if !a.Features().L2 {
		row.Note = "no Redis: the loader alone"
	}
	return row, nil
}

// fillParallel reads every key through n with g goroutines.
func fillParallel(ctx context.Context, n Node, keys []string, g int) error {
	var wg sync.WaitGroup
	errs := make(chan error, g)
	for w := 0; w < g; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(keys); i += g {
				if _, err := n.Get(ctx, keys[i]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// pct is the p-th percentile of sorted d.
func pct(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	i := (len(d)*p + 99) / 100
	if i > 0 {
		i--
	}
	return d[min(i, len(d)-1)]
}
