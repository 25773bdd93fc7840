package chaos

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Scenarios in which Redis loses history or refuses writes (G11, G12). The
// checker is the same as for every scenario: no stale read beyond the
// bound, none on the writer, every key converged, no call failed.

// TestChaos_RestartFromSnapshot: Redis saves a snapshot, the workload goes
// on (its invalidations come after the snapshot), Redis is killed and
// started again on the same folder, so it loads the snapshot: the
// invalidations since are lost and the entries they deleted are back.
// Every node must treat the older state as a new epoch.
func TestChaos_RestartFromSnapshot(t *testing.T) {
	h := newHarnessOn(t, nil)
	total := ops(defaultOps)
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2; round++ {
			h.waitOps(ctx, total*(2*round-1)/5)
			if err := h.admin.Save(ctx).Err(); err != nil {
				h.t.Error(err)
				return
			}
			h.waitOps(ctx, total*2*round/5)
			from := time.Now()
			h.srv.Kill()
			h.srv.Restart(h.t)
			h.awaitTrusted(ctx, from)
		}
	})
	f := h.finish()
	h.wantNewEpochs(f, 2)
	if f.writes == 0 {
		t.Error("no write: nothing was lost by the restarts")
	}
}

// TestChaos_CrashWithAOF: Redis appends to its AOF and fsyncs every
// second; it is killed (SIGKILL) twice and starts again from the AOF. What
// it replays may lack the last acknowledged writes (an OS crash would lose
// up to a second of them): a new process means a new epoch.
func TestChaos_CrashWithAOF(t *testing.T) {
	h := newHarnessOn(t, []string{"--appendonly", "yes", "--appendfsync", "everysec"})
	total := ops(defaultOps)
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2; round++ {
			h.waitOps(ctx, total*round/3)
			from := time.Now()
			h.srv.Kill()
			h.srv.Restart(h.t)
			h.awaitTrusted(ctx, from)
		}
	})
	f := h.finish()
	h.wantNewEpochs(f, 2)
}

// TestChaos_FlushDB empties the database (FLUSHDB) twice while the
// workload runs.
func TestChaos_FlushDB(t *testing.T) {
	h := newHarness(t)
	total := ops(defaultOps)
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2; round++ {
			h.waitOps(ctx, total*round/3)
			old := h.nodes[0].cache.Stats().Bus.Epoch
			from := time.Now()
			if err := h.admin.FlushDB(ctx).Err(); err != nil {
				h.t.Error(err)
			}
			h.awaitEpoch(ctx, from, old)
		}
	})
	f := h.finish()
	h.wantNewEpochs(f, 2)
}

// TestChaos_NoEvictionOOM: Redis runs with maxmemory and noeviction, and
// another tenant fills it until it refuses writes, twice, freeing the
// memory in between. Invalidations go on working (they delete more than
// they add); puts are refused and loads answered uncached.
func TestChaos_NoEvictionOOM(t *testing.T) {
	h := newHarnessOn(t, []string{"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"})
	total := ops(defaultOps)
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2; round++ {
			h.waitOps(ctx, total*round/3)
			n := h.fillUntilRefused(ctx, "tenant:"+strconv.Itoa(round)+":")
			sleep(ctx, 3*trustWindow) // writes, and the loads they cause, meet a full Redis
			h.dropFill(ctx, "tenant:"+strconv.Itoa(round)+":", n)
		}
	})
	f := h.finish()
	if f.refusedWrites == 0 {
		t.Error("no put was refused: Redis never ran out of memory during the workload")
	}
}

// TestChaos_AllKeysLRU: Redis runs with maxmemory and allkeys-lru while
// another tenant keeps writing large values: Redis evicts keys of every
// kind, entries, dependency sets, tombstones and the log included. Evicted
// keys must yield misses, never stale hits.
func TestChaos_AllKeysLRU(t *testing.T) {
	h := newHarnessOn(t, []string{"--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "3"})
	total := ops(defaultOps)
	var evicted int64
	h.run(total, func(ctx context.Context) {
		h.waitOps(ctx, total/5)
		before := h.evicted(ctx)
		big := strings.Repeat("x", 20_000)
		for i := 0; h.ops.Load() < int64(total)*4/5 && ctx.Err() == nil; i++ {
			if err := h.admin.Set(ctx, "tenant:"+strconv.Itoa(i), big, 0).Err(); err != nil && ctx.Err() == nil {
				h.t.Errorf("tenant write: %v", err)
				return
			}
			time.Sleep(200 * time.Microsecond)
		}
		evicted = h.evicted(ctx) - before
	})
	h.finish()
	fmtFigure(t, "evicted_keys", evicted)
	if evicted == 0 {
		t.Error("Redis evicted nothing: the fault did not take effect")
	}
}

// awaitEpoch waits until every node trusts L1 in another epoch than old,
// or ctx ends, and records how long that took since from.
func (h *harness) awaitEpoch(ctx context.Context, from time.Time, old string) {
	for _, n := range h.nodes {
		for ctx.Err() == nil {
			if b := n.cache.Stats().Bus; b.Trusted && b.Epoch != old {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
	h.awaitTrusted(ctx, from)
}

// wantNewEpochs fails the test unless every node went through at least
// want epoch changes.
func (h *harness) wantNewEpochs(f figures, want int) {
	h.t.Helper()
	if f.epochs < uint64(want) {
		h.t.Errorf("%d epoch changes, want at least %d", f.epochs, want)
	}
}

// fillUntilRefused writes 20 KB values under prefix until Redis refuses
// one for memory, and returns how many it wrote.
func (h *harness) fillUntilRefused(ctx context.Context, prefix string) int {
	big := strings.Repeat("x", 20_000)
	for i := 0; ; i++ {
		err := h.admin.Set(ctx, prefix+strconv.Itoa(i), big, 0).Err()
		if err != nil {
			if !strings.HasPrefix(err.Error(), "OOM") && ctx.Err() == nil {
				h.t.Errorf("filling Redis: %v", err)
			}
			return i
		}
		if i > 10_000 {
			h.t.Error("Redis never refused a write")
			return i
		}
	}
}

// dropFill deletes what fillUntilRefused wrote.
func (h *harness) dropFill(ctx context.Context, prefix string, n int) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for start := 0; start < n; start += 100 {
		wg.Add(1)
		go func(start int) {
			defer wg.Done()
			keys := make([]string, 0, 100)
			for i := start; i < min(start+100, n); i++ {
				keys = append(keys, prefix+strconv.Itoa(i))
			}
			if err := h.admin.Del(ctx, keys...).Err(); err != nil {
				failed.Add(1)
			}
		}(start)
	}
	wg.Wait()
	if failed.Load() > 0 && ctx.Err() == nil {
		h.t.Error("could not free the memory")
	}
}

// evicted is Redis's count of evicted keys.
func (h *harness) evicted(ctx context.Context) int64 {
	info := h.admin.Info(ctx, "stats").Val()
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "evicted_keys:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

func fmtFigure(t *testing.T, name string, v int64) {
	t.Logf("%s=%d", name, v)
}
