package workload

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// latencyRound is the number of reads each adapter makes in its turn of
// the latency workloads.
const latencyRound = 250

// latency measures one read per key, one goroutine, on a node of each
// adapter whose L1 has never seen the keys. With l2, the keys were put in
// Redis by another node of the adapter first (an L2 hit); without, they are
// in no tier (a miss: read, load, put). The adapters take turns in rounds
// of latencyRound reads, so that load from other processes, which drifts
// over a run, weighs on all of them alike, as a comparison of ratios needs;
// Redis's command counter is read around each turn. With pace, each read
// comes after that long of busy work (see spin). It returns a row per
// adapter, in order, and the first error of each adapter (which stops that
// adapter, not the others).
func (r *runner) latency(ctx context.Context, adapters []Adapter, l2 bool, pace time.Duration, step func(Adapter)) ([]LatencyRow, []error) {
	rows := make([]LatencyRow, len(adapters))
	errs := make([]error, len(adapters))
	var lanes []*latencyLane
	defer func() {
		for _, l := range lanes {
			l.close(r)
		}
	}()
	for i, a := range adapters {
		step(a)
		rows[i] = LatencyRow{Adapter: a.Name()}
		if l2 && !a.Features().L2 {
			rows[i].Note = "no Redis tier"
			continue
		}
		l, err := r.openLane(ctx, a, l2, &rows[i])
		if err != nil {
			errs[i] = err
			continue
		}
		l.at, l.pace = i, pace
		lanes = append(lanes, l)
	}
	_ = inTurns(ctx, lanes, latencyRound, func(l *latencyLane) int { return len(l.keys) }, func(l *latencyLane, from, to int) error {
		err := l.turn(ctx, r, from, to)
		errs[l.at] = err
		return err
	}, func(l *latencyLane) { l.finish(l2, adapters[l.at]) })
	return rows, errs
}

// latencyLane is one adapter's part of a latency workload.
type latencyLane struct {
	at     int           // the adapter's index
	pace   time.Duration // busy work before each read
	row    *LatencyRow
	env    *Env
	reader Node
	src    *Source
	first  int
	keys   []string
	lat    []time.Duration
	total  time.Duration
	loads  int64
	rt     int64
	cmds   int64
}

// openLane prepares a's keys (put in Redis by another node of a, with l2)
// and a reader that has seen only warm-up keys.
func (r *runner) openLane(ctx context.Context, a Adapter, l2 bool, row *LatencyRow) (*latencyLane, error) {
	const warmKeys = 50
	n := r.cfg.MissKeys
	first := 1_000_000 // ids past the source's versions: version 0
	if l2 {
		n, first = r.cfg.L2Keys, 0
	}
	l := &latencyLane{row: row, src: NewSource(0, 0), first: first + warmKeys}
	l.env = r.env(l.src)
	keys := make([]string, n+warmKeys)
	for i := range keys {
		keys[i] = Key(first + i)
	}
	reader, err := r.freshReader(ctx, a, l.env, keys, l2)
	if err != nil {
		return nil, err
	}
	l.reader = reader
	for _, k := range keys[:warmKeys] { // connections, scripts loaded
		if _, err := reader.Get(ctx, k); err != nil {
			l.close(r)
			return nil, err
		}
	}
	l.keys = keys[warmKeys:]
	l.lat = make([]time.Duration, 0, len(l.keys))
	l.loads, l.rt = l.src.Calls(), l.env.MeasuredRoundTrips()
	return l, nil
}

// turn reads keys[from:to], timing each read.
func (l *latencyLane) turn(ctx context.Context, r *runner, from, to int) error {
	cmds := commands(ctx, r.admin)
	mctx := l.env.Measure(ctx) // round trips of the reads, not of heartbeats
	for i := from; i < to; i++ {
		spin(l.pace)
		start := time.Now()
		it, err := l.reader.Get(mctx, l.keys[i])
		d := time.Since(start)
		if err != nil {
			return err
		}
		l.lat = append(l.lat, d)
		l.total += d
		if want := l.first + i; it.ID != want {
			return fmt.Errorf("read %s: got item %d", l.keys[i], it.ID)
		}
	}
	l.cmds += commands(ctx, r.admin) - cmds - 1 // not the INFO that read the counter
	return nil
}

// finish fills the lane's row from what its turns measured.
func (l *latencyLane) finish(l2 bool, a Adapter) {
	row := l.row
	row.Loads = l.src.Calls() - l.loads
	row.Ops = len(l.lat)
	row.Measured = true
	if row.Ops == 0 {
		return
	}
	row.Mean, row.P50, row.P99 = spread(l.lat, l.total)
	row.RedisOp = float64(max(l.cmds, 0)) / float64(row.Ops)
	row.RTOp = -1
	if l.env.clients.Load() > 0 {
		row.RTOp = float64(l.env.MeasuredRoundTrips()-l.rt) / float64(row.Ops)
	}
	if l2 && row.Loads > 0 {
		row.Note = fmt.Sprintf("%d of %d reads called the loader", row.Loads, row.Ops)
	}
	if !a.Features().L2 {
		row.Note = "no Redis: the loader alone"
	}
}

// close closes the lane's reader and deletes its keys.
func (l *latencyLane) close(r *runner) {
	if l.reader != nil {
		_ = l.reader.Close()
		l.reader = nil
		r.finish(l.env)
	}
}

// spin keeps the goroutine busy for d, as a service's work between two
// reads would. Back to back, how soon one read follows the previous one
// changes the next one's round trip on a small VM: a Redis server (and a
// client core) idle for more than a few microseconds answers tens of
// microseconds later, so a cache whose reads do more work before and after
// their round trip is measured against a raw client that often finds the
// server still awake. After a pause, every read of every cache finds it
// idle. A sleep would idle the client's core too.
func spin(d time.Duration) {
	for start := time.Now(); d > 0 && time.Since(start) < d; {
	}
}

// inTurns has each lane do its work, items 0 to n(l), in turns of round
// items: every lane's first turn, then every lane's second, and so on, so
// that a drift in the machine's load weighs on every lane alike. A lane
// whose turn fails has no further turn; finish is called for each lane
// whose turns all succeeded. It stops early, with ctx's error, when ctx
// ends.
func inTurns[L any](ctx context.Context, lanes []L, round int, n func(L) int, turn func(l L, from, to int) error, finish func(L)) error {
	failed := make([]bool, len(lanes))
	for pos := 0; ; pos += round {
		more := false
		for i, l := range lanes {
			if failed[i] || pos >= n(l) {
				continue
			}
			more = true
			failed[i] = turn(l, pos, min(pos+round, n(l))) != nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !more {
			break
		}
	}
	for i, l := range lanes {
		if !failed[i] {
			finish(l)
		}
	}
	return nil
}

// freshReader puts keys in Redis through a node of a of their own (with
// fill) and returns a node of a that has seen none of them. On an error it
// releases env.
func (r *runner) freshReader(ctx context.Context, a Adapter, env *Env, keys []string, fill bool) (Node, error) {
	if fill {
		if err := fillThrough(ctx, a, env, keys); err != nil {
			r.finish(env)
			return nil, err
		}
	}
	reader, err := a.Open(ctx, env)
	if err != nil {
		r.finish(env)
		return nil, err
	}
	return reader, nil
}

// fillThrough reads every key through a node of a of its own, which it
// closes: afterwards the keys are in Redis (for a cache with a Redis tier)
// and in no other node's L1.
func fillThrough(ctx context.Context, a Adapter, env *Env, keys []string) error {
	w, err := a.Open(ctx, env)
	if err != nil {
		return err
	}
	err = fillParallel(ctx, w, keys, 8)
	_ = w.Close()
	if err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	return nil
}

// fillDeps reads the n keys from id first on through c, 16 at a time,
// each loaded from src with the dependencies depsOf gives its index.
func fillDeps(ctx context.Context, c *tiered.Cache, src *Source, first, n int, depsOf func(i int) []deps.Dep) error {
	var failed atomic.Int64
	var wg sync.WaitGroup
	const g = 16
	for w := range g {
		wg.Go(func() {
			for i := w; i < n; i += g {
				key := Key(first + i)
				_, err := matroska.GetOrLoad(ctx, c, key, func(ctx context.Context, rec *matroska.Recorder) (Item, error) {
					it, err := src.Load(ctx, key)
					rec.Depend(depsOf(i)...)
					return it, err
				})
				if err != nil {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d loads failed", n)
	}
	return nil
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

// spread sorts lat, whose sum is total, and returns its mean, median and
// 99th percentile.
func spread(lat []time.Duration, total time.Duration) (mean, p50, p99 time.Duration) {
	if len(lat) == 0 {
		return 0, 0, 0
	}
	slices.Sort(lat)
	return total / time.Duration(len(lat)), pct(lat, 50), pct(lat, 99)
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
