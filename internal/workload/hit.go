package workload

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// hitRounds is the number of turns each cache gets in each mode of the L1
// hit workload: the mode's HitDuration is split into that many slices.
const hitRounds = 10

// hits measures L1 hits of HitKeys warm keys on one node of each adapter,
// with one goroutine and with GOMAXPROCS goroutines. Adapters without L1
// are measured too (their "hit" is a Redis read), as the reference of what
// an L1 saves. The caches take turns in slices of HitDuration/hitRounds,
// as in the latency workloads: measured one after the other, a drift in
// the machine's load between two caches' windows swung their ratio by
// more than the difference measured (a raw Ristretto Get against this
// library's hit, which differ by one clock read).
func (r *runner) hits(ctx context.Context, adapters []Adapter, res *Results) error {
	var lanes []*hitLane
	defer func() {
		for _, l := range lanes {
			l.close(r)
		}
	}()
	for _, a := range adapters {
		if !runsOn(a, WHit) {
			continue
		}
		r.prog.Step("L1 hit, warm-up", a.Name())
		l, err := r.openHitLane(ctx, a)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res.Errors = append(res.Errors, fmt.Sprintf("%s / %s: %v", WHit, a.Name(), err))
			continue
		}
		lanes = append(lanes, l)
	}
	rows := make([][2]HitRow, len(lanes)) // per lane: 1 goroutine, GOMAXPROCS
	for m, parallel := range []bool{false, true} {
		g := 1
		mode := "1 goroutine"
		if parallel {
			g = runtime.GOMAXPROCS(0)
			mode = fmt.Sprintf("%d goroutines", g)
		}
		for _, l := range lanes {
			r.prog.Step("L1 hit, "+mode, l.a.Name())
			l.slice = hitSlice{}
			l.loop(ctx, g, r.cfg.HitDuration/5) // warm-up: caches, branch predictors, CPU frequency
		}
		err := inTurns(ctx, lanes, 1, func(*hitLane) int { return hitRounds }, func(l *hitLane, _, _ int) error {
			return l.turn(ctx, r, g, r.cfg.HitDuration/hitRounds)
		}, func(*hitLane) {})
		for i, l := range lanes {
			row := l.slice.row(g, parallel)
			row.Adapter = l.a.Name()
			if !l.a.Features().L1 {
				row.Note = "no L1: every read is a Redis GET and a decode"
			}
			rows[i][m] = row
			if l.slice.errs > 0 {
				res.Errors = append(res.Errors, fmt.Sprintf("%s / %s: %d of %d reads failed, first: %v",
					WHit, l.a.Name(), l.slice.errs, l.slice.ops, l.slice.firstErr))
			}
		}
		if err != nil {
			return err
		}
	}
	for _, rs := range rows {
		res.Hit = append(res.Hit, rs[0], rs[1])
	}
	return nil
}

// hitLane is one adapter's node of the L1 hit workload.
type hitLane struct {
	a     Adapter
	env   *Env
	n     Node
	src   *Source
	keys  []string
	slice hitSlice // the current mode's sums
}

// hitSlice sums a mode's turns.
type hitSlice struct {
	ops, errs     int64
	firstErr      error
	elapsed       time.Duration
	mallocs, heap uint64
	cmds, loads   int64
}

func (s *hitSlice) row(g int, parallel bool) HitRow {
	row := HitRow{Parallel: parallel, Goroutines: g, Ops: s.ops, Loads: s.loads}
	if s.ops > 0 {
		row.NsPerOp = float64(s.elapsed.Nanoseconds()) / float64(s.ops)
		row.AllocsOp = float64(s.mallocs) / float64(s.ops)
		row.BytesOp = float64(s.heap) / float64(s.ops)
		row.RedisOp = float64(max(s.cmds, 0)) / float64(s.ops)
	}
	return row
}

// openHitLane opens a node of a and warms its keys.
func (r *runner) openHitLane(ctx context.Context, a Adapter) (*hitLane, error) {
	l := &hitLane{a: a, src: NewSource(r.cfg.HitKeys, 0)}
	l.env = r.env(l.src)
	n, err := a.Open(ctx, l.env)
	if err != nil {
		r.finish(l.env)
		return nil, err
	}
	l.n = n
	l.keys = make([]string, r.cfg.HitKeys)
	for i := range l.keys {
		l.keys[i] = Key(i)
	}
	if err := warm(ctx, n, l.keys, a.Features().L1); err != nil {
		l.close(r)
		return nil, err
	}
	return l, nil
}

// close closes the lane's node and deletes its keys.
func (l *hitLane) close(r *runner) {
	if l.n != nil {
		_ = l.n.Close()
		l.n = nil
		r.finish(l.env)
	}
}

// turn measures d of reads with g goroutines and adds them to the lane's
// sums; it fails on ctx's end only (a failed read is counted).
func (l *hitLane) turn(ctx context.Context, r *runner, g int, d time.Duration) error {
	loads := l.src.Calls()
	cmds := commands(ctx, r.admin)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	start := time.Now()
	ops, errs, err := l.loop(ctx, g, d)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&m1)
	s := &l.slice
	s.cmds += commands(ctx, r.admin) - cmds - 1 // the INFO call itself
	s.loads += l.src.Calls() - loads
	s.ops, s.errs, s.elapsed = s.ops+ops, s.errs+errs, s.elapsed+elapsed
	s.mallocs += m1.Mallocs - m0.Mallocs
	s.heap += m1.TotalAlloc - m0.TotalAlloc
	if s.firstErr == nil {
		s.firstErr = err
	}
	return ctx.Err()
}

// loop reads the lane's keys in turn with g goroutines for d, each
// goroutine from its own place.
func (l *hitLane) loop(ctx context.Context, g int, d time.Duration) (ops, errs int64, firstErr error) {
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
				if _, err := l.n.Get(ctx, l.keys[i%len(l.keys)]); err != nil {
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
