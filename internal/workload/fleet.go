package workload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of a sustained rate step of the fleet workload.
const (
	fleetP99      = 10 * time.Millisecond // propagation p99 above it ends the climb
	fleetAchieved = 0.9                   // share of the asked rate the writers must reach
	fleetWriters  = 32                    // writer goroutines, spread over the nodes (each waits for its Invalidate)
	fleetGap      = 5 * time.Millisecond  // least time between two samples' starts
)

// busCounter is implemented by a node that counts the bus messages it
// received (this library: bus.Stats.Received).
type busCounter interface {
	BusReceived() uint64
}

// fleet runs the fleet workload of a for each size of FleetNodes: every node
// holds FleetHotKeys keys in L1, then writers invalidate those keys at each
// rate of FleetRates in turn, for FleetStep each, until a step is not
// sustained (propagation p99 over fleetP99, an error, a timeout, or less
// than fleetAchieved of the asked rate).
//
// Method: fleetWriters goroutines, each on a node of its own (round robin),
// each pacing its share of the rate against the clock (a writer that falls
// behind catches up back to back). The writers' keys are in every L1 at the
// start; a key invalidated again before anyone re-read it is in no L1, but
// this library still broadcasts the invalidation to every node, which
// applies it (rueidis's tracking sends it to no one: no client read it since
// its last invalidation). Meanwhile one sampler goroutine measures
// propagation as the propagation workload does, on keys of its own: it reads
// a key on every node until every L1 holds it, invalidates it on one node,
// and polls every node's InL1 until each answers false; the time is from
// Invalidate's return to the last node's eviction. Redis's CPU comes from
// INFO (used_cpu_user + used_cpu_sys) and its script time from commandstats
// around each step; the sampler's reads are in them too. The nodes' CPU is
// this process's (getrusage), all nodes being in it, with the writers, the
// sampler and the runtime: per node, divided by the node count.
func (r *runner) fleet(ctx context.Context, a Adapter, res *Results) error {
	for _, n := range r.cfg.FleetNodes {
		r.prog.Step(fmt.Sprintf("fleet of %d nodes, rising invalidation rate", n), a.Name())
		rows, err := r.fleetOf(ctx, a, n)
		res.Fleet = append(res.Fleet, rows...)
		if err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	return nil
}

// fleetOf runs the rate steps of one fleet size.
func (r *runner) fleetOf(ctx context.Context, a Adapter, n int) ([]FleetRow, error) {
	src := NewSource(r.cfg.FleetHotKeys, 0)
	env := r.env(src)
	env.Combine = true // a fleet that invalidates at a high rate turns it on (see tiered.Config.CombineInvalidations)
	defer r.finish(env)
	nodes, closeAll, err := openNodes(ctx, a, env, n)
	if err != nil {
		return nil, err
	}
	defer closeAll()
	hot := make([]string, r.cfg.FleetHotKeys)
	for i := range hot {
		hot[i] = Key(i)
	}
	for _, x := range nodes {
		if err := fillParallel(ctx, x, hot, 8); err != nil {
			return nil, fmt.Errorf("hot set: %w", err)
		}
	}
	f := &fleetRun{r: r, nodes: nodes, hot: hot, first: r.cfg.FleetHotKeys}
	var rows []FleetRow
	for _, rate := range r.cfg.FleetRates {
		if err := ctx.Err(); err != nil {
			return rows, err
		}
		row, err := f.step(ctx, rate)
		row.Adapter = a.Name()
		rows = append(rows, row)
		if err != nil {
			return rows, err
		}
		if !row.Sustained {
			break
		}
	}
	return rows, nil
}

// fleetRun is the state of one fleet size across its rate steps.
type fleetRun struct {
	r      *runner
	nodes  []Node
	hot    []string
	first  int // id of the first sample key: each sample has a key of its own
	sample int // samples taken so far, across steps
	cursor int // the writers' next key, across steps
}

// step runs one rate step.
func (f *fleetRun) step(ctx context.Context, rate int) (FleetRow, error) {
	row := FleetRow{Nodes: len(f.nodes), Rate: rate, Delivered: -1, Published: -1}
	admin := f.r.admin
	bus0, counted := f.received()
	s0, err := readServer(ctx, admin)
	if err != nil {
		return row, err
	}
	cpu0 := processCPU()
	start := time.Now()
	end := start.Add(f.r.cfg.FleetStep)

	var done, failed atomic.Int64
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) * fleetWriters / float64(rate))
	for w := 0; w < fleetWriters; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			node := f.nodes[w%len(f.nodes)]
			// Writers start a fraction of an interval apart.
			next := start.Add(interval * time.Duration(w) / fleetWriters)
			for i := f.cursor + w; ; i += fleetWriters {
				now := time.Now()
				if !now.Before(end) || ctx.Err() != nil {
					return
				}
				if d := next.Sub(now); d > 0 {
					time.Sleep(d)
				}
				next = next.Add(interval)
				if err := node.Invalidate(ctx, f.hot[i%len(f.hot)]); err != nil {
					failed.Add(1)
					continue
				}
				done.Add(1)
			}
		}()
	}
	var writing time.Duration // the writers' time, which the rate is over
	wrote := make(chan struct{})
	go func() {
		wg.Wait()
		writing = time.Since(start)
		close(wrote)
	}()
	lat, timeouts, serr := f.samples(ctx, end, &done)
	<-wrote
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	s1, err := readServer(ctx, admin)
	if err != nil {
		return row, err
	}
	d := s1.since(s0)
	f.cursor += int(done.Load()) + fleetWriters

	row.Measured = true
	row.Elapsed = elapsed
	row.Invalidations = done.Load()
	row.Errors = failed.Load()
	row.Timeouts = timeouts
	row.Samples = len(lat)
	sec := elapsed.Seconds()
	row.Achieved = float64(row.Invalidations) / writing.Seconds()
	if len(lat) > 0 {
		slices.Sort(lat)
		row.P50, row.P99, row.Max = pct(lat, 50), pct(lat, 99), lat[len(lat)-1]
	}
	if row.Invalidations > 0 {
		inv := float64(row.Invalidations)
		row.RedisUsInv = float64(d.cpu.Microseconds()) / inv
		row.ScriptUsInv = float64(d.usec("evalsha", "eval")) / inv
		row.NodeUsInv = float64(cpu.Microseconds()) / inv / float64(len(f.nodes))
	}
	row.RedisCPU = d.cpu.Seconds() / sec
	row.NodeCPU = cpu.Seconds() / sec / float64(len(f.nodes))
	if pub := d.calls("publish", "spublish"); pub > 0 {
		row.Published = float64(pub) / sec
	}
	if counted {
		bus1, _ := f.received()
		row.Delivered = float64(bus1-bus0) / sec
	}
	row.Top = d.top(max(int(row.Invalidations), 1), 4)
	row.Sustained = row.Errors == 0 && row.Timeouts == 0 && row.Samples > 0 &&
		row.P99 <= fleetP99 && row.Achieved >= fleetAchieved*float64(rate)
	return row, serr
}

// received sums the bus messages the nodes received, when they count them.
func (f *fleetRun) received() (uint64, bool) {
	var sum uint64
	for _, n := range f.nodes {
		b, ok := n.(busCounter)
		if !ok {
			return 0, false
		}
		sum += b.BusReceived()
	}
	return sum, true
}

// samples measures propagation until end, one sample at a time (at most one
// start per fleetGap), counting its invalidations in done. It returns the
// propagation times and the samples where some node still held the key 2 s
// after the invalidation.
func (f *fleetRun) samples(ctx context.Context, end time.Time, done *atomic.Int64) (lat []time.Duration, timeouts int, err error) {
	const deadline = 2 * time.Second
	at := make([]time.Duration, len(f.nodes))
	for time.Now().Before(end) {
		if err := ctx.Err(); err != nil {
			return lat, timeouts, err
		}
		began := time.Now()
		key := Key(f.first + f.sample)
		by := f.nodes[f.sample%len(f.nodes)]
		f.sample++
		if !settle(deadline, func() bool {
			all := true
			for _, n := range f.nodes {
				if !n.InL1(ctx, key) {
					all = false
					_, _ = n.Get(ctx, key)
				}
			}
			return all
		}) {
			return lat, timeouts, fmt.Errorf("sample %s did not reach every L1: %w", key, errTimeout)
		}
		for i := range at {
			at[i] = -1
		}
		if err := by.Invalidate(ctx, key); err != nil {
			return lat, timeouts, err
		}
		start := time.Now()
		done.Add(1)
		left := len(f.nodes)
		for left > 0 && time.Since(start) < deadline {
			for i, n := range f.nodes {
				if at[i] < 0 && !n.InL1(ctx, key) {
					at[i] = time.Since(start)
					left--
				}
			}
			if left > 0 {
				time.Sleep(pollPause)
			}
		}
		if left > 0 {
			timeouts++
		} else {
			lat = append(lat, slices.Max(at))
		}
		if d := fleetGap - time.Since(began); d > 0 {
			time.Sleep(d)
		}
	}
	return lat, timeouts, nil
}

// fleetBest is, for each adapter and fleet size of rows, the highest rate
// step sustained and, when the climb stopped, why.
func fleetBest(rows []FleetRow) []FleetBest {
	var out []FleetBest
	for _, r := range rows {
		i := slices.IndexFunc(out, func(b FleetBest) bool { return b.Adapter == r.Adapter && b.Nodes == r.Nodes })
		if i < 0 {
			out = append(out, FleetBest{Adapter: r.Adapter, Nodes: r.Nodes})
			i = len(out) - 1
		}
		b := &out[i]
		if !r.Measured {
			continue
		}
		if r.Sustained {
			if r.Achieved > b.Achieved {
				b.Rate, b.Achieved = r.Rate, r.Achieved
			}
			continue
		}
		var why []string
		if r.Errors > 0 {
			why = append(why, fmt.Sprintf("%d errors", r.Errors))
		}
		if r.Timeouts > 0 {
			why = append(why, fmt.Sprintf("%d samples over 2 s", r.Timeouts))
		}
		if r.P99 > fleetP99 {
			why = append(why, "p99 "+dur(r.P99))
		}
		if r.Samples == 0 {
			why = append(why, "no sample")
		}
		if r.Achieved < fleetAchieved*float64(r.Rate) {
			why = append(why, fmt.Sprintf("%.0f/s achieved", r.Achieved))
		}
		b.StoppedAt = r.Rate
		b.StoppedBy = joinNotes(why)
	}
	return out
}

func joinNotes(s []string) string {
	out := ""
	for _, x := range s {
		out = joinNote(out, x)
	}
	return out
}
