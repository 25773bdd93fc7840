package workload

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// pollPause is the pause between two sweeps of the propagation poller: a
// spinning poller would take a core from the nodes and Redis it measures.
const pollPause = 20 * time.Microsecond

// propagation measures, over Rounds invalidations, the time from the call
// that invalidates a key on node 0 to the moment the last of Nodes nodes no
// longer serves it from its L1.
//
// Method: every node reads the key until it is in its L1; then node 0's
// Invalidate is called, and one goroutine polls every node's InL1 in turn
// (pausing pollPause between sweeps, a resolution of about 0.1 ms) until each answers false, noting the time of
// each first false. Node 0 counts too: for this library its own eviction
// happens before Invalidate returns. For rueidis, InL1 is a DoCache whose
// IsCacheHit turns false once the server's tracking invalidation has reached
// that client.
func (r *runner) propagation(ctx context.Context, a Adapter) (PropagationRow, error) {
	row := PropagationRow{Adapter: a.Name(), Nodes: r.cfg.Nodes}
	src := NewSource(r.cfg.Rounds, 0)
	env := r.env(src)
	defer r.finish(env)
	nodes, closeAll, err := openNodes(ctx, a, env, r.cfg.Nodes)
	if err != nil {
		return row, err
	}
	defer closeAll()

	var lat, calls []time.Duration
	at := make([]time.Duration, len(nodes))
	const deadline = 2 * time.Second
	for round := 0; round < r.cfg.Rounds; round++ {
		if err := ctx.Err(); err != nil {
			return row, err
		}
		key := Key(round)
		for _, n := range nodes {
			if _, err := n.Get(ctx, key); err != nil {
				return row, err
			}
		}
		if !settle(deadline, func() bool {
			all := true
			for _, n := range nodes {
				if !n.InL1(ctx, key) {
					all = false
					_, _ = n.Get(ctx, key)
				}
			}
			return all
		}) {
			return row, fmt.Errorf("round %d: the key did not reach every L1: %w", round, errTimeout)
		}
		src.Write(round)
		for i := range at {
			at[i] = -1
		}
		start := time.Now()
		if err := nodes[0].Invalidate(ctx, key); err != nil {
			return row, err
		}
		calls = append(calls, time.Since(start))
		left := len(nodes)
		for left > 0 && time.Since(start) < deadline {
			for i, n := range nodes {
				if at[i] < 0 && !n.InL1(ctx, key) {
					at[i] = time.Since(start)
					left--
				}
			}
			time.Sleep(pollPause)
		}
		if left > 0 {
			row.Timeouts++
			continue
		}
		lat = append(lat, slices.Max(at))
	}
	row.Rounds = len(lat)
	row.Measured = true
	if len(lat) == 0 {
		return row, fmt.Errorf("no round completed: %w", errTimeout)
	}
	slices.Sort(lat)
	slices.Sort(calls)
	row.P50, row.P99, row.Max = pct(lat, 50), pct(lat, 99), lat[len(lat)-1]
	row.Call = pct(calls, 50)
	return row, nil
}
