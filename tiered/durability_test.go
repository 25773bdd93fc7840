package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// versioned returns a loader of row id of d that records dep.
func versioned(d *db, id string, dep deps.Dep) matroska.LoadFunc[int] {
	return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(dep)
		return d.get(id), nil
	}
}

// TestG11_RestartFromSnapshot: Redis saves a snapshot, an invalidation is
// acknowledged, Redis crashes and comes back from the snapshot, where the
// entry the invalidation deleted is back. No node may serve it, from L2 or
// from L1, whichever reads first.
func TestG11_RestartFromSnapshot(t *testing.T) {
	srv := redistest.Start(t)
	a := newNode(t, srv.Client(t))
	b := newNode(t, srv.Client(t))
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1") // version 1
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep)); err != nil || v != 1 {
			t.Fatalf("first load = %d, %v", v, err)
		}
	}
	rdb := srv.Client(t)
	if err := rdb.Save(bg()).Err(); err != nil {
		t.Fatal(err)
	}
	rows.bump("1") // version 2, committed, then invalidated
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "B applies the invalidation", func() bool { return !b.InL1("k") })
	srv.Kill()
	srv.Restart(t) // loads the snapshot: the entry of version 1 is back
	if n, _ := rdb.Exists(bg(), "t:e:k").Result(); n != 1 {
		t.Fatal("the snapshot did not bring the entry back: the test proves nothing")
	}
	for i, n := range []*tiered.Cache{b, a, b, a} {
		v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep))
		if err != nil && !errors.Is(err, matroska.ErrUnavailable) {
			t.Fatalf("read %d: %v", i, err)
		}
		if v != 2 {
			t.Fatalf("read %d after the restart served version %d, want 2 (an invalidated entry came back)", i, v)
		}
	}
	waitFor(t, 5*time.Second, "both nodes trust L1 again", func() bool { return a.Trusted() && b.Trusted() })
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
			t.Fatalf("read once trusted = %d, %v; want 2", v, err)
		}
		if s := n.Stats(); s.Bus.Epoch == "" {
			t.Fatalf("no epoch: %+v", s.Bus)
		}
	}
	if a.Stats().Bus.Epoch != b.Stats().Bus.Epoch {
		t.Fatalf("nodes on different epochs: %q, %q", a.Stats().Bus.Epoch, b.Stats().Bus.Epoch)
	}
}

// TestG11_RestartFromSnapshotNewNode: as TestG11_RestartFromSnapshot, but
// the nodes that saw the invalidation are gone (a deploy restarted them
// too): the node that reads first has seen nothing to compare with. Redis
// itself must tell that its history is not the one it served.
func TestG11_RestartFromSnapshotNewNode(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1")
	func() {
		a, err := tiered.New(testConfig(srv.Client(t)))
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 1 {
			t.Fatalf("first load = %d, %v", v, err)
		}
		if err := rdb.Save(bg()).Err(); err != nil {
			t.Fatal(err)
		}
		rows.bump("1")
		if err := a.Invalidate(bg(), dep); err != nil {
			t.Fatal(err)
		}
	}()
	srv.Kill()
	srv.Restart(t)
	if n, _ := rdb.Exists(bg(), "t:e:k").Result(); n != 1 {
		t.Fatal("the snapshot did not bring the entry back: the test proves nothing")
	}
	c := newNode(t, srv.Client(t))
	if v, err := matroska.GetOrLoad(bg(), c, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
		t.Fatalf("a new node read %d, %v after the restart; want 2 (an invalidated entry came back)", v, err)
	}
}

// TestG11_ForkedSequenceReusesNumbers: node A is cut off while Redis comes
// back from an older snapshot and node B makes enough invalidations to
// carry the sequence past A's last one: the numbers A saw now name other
// invalidations, one of which covers the entry A holds in L1. When A is
// back it must not serve that entry. On Cluster every master saves and
// restarts from its snapshot.
func TestG11_ForkedSequenceReusesNumbers(t *testing.T) {
	forTopologies(t, testG11ForkedSequence)
}

func testG11ForkedSequence(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 1)
	b := cl.nodes[0]
	rdb, p := cl.proxied(t)
	a := newNode(t, rdb)
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1")
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 1 {
		t.Fatalf("first load = %d, %v", v, err)
	}
	servers := []*redistest.Server{cl.srv}
	if cl.rc != nil {
		servers = cl.rc.Servers
	}
	for _, s := range servers {
		s.Save(t)
	}
	const lost = 5
	for i := range lost {
		if err := b.Invalidate(bg(), deps.Id("other", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "A applies the invalidations", func() bool { return a.Stats().Bus.Seq >= b.Stats().Bus.Seq })
	if !a.InL1("k") {
		t.Fatal("A does not hold k in L1: the test proves nothing")
	}
	p.Refuse(true)
	p.CutAll()
	waitFor(t, 2*time.Second, "A stops trusting L1", func() bool { return !a.Trusted() })
	for _, s := range servers {
		s.Kill()
	}
	for _, s := range servers {
		s.Restart(t)
	}
	rows.bump("1")
	waitFor(t, 20*time.Second, "B invalidates on the restarted Redis", func() bool { // reuses a number A saw
		return b.Invalidate(bg(), dep) == nil
	})
	for i := range lost {
		if err := b.Invalidate(bg(), deps.Id("more", i)); err != nil {
			t.Fatal(err)
		}
	}
	p.Refuse(false)
	waitFor(t, 10*time.Second, "A trusts L1 again", a.Trusted)
	if it, ok := a.Peek("k"); ok {
		t.Fatalf("A serves %v from L1, which an invalidation after the fork covers", it.Value)
	}
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
		t.Fatalf("A read %d, %v; want 2", v, err)
	}
}

// TestG11_SequenceWentBackInPlace: the same Redis process is handed an
// older state (a restore by hand: the run_id does not change). A node that
// has applied a later sequence must not serve what the lost invalidation
// deleted; its next read tells Redis, which starts a new epoch.
func TestG11_SequenceWentBackInPlace(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	a := newNode(t, srv.Client(t))
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1")
	if _, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil {
		t.Fatal(err)
	}
	saved := dumpAll(t, rdb, "t:*")
	rows.bump("1")
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "A applies its invalidation", func() bool { return a.Stats().Bus.Seq > 0 })
	restoreAll(t, rdb, saved)
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
		t.Fatalf("read after the state went back = %d, %v; want 2", v, err)
	}
	waitFor(t, 5*time.Second, "A trusts L1 again", a.Trusted)
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
		t.Fatalf("read once trusted = %d, %v; want 2", v, err)
	}
}

// dumpAll returns DUMPs of every key matching pattern.
func dumpAll(t *testing.T, rdb *redis.Client, pattern string) map[string]string {
	t.Helper()
	keys, err := rdb.Keys(bg(), pattern).Result()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k] = rdb.Dump(bg(), k).Val()
	}
	return out
}

// restoreAll replaces every key matching the keys of saved's pattern with
// saved's.
func restoreAll(t *testing.T, rdb *redis.Client, saved map[string]string) {
	t.Helper()
	if err := rdb.FlushAll(bg()).Err(); err != nil {
		t.Fatal(err)
	}
	for k, v := range saved {
		if err := rdb.Restore(bg(), k, 0, v).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestG12_NoEvictionOOM: Redis at maxmemory with noeviction refuses
// writes that need memory. Invalidations still remove what they cover,
// loads are answered uncached (and counted), a Set reports that its value
// was not stored and removes the old one, and no node serves an old value.
func TestG12_NoEvictionOOM(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "3mb", "--maxmemory-policy", "noeviction")
	rdb := srv.Client(t)
	a := newNode(t, srv.Client(t))
	b := newNode(t, srv.Client(t))
	big := strings.Repeat("x", 20_000)
	load := func(i int) matroska.LoadFunc[string] {
		return func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			rec.Depend(deps.Id("row", i))
			return fmt.Sprint(i, big), nil
		}
	}
	// Fill Redis until it refuses.
	var stored int
	for i := 0; a.Stats().RefusedWrites == 0; i++ {
		if i > 2000 {
			t.Fatal("Redis never ran out of memory")
		}
		if _, err := matroska.GetOrLoad(bg(), a, "k"+strconv.Itoa(i), load(i)); err != nil {
			t.Fatalf("GetOrLoad at maxmemory: %v", err)
		}
		stored = i
	}
	if err := rdb.Set(bg(), "probe", big, 0).Err(); err == nil || !strings.HasPrefix(err.Error(), "OOM") {
		t.Fatalf("Redis is not refusing writes: %v", err)
	}
	// Every node holds k0 (B from Redis).
	if _, err := matroska.GetOrLoad(bg(), b, "k0", load(0)); err != nil {
		t.Fatal(err)
	}
	// An invalidation at maxmemory works and reaches every node.
	if err := a.Invalidate(bg(), deps.Id("row", 0)); err != nil {
		t.Fatalf("Invalidate at maxmemory: %v", err)
	}
	if n, _ := rdb.Exists(bg(), "t:e:k0").Result(); n != 0 {
		t.Fatal("the invalidated entry is still in Redis")
	}
	waitFor(t, 2*time.Second, "B drops k0", func() bool { return !b.InL1("k0") })
	// Loads at maxmemory answer from the loader, uncached.
	before := b.Stats().RefusedWrites
	var n atomic.Int64
	for range 3 {
		v, err := matroska.GetOrLoad(bg(), b, "fresh", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			n.Add(1)
			rec.Depend(deps.Id("fresh", 1))
			return big + big, nil
		})
		if err != nil || v != big+big {
			t.Fatalf("GetOrLoad at maxmemory = %d bytes, %v", len(v), err)
		}
	}
	if b.Stats().RefusedWrites == before || n.Load() < 2 {
		t.Fatalf("refused writes %d -> %d, loads %d: the puts were not refused", before, b.Stats().RefusedWrites, n.Load())
	}
	// A Set at maxmemory: the value is not stored, the old one is gone
	// everywhere.
	last := "k" + strconv.Itoa(stored-1)
	if _, err := matroska.GetOrLoad(bg(), b, last, load(stored-1)); err != nil {
		t.Fatal(err)
	}
	err := a.Set(bg(), last, big+big+big)
	if !errors.Is(err, matroska.ErrRefused) {
		t.Fatalf("Set at maxmemory = %v, want ErrRefused", err)
	}
	if n, _ := rdb.Exists(bg(), "t:e:"+last).Result(); n != 0 {
		t.Fatal("the old value of a refused Set is still in Redis")
	}
	waitFor(t, 2*time.Second, "B drops the old value", func() bool { return !b.InL1(last) })
	// Memory comes back: writes work again.
	if err := rdb.ConfigSet(bg(), "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := a.Set(bg(), last, "small"); err != nil {
		t.Fatalf("Set after memory came back: %v", err)
	}
}

// TestG12_EvictedTombstone: under an evicting policy Redis may evict the
// tombstone of an invalidation that overtook a load. The put of that load
// must still be refused: once keys have been evicted, a put marked before
// the current sequence is refused (G1); one marked at it still lands.
//
// The policy is volatile-lru, which evicts tombstones (they have a TTL)
// and the junk below, but not the sequence, the epoch or the guard: under
// allkeys-lru Redis sometimes evicted one of those too (its LRU clock has
// a resolution of a second, so every key of the test looks as old), which
// starts a new epoch, a case of its own (TestG11_*), and left the last
// load uncached or refused.
func TestG12_EvictedTombstone(t *testing.T) {
	srv := redistest.Start(t, "--maxmemory", "3mb", "--maxmemory-policy", "volatile-lru")
	rdb := srv.Client(t)
	a := newNode(t, srv.Client(t))
	dep := deps.Id("article", 1)
	started, release, wait := blockedLoad(t, a, "k", dep, 1, nil)
	<-started
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	// Redis evicts keys, and among them the tombstone.
	tomb := "t:i:" + dep.String()
	if n, _ := rdb.Exists(bg(), tomb).Result(); n != 1 {
		t.Fatal("no tombstone: the test proves nothing")
	}
	junk := strings.Repeat("j", 20_000)
	for i := 0; evictedKeys(t, rdb) == 0; i++ {
		if i > 10_000 {
			t.Fatal("Redis evicted nothing")
		}
		if err := rdb.Set(bg(), "junk"+strconv.Itoa(i), junk, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	rdb.Del(bg(), tomb) // the unlucky key: evicted
	close(release)
	if v, err := wait(); err != nil || v != 1 {
		t.Fatalf("blocked load = %d, %v", v, err)
	}
	if n, _ := rdb.Exists(bg(), "t:e:k").Result(); n != 0 {
		t.Fatal("a load overtaken by an invalidation was stored after its tombstone was evicted")
	}
	if a.Stats().RefusedPuts == 0 {
		t.Fatal("the put was not counted as refused")
	}
	// A load that no invalidation overtook is stored.
	var n atomic.Int64
	refused, ev := a.Stats().RefusedPuts, evictedKeys(t, rdb)
	if _, err := matroska.GetOrLoad(bg(), a, "k2", counted(&n, 2, dep)); err != nil {
		t.Fatal(err)
	}
	if n, _ := rdb.Exists(bg(), "t:e:k2").Result(); n != 1 {
		t.Fatalf("a fresh load was not stored under memory pressure: refused %d -> %d, evicted %d -> %d", refused, a.Stats().RefusedPuts, ev, evictedKeys(t, rdb))
	}
}

func evictedKeys(t *testing.T, rdb *redis.Client) int {
	t.Helper()
	info, err := rdb.Info(bg(), "stats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "evicted_keys:"); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	t.Fatal("no evicted_keys in INFO stats")
	return 0
}

// TestResetTakesNoMarkAcrossEpochs: while the bus resets L1 to a new epoch,
// a loader that consumes an L1 value (read in the old epoch) must not pair
// the new epoch with the old epoch's applied sequence: such a mark would
// compare the old value against the new epoch's tombstones, which number
// other invalidations, and store it although one of them covers it.
func TestResetTakesNoMarkAcrossEpochs(t *testing.T) {
	srv := redistest.Start(t)
	p := newProxy(t, srv.Addr())
	a := newNode(t, proxyClient(t, srv, p))
	b := newNode(t, srv.Client(t))
	rdb := srv.Client(t)
	inner := deps.Id("inner", 1)
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), a, "inner", counted(&n, 1, inner)); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // A's applied sequence: 3 in the old epoch
		if err := a.Invalidate(bg(), deps.Id("old", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 2*time.Second, "A applies its invalidations", func() bool { return a.Stats().Bus.Seq == 3 })
	if !a.InL1("inner") {
		t.Fatal("A does not hold inner: the test proves nothing")
	}
	var ran atomic.Bool
	a.SetResetHook(func() {
		if ran.Swap(true) {
			return
		}
		// The moment of the reset: the new epoch is known, L1 still holds
		// the old epoch's entries.
		_, _ = matroska.GetOrLoad(bg(), a, "outer", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			return matroska.GetOrLoad(ctx, a, "inner", counted(&n, 1, inner))
		})
	})
	p.Freeze()
	if err := rdb.FlushAll(bg()).Err(); err != nil {
		t.Fatal(err)
	}
	// In the new epoch inner's dependency is invalidated at 1, then two
	// more: the new sequence reaches A's old one.
	for _, d := range []deps.Dep{inner, deps.Id("new", 1), deps.Id("new", 2)} {
		if err := b.Invalidate(bg(), d); err != nil {
			t.Fatal(err)
		}
	}
	p.Thaw()
	waitFor(t, 5*time.Second, "A resets to the new epoch", ran.Load)
	if v, err := rdb.Get(bg(), "t:e:outer").Result(); err == nil {
		t.Fatalf("an entry built from an L1 value of the old epoch was stored in the new one: %q", v)
	}
}

// TestG11_ClusterFailoverToLaggingReplica: on Redis Cluster, the master of
// an entry's slot (which also holds the tombstone of its dependency) fails
// over to a replica that missed the invalidation: the entry is back, its
// tombstone is not. No node may serve it.
func TestG11_ClusterFailoverToLaggingReplica(t *testing.T) {
	rc := redistest.StartClusterReplicas(t, 3, 1)
	a := newNode(t, rc.Client(t))
	b := newNode(t, rc.Client(t))
	rows := newDB()
	dep := deps.Id("article", 1)
	// The key's hash tag puts the entry in the slot of the dependency's
	// tombstone and set: the failover loses all three together.
	key := "{" + dep.String() + "}k"
	rows.bump("1")
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, key, versioned(rows, "1", dep)); err != nil || v != 1 {
			t.Fatalf("first load = %d, %v", v, err)
		}
	}
	m := rc.MasterFor(t, "t:e:"+key)
	replica := rc.ReplicasOf(t, m)[0]
	admin := rc.Client(t)
	if n, err := m.Client(t).Do(bg(), "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("the replica did not acknowledge the entry: %d, %v", n, err)
	}
	resume := rc.Lag(t, replica)
	rows.bump("1")
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	if n, _ := admin.Exists(bg(), "t:e:"+key).Result(); n != 0 {
		t.Fatal("the invalidation did not delete the entry")
	}
	rc.Takeover(t, replica)
	resume()
	if n, _ := admin.Exists(bg(), "t:e:"+key).Result(); n != 1 {
		t.Fatal("the failover did not bring the entry back: the test proves nothing")
	}
	c := newNode(t, rc.Client(t))
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		for _, n := range []*tiered.Cache{c, b, a} {
			v, err := matroska.GetOrLoad(bg(), n, key, versioned(rows, "1", dep))
			if err != nil && !errors.Is(err, matroska.ErrUnavailable) {
				t.Fatalf("read %d: %v", i, err)
			}
			if err == nil && v != 2 {
				t.Fatalf("read %d after the failover served version %d, want 2 (an invalidated entry came back)", i, v)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range []*tiered.Cache{a, b, c} {
		if !n.Trusted() {
			t.Fatal("a node does not trust L1 three seconds after the failover")
		}
	}
}

// TestG12_RefusedInvalidationHoldsEveryNode: Redis refuses writes without
// changing anything (here too few replicas for min-replicas-to-write; the
// same holds for a read-only replica or failing persistence), so an
// invalidation cannot delete what it covers. The writer gets ErrRefused,
// and no node serves the entries it covered, from L1 or Redis, until
// Redis takes writes again and a new epoch begins.
func TestG12_RefusedInvalidationHoldsEveryNode(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	a := newNode(t, srv.Client(t))
	b := newNode(t, srv.Client(t))
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1")
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep)); err != nil || v != 1 {
			t.Fatalf("first load = %d, %v", v, err)
		}
	}
	if !b.InL1("k") {
		t.Fatal("B does not hold k: the test proves nothing")
	}
	if err := rdb.ConfigSet(bg(), "min-replicas-to-write", "1").Err(); err != nil {
		t.Fatal(err)
	}
	rows.bump("1")
	if err := a.Invalidate(bg(), dep); !errors.Is(err, matroska.ErrRefused) {
		t.Fatalf("Invalidate while Redis refuses writes = %v, want ErrRefused", err)
	}
	if n, _ := rdb.Exists(bg(), "t:e:k").Result(); n != 1 {
		t.Fatal("the refused invalidation deleted the entry: the test proves nothing")
	}
	waitFor(t, 2*time.Second, "B hears of the refused invalidation", func() bool { return b.Stats().Holds > 0 })
	for i, n := range []*tiered.Cache{a, b, a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
			t.Fatalf("read %d while Redis refuses writes = %d, %v; want 2 (the invalidation was refused, not undone)", i, v, err)
		}
	}
	if err := rdb.ConfigSet(bg(), "min-replicas-to-write", "0").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both nodes trust L1 again", func() bool {
		return a.Trusted() && b.Trusted() && a.Stats().Bus.Epochs > 0 && b.Stats().Bus.Epochs > 0
	})
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
			t.Fatalf("read after Redis took writes again = %d, %v; want 2", v, err)
		}
	}
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatalf("Invalidate once Redis takes writes: %v", err)
	}
}

// TestWithoutINFO: a Redis that renames INFO away (some managed services
// do) still runs the cache: the history guard falls back to the sequence,
// and puts that raced an invalidation are refused as if keys were being
// evicted.
func TestWithoutINFO(t *testing.T) {
	srv := redistest.Start(t, "--rename-command", "INFO", "")
	a := newNode(t, srv.Client(t))
	rows := newDB()
	dep := deps.Id("article", 1)
	rows.bump("1")
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 1 {
		t.Fatalf("load = %d, %v", v, err)
	}
	if n, _ := srv.Client(t).Exists(bg(), "t:e:k").Result(); n != 1 {
		t.Fatal("the entry was not stored")
	}
	rows.bump("1")
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	if v, err := matroska.GetOrLoad(bg(), a, "k", versioned(rows, "1", dep)); err != nil || v != 2 {
		t.Fatalf("load after the invalidation = %d, %v", v, err)
	}
}
