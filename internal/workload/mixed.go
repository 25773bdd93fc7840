package workload

import (
	"context"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// mixed runs MixedWorkers goroutines on each of MixedNodes nodes for a
// warm-up of a third of MixedDuration, then for MixedDuration measured.
// Each operation picks a key by Zipf over MixedKeys; with probability
// WriteRatio it writes (the source commits a new version, then the node
// invalidates the key), else it reads through the cache.
//
// A read is stale when it returns a version older than one whose
// invalidation had returned before the read began; see MixedRow for how
// stale reads are told apart (the writer's node or another, within the
// cache's bound or not).
func (r *runner) mixed(ctx context.Context, a Adapter) (MixedRow, error) {
	row := MixedRow{Adapter: a.Name(), Nodes: r.cfg.MixedNodes, Workers: r.cfg.MixedNodes * r.cfg.MixedWorkers}
	if b, ok := a.(Bounded); ok {
		row.Bound = b.StaleBound()
	}
	src := NewSource(r.cfg.MixedKeys, r.cfg.MixedLoad)
	env := r.env(src)
	env.Count = true
	defer r.finish(env)
	nodes, closeAll, err := openNodes(ctx, a, env, r.cfg.MixedNodes)
	if err != nil {
		return row, err
	}
	defer closeAll()
	keys := make([]string, r.cfg.MixedKeys)
	for i := range keys {
		keys[i] = Key(i)
	}
	m := &mixedRun{
		cfg: r.cfg, src: src, nodes: nodes, keys: keys, bound: row.Bound, t0: time.Now(),
		inv: make([]atomic.Pointer[invalidation], len(keys)),
	}
	m.run(ctx, r.cfg.MixedDuration/3, 1)

	loads := src.Calls()
	start := time.Now()
	st := m.run(ctx, r.cfg.MixedDuration, 2)
	elapsed := time.Since(start)
	var l1 uint64
	for _, n := range nodes {
		l1 += n.L1Hits()
	}
	l1 -= m.l1Before

	row.Duration = elapsed
	row.Ops, row.Reads, row.Writes = st.reads+st.writes, st.reads, st.writes
	st.staleFigures(&row)
	row.Errors = st.errs
	row.OpsPerSec = float64(row.Ops) / elapsed.Seconds()
	calls := src.Calls() - loads
	row.LoadsPerSec = float64(calls) / elapsed.Seconds()
	if row.Reads > 0 {
		row.L1Ratio = float64(l1) / float64(row.Reads)
		row.LoadRatio = float64(calls) / float64(row.Reads)
		row.L2Ratio = max(0, 1-row.L1Ratio-row.LoadRatio)
	}
	slices.Sort(st.lat)
	row.P50, row.P99 = pct(st.lat, 50), pct(st.lat, 99)
	row.Measured = true
	if f := a.Features(); f.L1 && !f.CrossNode {
		row.Note = "writes reach only the writing node's L1"
	}
	if st.firstErr != nil {
		row.Note = strings.TrimPrefix(row.Note+"; first error: "+st.firstErr.Error(), "; ")
	}
	return row, nil
}

type mixedRun struct {
	cfg      Config
	src      *Source
	nodes    []Node
	keys     []string
	bound    time.Duration                  // MixedRow.Bound
	t0       time.Time                      // monotonic base of invalidation.at
	inv      []atomic.Pointer[invalidation] // per key, the newest invalidation that returned
	l1Before uint64                         // L1 hits of all nodes when the measured run began
}

// invalidation is a key's newest invalidation that returned: the version it
// was called for, when it returned, and the node that called it. It is
// replaced as a whole, so that a reader never pairs one write's version
// with another's time or node.
type invalidation struct {
	ver  uint64
	at   time.Duration // since mixedRun.t0, taken after Invalidate returned
	node int
}

// staleSample is how many stale reads a run keeps (MixedRow.StaleReads).
const staleSample = 8

type mixedStats struct {
	reads, writes, errs int64
	stale, staleWriter  int64 // stale reads; of them, on the writer's node
	staleOver           int64 // stale reads on other nodes older than the bound
	staleAge            time.Duration
	worst               []StaleRead // at most staleSample, worst first
	firstErr            error
	lat                 []time.Duration // every 8th read's latency
}

func (st *mixedStats) fail(err error) {
	st.errs++
	if st.firstErr == nil {
		st.firstErr = err
	}
}

// staleRead counts s; bound 0 means no bound.
func (st *mixedStats) staleRead(s StaleRead, bound time.Duration) {
	st.stale++
	switch {
	case s.Node == s.Writer:
		st.staleWriter++
	case bound > 0 && s.Age > bound:
		st.staleOver++
	}
	st.staleAge = max(st.staleAge, s.Age)
	st.keep(s)
}

// keep adds s to the sample if it is among the staleSample worst.
func (st *mixedStats) keep(s StaleRead) {
	i, _ := slices.BinarySearchFunc(st.worst, s, func(a, b StaleRead) int {
		if worse(a, b) {
			return -1
		}
		if worse(b, a) {
			return 1
		}
		return 0
	})
	if i >= staleSample {
		return
	}
	st.worst = slices.Insert(st.worst, i, s)
	if len(st.worst) > staleSample {
		st.worst = st.worst[:staleSample]
	}
}

// worse orders stale reads: on the writer's node first (a breach of
// read-your-writes), then the oldest.
func worse(a, b StaleRead) bool {
	aw, bw := a.Node == a.Writer, b.Node == b.Writer
	if aw != bw {
		return aw
	}
	return a.Age > b.Age
}

// staleFigures sets the stale-read figures of row.
func (st *mixedStats) staleFigures(row *MixedRow) {
	row.Stale, row.StaleWriter, row.StaleOver = st.stale, st.staleWriter, st.staleOver
	row.StaleAge, row.StaleReads = st.staleAge, st.worst
}

func (st *mixedStats) add(o mixedStats) {
	st.reads += o.reads
	st.writes += o.writes
	st.stale += o.stale
	st.staleWriter += o.staleWriter
	st.staleOver += o.staleOver
	st.staleAge = max(st.staleAge, o.staleAge)
	for _, s := range o.worst {
		st.keep(s)
	}
	st.errs += o.errs
	if st.firstErr == nil {
		st.firstErr = o.firstErr
	}
	st.lat = append(st.lat, o.lat...)
}

// run runs the workers for d; seed varies the key sequence between runs.
func (m *mixedRun) run(ctx context.Context, d time.Duration, seed uint64) mixedStats {
	m.l1Before = 0
	for _, n := range m.nodes {
		m.l1Before += n.L1Hits()
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var total mixedStats
	for ni := range m.nodes {
		for w := 0; w < m.cfg.MixedWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := m.worker(ctx, ni, rand.New(rand.NewPCG(seed, uint64(ni*1000+w))), &stop)
				mu.Lock()
				total.add(st)
				mu.Unlock()
			}()
		}
	}
	t := time.NewTimer(d)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	stop.Store(true)
	wg.Wait()
	return total
}

// worker runs operations on node ni until stop.
func (m *mixedRun) worker(ctx context.Context, ni int, rng *rand.Rand, stop *atomic.Bool) mixedStats {
	var st mixedStats
	n := m.nodes[ni]
	z := rand.NewZipf(rng, m.cfg.ZipfS, 1, uint64(len(m.keys)-1))
	for !stop.Load() {
		id := int(z.Uint64())
		key := m.keys[id]
		if rng.Float64() < m.cfg.WriteRatio {
			v := m.src.Write(id)
			if err := n.Invalidate(ctx, key); err != nil {
				st.fail(err)
				continue
			}
			m.invalidated(id, &invalidation{ver: v, at: time.Since(m.t0), node: ni})
			st.writes++
			continue
		}
		// The invalidation is read before the read starts: it returned
		// before the read began.
		last := m.inv[id].Load()
		start := time.Now()
		began := start.Sub(m.t0)
		it, err := n.Get(ctx, key)
		el := time.Since(start)
		st.reads++
		if st.reads&7 == 0 {
			st.lat = append(st.lat, el)
		}
		if err != nil {
			st.fail(err)
			continue
		}
		if last != nil && it.Version < last.ver {
			st.staleRead(StaleRead{
				Node: ni, Writer: last.node, Key: key, Got: it.Version, Want: last.ver,
				Age: began - last.at,
			}, m.bound)
		}
	}
	return st
}

// invalidated records inv as key id's newest invalidation unless a newer
// version's is there already.
func (m *mixedRun) invalidated(id int, inv *invalidation) {
	for {
		old := m.inv[id].Load()
		if old != nil && old.ver >= inv.ver {
			return
		}
		if m.inv[id].CompareAndSwap(old, inv) {
			return
		}
	}
}
