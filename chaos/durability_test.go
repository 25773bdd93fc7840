package chaos

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/redistest"
)

// Scenarios in which Redis loses history or refuses writes (G11, G12). The
// checker is the same as for every scenario: no stale read beyond the
// bound, none on the writer, every key converged, no call failed.

// TestChaos_RestartFromSnapshot: Redis saves a snapshot, the workload goes
// on (its invalidations come after the snapshot), Redis is killed and
// started again on the same folder, so it loads the snapshot: the
// invalidations since are lost and the entries they deleted are back.
// Every node must treat the older state as a new epoch. On Cluster every
// master saves, then every master is killed and loads its snapshot.
func TestChaos_RestartFromSnapshot(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		h := newHarness(t, topo)
		total := h.size(defaultOps)
		h.run(total, func(ctx context.Context) {
			for round := 1; round <= 2; round++ {
				h.waitOps(ctx, total*(2*round-1)/5)
				if err := h.eachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
					return c.Save(ctx).Err()
				}); err != nil {
					h.t.Error(err)
					return
				}
				h.waitOps(ctx, total*2*round/5)
				h.crashRedis(ctx, 0)
			}
		})
		f := h.finish()
		h.wantNewEpochs(f, 2)
		if f.writes == 0 {
			t.Error("no write: nothing was lost by the restarts")
		}
	})
}

// TestChaos_CrashWithAOF: Redis appends to its AOF and fsyncs every
// second; it is killed (SIGKILL) twice and starts again from the AOF. What
// it replays may lack the last acknowledged writes (an OS crash would lose
// up to a second of them): a new process means a new epoch. On Cluster
// every master runs so and is killed each time.
func TestChaos_CrashWithAOF(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		h := newHarnessOn(t, redisSetup{topo: topo, args: []string{"--appendonly", "yes", "--appendfsync", "everysec"}})
		total := h.size(defaultOps)
		h.run(total, func(ctx context.Context) {
			for round := 1; round <= 2; round++ {
				h.waitOps(ctx, total*round/3)
				h.crashRedis(ctx, 0)
			}
		})
		f := h.finish()
		h.wantNewEpochs(f, 2)
	})
}

// TestChaos_FlushDB empties the database (FLUSHDB) twice while the
// workload runs; on Cluster, every master's, all at once.
func TestChaos_FlushDB(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		h := newHarness(t, topo)
		total := h.size(defaultOps)
		h.run(total, func(ctx context.Context) {
			for round := 1; round <= 2; round++ {
				h.waitOps(ctx, total*round/3)
				old := h.nodes[0].cache.Stats().Bus.Epoch
				from := time.Now()
				if err := h.eachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
					return c.FlushDB(ctx).Err()
				}); err != nil {
					h.t.Error(err)
				}
				h.awaitEpoch(ctx, from, old)
			}
		})
		f := h.finish()
		h.wantNewEpochs(f, 2)
	})
}

// TestChaos_NoEvictionOOM: Redis runs with maxmemory and noeviction, and
// another tenant fills it until it refuses writes, twice, freeing the
// memory in between. Invalidations go on working (they delete more than
// they add); puts are refused and loads answered uncached. On Cluster the
// tenant fills every master.
func TestChaos_NoEvictionOOM(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		h := newHarnessOn(t, redisSetup{topo: topo, args: []string{"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"}})
		total := h.size(defaultOps)
		h.run(total, func(ctx context.Context) {
			for round := 1; round <= 2; round++ {
				h.waitOps(ctx, total*round/3)
				fill := h.fillUntilRefused(ctx, "tenant:"+strconv.Itoa(round)+":")
				sleep(ctx, 3*trustWindow) // writes, and the loads they cause, meet a full Redis
				h.dropFill(ctx, fill)
			}
		})
		f := h.finish()
		if f.refusedWrites == 0 {
			t.Error("no put was refused: Redis never ran out of memory during the workload")
		}
	})
}

// TestChaos_AllKeysLRU: Redis runs with maxmemory and allkeys-lru while
// another tenant keeps writing large values: Redis evicts keys of every
// kind, entries, dependency sets, tombstones and the log included. Evicted
// keys must yield misses, never stale hits. On Cluster the tenant's keys
// spread over every master.
func TestChaos_AllKeysLRU(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		// A cluster node holds more than a single server before any key
		// (the slot map, the cluster bus, every node's connections): at
		// 4mb it has nothing left to evict, and refuses writes instead.
		limit := "4mb"
		if topo == cluster {
			limit = "8mb"
		}
		h := newHarnessOn(t, redisSetup{topo: topo, args: []string{"--maxmemory", limit, "--maxmemory-policy", "allkeys-lru", "--maxmemory-samples", "3"}})
		total := h.size(defaultOps)
		var evicted int64
		h.run(total, func(ctx context.Context) {
			h.waitOps(ctx, total/5)
			before := h.evicted(ctx)
			big := strings.Repeat("x", 20_000)
			// Until the workload is nearly done and Redis has evicted for a
			// while (the workload keeps running meanwhile), or 20k writes.
			evicting := 0
			for i := 0; (h.ops.Load() < int64(total)*4/5 || evicting < 200) && i < 20_000 && ctx.Err() == nil; i++ {
				if err := h.admin.Set(ctx, "tenant:"+strconv.Itoa(i), big, 0).Err(); err != nil && ctx.Err() == nil {
					h.t.Errorf("tenant write: %v", err)
					return
				}
				if evicting > 0 || i%50 == 49 && h.evicted(ctx) > before {
					evicting++
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
	})
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

// filled is what fillUntilRefused wrote on one master: keys prefix0 to
// prefix<n-1>, all in one slot of that master on Cluster.
type filled struct {
	c      *redis.Client
	prefix string
	n      int
}

// fillUntilRefused writes 20 KB values under prefix on every master until
// it refuses one for memory, and returns what it wrote.
func (h *harness) fillUntilRefused(ctx context.Context, prefix string) []filled {
	var mu sync.Mutex
	var out []filled
	err := h.eachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		p, err := h.ownPrefix(ctx, c, prefix)
		if err != nil {
			return err
		}
		n := h.fillOne(ctx, c, p)
		mu.Lock()
		out = append(out, filled{c: c, prefix: p, n: n})
		mu.Unlock()
		return nil
	})
	if err != nil && ctx.Err() == nil {
		h.t.Errorf("filling Redis: %v", err)
	}
	return out
}

// ownPrefix returns prefix on a standalone server; on a cluster master c, it
// puts before it a hash tag of a slot that c serves, so that c takes every
// key that starts with it.
func (h *harness) ownPrefix(ctx context.Context, c *redis.Client, prefix string) (string, error) {
	if h.rc == nil {
		return prefix, nil
	}
	for i := 0; i < 1000; i++ {
		p := "{t" + strconv.Itoa(i) + "}" + prefix
		err := c.Exists(ctx, p).Err()
		if err == nil {
			return p, nil
		}
		if !strings.HasPrefix(err.Error(), "MOVED") {
			return "", err
		}
	}
	return "", fmt.Errorf("%s serves no slot", c.Options().Addr)
}

func (h *harness) fillOne(ctx context.Context, c *redis.Client, prefix string) int {
	big := strings.Repeat("x", 20_000)
	for i := 0; ; i++ {
		err := c.Set(ctx, prefix+strconv.Itoa(i), big, 0).Err()
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
func (h *harness) dropFill(ctx context.Context, fill []filled) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, f := range fill {
		for start := 0; start < f.n; start += 100 {
			wg.Add(1)
			go func(start int) {
				defer wg.Done()
				keys := make([]string, 0, 100)
				for i := start; i < min(start+100, f.n); i++ {
					keys = append(keys, f.prefix+strconv.Itoa(i))
				}
				if err := f.c.Del(ctx, keys...).Err(); err != nil {
					failed.Add(1)
				}
			}(start)
		}
	}
	wg.Wait()
	if failed.Load() > 0 && ctx.Err() == nil {
		h.t.Error("could not free the memory")
	}
}

// evicted is Redis's count of evicted keys, summed over the masters.
func (h *harness) evicted(ctx context.Context) int64 {
	var n atomic.Int64
	_ = h.eachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		info := c.Info(ctx, "stats").Val()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "evicted_keys:"); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				n.Add(x)
			}
		}
		return nil
	})
	return n.Load()
}

func fmtFigure(t *testing.T, name string, v int64) {
	t.Logf("%s=%d", name, v)
}

// TestChaos_ClusterFailover runs on Cluster only (a standalone Redis has no
// replica to promote here; Sentinel is another deployment). Every master
// has a replica. Twice while the workload runs, one master's replica is
// made to lag (it reads the replication stream but applies none of it),
// the workload invalidates for a while, and the replica takes over (CLUSTER
// FAILOVER TAKEOVER) without what it missed: the invalidations since the
// lag are lost, and the entries and index entries they deleted are back.
// The first time it is the master of the control slot (sequence, epoch,
// log), the second time another master (dependency sets, tombstones,
// entries). Every node must treat the promoted replica's history as a new
// epoch, as after a restart (G11).
func TestChaos_ClusterFailover(t *testing.T) {
	h := newHarnessOn(t, redisSetup{topo: cluster, replicas: 1})
	total := h.size(defaultOps)
	var promoted []string
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2 && ctx.Err() == nil; round++ {
			h.waitOps(ctx, total*round/3)
			m := h.failoverVictim(round == 1)
			r := h.rc.ReplicasOf(h.t, m)
			if len(r) == 0 {
				h.t.Errorf("round %d: master %s has no replica", round, m.Addr())
				return
			}
			resume := h.rc.Lag(h.t, r[0])
			sleep(ctx, 3*trustWindow) // invalidations the replica misses
			from := time.Now()
			h.rc.Takeover(h.t, r[0])
			resume()
			promoted = append(promoted, m.Addr()+" -> "+r[0].Addr())
			h.awaitTrusted(ctx, from)
		}
	})
	f := h.finish()
	t.Logf("failovers: %v", promoted)
	if len(promoted) < 2 {
		t.Errorf("%d failovers, want 2", len(promoted))
	}
	h.wantNewEpochs(f, 2)
}

// failoverVictim returns the master of the control slot or, if control is
// false, another master that has a replica.
func (h *harness) failoverVictim(control bool) *redistest.Server {
	c := h.rc.MasterFor(h.t, "{"+namespace+"}:seq")
	if control {
		return c
	}
	for _, s := range h.rc.Nodes() {
		if s != c && s.Running() && len(h.rc.ReplicasOf(h.t, s)) > 0 {
			return s
		}
	}
	h.t.Fatal("no master with a replica but the control slot's")
	return nil
}
