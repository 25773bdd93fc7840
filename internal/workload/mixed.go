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
// invalidation returned at least StaleGrace before the read began.
func (r *runner) mixed(ctx context.Context, a Adapter) (MixedRow, error) {
	row := MixedRow{Adapter: a.Name(), Nodes: r.cfg.MixedNodes, Workers: r.cfg.MixedNodes * r.cfg.MixedWorkers}
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
		cfg: r.cfg, src: src, nodes: nodes, keys: keys,
		invVer: make([]atomic.Uint64, len(keys)),
		invAt:  make([]atomic.Int64, len(keys)),
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
	row.Stale, row.StaleAge, row.Errors = st.stale, st.staleAge, st.errs
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
	invVer   []atomic.Uint64 // newest version whose invalidation returned
	invAt    []atomic.Int64  // when it returned (unix nanoseconds)
	l1Before uint64          // L1 hits of all nodes when the measured run began
}

type mixedStats struct {
	reads, writes, stale, errs int64
	staleAge                   time.Duration // the oldest invalidation a stale read missed
	firstErr                   error
	lat                        []time.Duration // every 8th read's latency
}

func (st *mixedStats) fail(err error) {
	st.errs++
	if st.firstErr == nil {
		st.firstErr = err
	}
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
	for ni, n := range m.nodes {
		for w := 0; w < m.cfg.MixedWorkers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				st := m.worker(ctx, n, rand.New(rand.NewPCG(seed, uint64(ni*1000+w))), &stop)
				mu.Lock()
				total.reads += st.reads
				total.writes += st.writes
				total.stale += st.stale
				total.staleAge = max(total.staleAge, st.staleAge)
				total.errs += st.errs
				if total.firstErr == nil {
					total.firstErr = st.firstErr
				}
				total.lat = append(total.lat, st.lat...)
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

func (m *mixedRun) worker(ctx context.Context, n Node, rng *rand.Rand, stop *atomic.Bool) mixedStats {
	var st mixedStats
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
			m.invAt[id].Store(time.Now().UnixNano())
			for {
				old := m.invVer[id].Load()
				if v <= old || m.invVer[id].CompareAndSwap(old, v) {
					break
				}
			}
			st.writes++
			continue
		}
		// invVer before invAt: a newer version implies its newer time.
		floor := m.invVer[id].Load()
		at := m.invAt[id].Load()
		start := time.Now()
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
		if age := start.UnixNano() - at; it.Version < floor && age >= int64(StaleGrace) {
			st.stale++
			st.staleAge = max(st.staleAge, time.Duration(age))
		}
	}
	return st
}
