package workload

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// Read modes of the batch workload (BatchRow.Mode).
const (
	BatchCall    = "one call" // one Batcher.GetMany per batch
	BatchSingles = "per key"  // one Get per key of the batch
)

// batchRound is the number of batches each lane reads in its turn of the
// batch workload (as latencyRound, about 250 reads with batches of 100).
const batchRound = 3

// batch reads batches of BatchSize keys that are cold in the reading node's
// L1 and warm in Redis: another node of the cache read every key first, and
// a reader that has seen none of them reads each batch once. A reader that
// is a Batcher is measured twice, on keys of its own each time: with one
// GetMany per batch (BatchCall) and with one Get per key (BatchSingles);
// another reader, one Get per key only. As in the L2 hit workload, the
// lanes (every cache, both modes) take turns in rounds of batchRound
// batches, so that a drift in the machine's load weighs on all alike.
// Allocations are the process's (runtime.MemStats) around each turn.
func (r *runner) batch(ctx context.Context, adapters []Adapter, res *Results) error {
	var rows []*BatchRow
	var lanes []*batchLane
	defer func() {
		for _, l := range lanes {
			l.close(r)
		}
	}()
	failed := func(row *BatchRow, err error) {
		res.Errors = append(res.Errors, fmt.Sprintf("batch of %d / %s (%s): %v", r.cfg.BatchSize, row.Adapter, row.Mode, err))
	}
	for _, a := range adapters {
		if !runsOn(a, WBatch) {
			continue
		}
		r.prog.Step(fmt.Sprintf("batch of %d keys (cold L1)", r.cfg.BatchSize), a.Name())
		if !a.Features().L2 {
			rows = append(rows, &BatchRow{Adapter: a.Name(), Keys: r.cfg.BatchSize, Note: "no Redis tier"})
			continue
		}
		for _, batched := range []bool{true, false} {
			row := &BatchRow{Adapter: a.Name(), Keys: r.cfg.BatchSize, Mode: BatchCall}
			if !batched {
				row.Mode = BatchSingles
			}
			rows = append(rows, row)
			l, err := r.openBatchLane(ctx, a, batched, row)
			if err != nil {
				failed(row, err)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				break
			}
			lanes = append(lanes, l)
			if batched && l.many == nil {
				// Not a Batcher: this lane reads one key at a time already.
				row.Note = "no batch read: one Get per key"
				break
			}
		}
	}
	err := inTurns(ctx, lanes, batchRound, func(l *batchLane) int { return len(l.batches) }, func(l *batchLane, from, to int) error {
		if l.err = l.turn(ctx, r, from, to); l.err != nil {
			failed(l.row, l.err)
		}
		return l.err
	}, (*batchLane).finish)
	if err != nil {
		return err
	}
	for _, row := range rows {
		res.Batch = append(res.Batch, *row)
	}
	return nil
}

// batchLane is one cache's reads of its batches in one mode.
type batchLane struct {
	row     *BatchRow
	env     *Env
	src     *Source
	reader  Node
	many    Batcher // nil: one Get per key
	batches [][]string
	lat     []time.Duration
	total   time.Duration
	mallocs uint64
	bytes   uint64
	loads   int64
	rt      int64
	cmds    int64
	err     error
}

// openBatchLane puts Batches+1 batches of keys in Redis through a node of
// a, and opens the reader, which reads the first batch to warm up
// (connections, scripts). With batched, a reader that is a Batcher reads
// with GetMany.
func (r *runner) openBatchLane(ctx context.Context, a Adapter, batched bool, row *BatchRow) (*batchLane, error) {
	size := r.cfg.BatchSize
	l := &batchLane{row: row, src: NewSource(0, 0)}
	l.env = r.env(l.src)
	keys := make([]string, (r.cfg.Batches+1)*size)
	for i := range keys {
		keys[i] = Key(i)
	}
	reader, err := r.freshReader(ctx, a, l.env, keys, true)
	if err != nil {
		return nil, err
	}
	l.reader = reader
	if b, ok := reader.(Batcher); ok && batched {
		l.many = b
	}
	if !batched || l.many == nil {
		row.Mode = BatchSingles
	}
	if _, err := l.read(ctx, keys[:size]); err != nil {
		l.close(r)
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	for i := size; i < len(keys); i += size {
		l.batches = append(l.batches, keys[i:i+size])
	}
	l.lat = make([]time.Duration, 0, len(l.batches))
	l.loads, l.rt = l.src.Calls(), l.env.MeasuredRoundTrips()
	return l, nil
}

// read reads one batch the lane's way and checks what it got after timing
// it.
func (l *batchLane) read(ctx context.Context, keys []string) (time.Duration, error) {
	if l.many != nil {
		start := time.Now()
		got, err := l.many.GetMany(ctx, keys)
		d := time.Since(start)
		if err != nil {
			return d, err
		}
		if len(got) != len(keys) {
			return d, fmt.Errorf("GetMany of %d keys returned %d", len(keys), len(got))
		}
		for _, k := range keys {
			if id, _ := ID(k); got[k].ID != id {
				return d, fmt.Errorf("GetMany: %s is item %d", k, got[k].ID)
			}
		}
		return d, nil
	}
	start := time.Now()
	for _, k := range keys {
		it, err := l.reader.Get(ctx, k)
		if err != nil {
			return time.Since(start), err
		}
		if id, _ := ID(k); it.ID != id {
			return time.Since(start), fmt.Errorf("read %s: got item %d", k, it.ID)
		}
	}
	return time.Since(start), nil
}

// turn reads batches[from:to].
func (l *batchLane) turn(ctx context.Context, r *runner, from, to int) error {
	cmds := commands(ctx, r.admin)
	mctx := l.env.Measure(ctx) // round trips of the reads, not of heartbeats
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := from; i < to; i++ {
		d, err := l.read(mctx, l.batches[i])
		if err != nil {
			return err
		}
		l.lat = append(l.lat, d)
		l.total += d
	}
	runtime.ReadMemStats(&m1)
	l.mallocs += m1.Mallocs - m0.Mallocs
	l.bytes += m1.TotalAlloc - m0.TotalAlloc
	l.cmds += commands(ctx, r.admin) - cmds - 1 // not the INFO that read the counter
	return nil
}

// finish fills the lane's row from what its turns measured.
func (l *batchLane) finish() {
	row := l.row
	row.Batches = len(l.lat)
	row.Loads = l.src.Calls() - l.loads
	row.Measured = true
	if row.Batches == 0 {
		return
	}
	n := float64(row.Batches)
	row.Mean, row.P50, row.P99 = spread(l.lat, l.total)
	row.AllocsBatch = float64(l.mallocs) / n
	row.BytesBatch = float64(l.bytes) / n
	row.RedisBatch = float64(max(l.cmds, 0)) / n
	row.RTBatch = -1
	if l.env.clients.Load() > 0 {
		row.RTBatch = float64(l.env.MeasuredRoundTrips()-l.rt) / n
	}
	if row.Loads > 0 {
		row.Note = joinNote(row.Note, fmt.Sprintf("%d loader calls", row.Loads))
	}
}

// close closes the lane's reader and deletes its keys.
func (l *batchLane) close(r *runner) {
	if l.reader != nil {
		_ = l.reader.Close()
		l.reader = nil
		r.finish(l.env)
	}
}

func joinNote(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// batchTargets are the targets of this library's batch read, from the rows
// of one run: GetOrLoadMany costs at most 1.3 times a raw go-redis MGET and
// a JSON decode of each value (the lower bound of a read of the batch from
// Redis), and is at least 10 times faster than a GetOrLoad of each key.
func batchTargets(rows []BatchRow) []target {
	find := func(adapter, mode string) *BatchRow {
		for i := range rows {
			if r := &rows[i]; r.Adapter == adapter && r.Mode == mode && r.Measured && r.Mean > 0 {
				return r
			}
		}
		return nil
	}
	m := find(MatroskaName, BatchCall)
	if m == nil {
		return nil
	}
	var ts []target
	if g := find(GoRedisName, BatchCall); g != nil {
		x := float64(m.Mean) / float64(g.Mean)
		ts = append(ts, target{fmt.Sprintf("batch: GetOrLoadMany of %d keys <= 1.3x raw go-redis MGET + decode", m.Keys),
			fmt.Sprintf("%.2fx (%s vs %s)", x, dur(m.Mean), dur(g.Mean)), yes(x <= 1.3)})
	}
	if s := find(MatroskaName, BatchSingles); s != nil {
		x := float64(s.Mean) / float64(m.Mean)
		ts = append(ts, target{fmt.Sprintf("batch: GetOrLoadMany >= 10x faster than %d single GetOrLoad", m.Keys),
			fmt.Sprintf("%.1fx (%s vs %s)", x, dur(m.Mean), dur(s.Mean)), yes(x >= 10)})
	}
	// Every other cache with a Redis tier: its batch read, or its reads of
	// a batch's keys one by one when it has none.
	for i := range rows {
		p := &rows[i]
		if p.Adapter == MatroskaName || p.Adapter == GoRedisName || p.Mode != BatchCall || !p.Measured || p.Mean <= 0 {
			continue
		}
		how := "batch read"
		if p.Note != "" {
			how = "reads of a batch, one Get per key"
		}
		ts = append(ts, target{fmt.Sprintf("batch: GetOrLoadMany faster than %s's %s", p.Adapter, how),
			fmt.Sprintf("%s vs %s", dur(m.Mean), dur(p.Mean)), yes(m.Mean < p.Mean)})
	}
	return ts
}
