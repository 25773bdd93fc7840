package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/faultproxy"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// blockedLoad starts GetOrLoad(key) in a goroutine whose loader records
// dep, signals that it started, and waits for release before returning
// value (or err). The returned function waits for the call and returns
// its result.
func blockedLoad(t *testing.T, c *tiered.Cache, key string, dep deps.Dep, value int, err error) (started <-chan struct{}, release chan<- struct{}, wait func() (int, error)) {
	t.Helper()
	st := make(chan struct{})
	rel := make(chan struct{})
	type out struct {
		v   int
		err error
	}
	done := make(chan out, 1)
	go func() {
		v, e := matroska.GetOrLoad(bg(), c, key, func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(dep)
			close(st)
			<-rel
			return value, err
		})
		done <- out{v, e}
	}()
	return st, rel, func() (int, error) {
		o := <-done
		return o.v, o.err
	}
}

// loadCount returns a loader that counts its calls and returns value with dep.
func counted(n *atomic.Int64, value int, dep deps.Dep) matroska.LoadFunc[int] {
	return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		n.Add(1)
		rec.Depend(dep)
		return value, nil
	}
}

func TestG1_InvalidationDuringLoadIsNotStored(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			var c *tiered.Cache
			if mode != "one-process" {
				c = newClusterOn(t, mode, 1).nodes[0]
			} else {
				c = newNode(t, nil)
			}
			dep := deps.Id("article", 1)
			started, release, wait := blockedLoad(t, c, "k", dep, 1, nil)
			<-started
			if err := c.Invalidate(bg(), dep); err != nil {
				t.Fatal(err)
			}
			close(release)
			if v, err := wait(); err != nil || v != 1 {
				t.Fatalf("the overtaken load still answers its callers: got %d, %v", v, err)
			}
			if _, err := matroska.Get[int](bg(), c, "k"); !errors.Is(err, matroska.ErrMiss) {
				t.Fatalf("stale value stored: Get = %v, want ErrMiss", err)
			}
			if got := c.Stats().RefusedPuts + c.Stats().RefusedFills; got == 0 {
				t.Fatal("the refused put was not counted")
			}
			var n atomic.Int64
			if v, _ := matroska.GetOrLoad(bg(), c, "k", counted(&n, 2, dep)); v != 2 || n.Load() != 1 {
				t.Fatalf("next call did not load afresh: v=%d loads=%d", v, n.Load())
			}
		})
	}
}

// TestG1_OvertakenByAnotherNodeIsNotFilled: B loads k; during the load,
// A invalidates its dependency, and B's bus has not applied that yet. Redis
// refuses B's put; B answers the value to its callers but must not keep it
// in L1 either: nothing local would refuse the fill (B holds no tombstone
// for the invalidation), and until the message came B would serve a value
// it knows to be overtaken.
func TestG1_OvertakenByAnotherNodeIsNotFilled(t *testing.T) {
	forTopologies(t, testG1OvertakenByAnotherNode)
}

func testG1OvertakenByAnotherNode(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	dep := deps.Id("article", 1)
	started, release, wait := blockedLoad(t, b, "k", dep, 1, nil)
	<-started
	gate := make(chan struct{})
	b.SetApplyHook(func(uint64) { <-gate })
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	close(release)
	v, err := wait()
	if err != nil || v != 1 {
		t.Fatalf("the overtaken load answers its callers: got %d, %v", v, err)
	}
	inL1 := b.InL1("k")
	refused := b.Stats().RefusedPuts
	close(gate)
	if refused == 0 {
		t.Fatal("test premise: Redis should have refused B's put")
	}
	if inL1 {
		t.Fatal("B filled L1 with a value whose put Redis refused as overtaken")
	}
}

func TestG1_NegativeResultDuringInvalidationIsNotStored(t *testing.T) {
	forTopologies(t, testG1NegativeResultDuringInvalidation)
}

func testG1NegativeResultDuringInvalidation(t *testing.T, topo string) {
	c := newClusterOn(t, topo, 1).nodes[0]
	dep := deps.Id("article", 9)
	started, release, wait := blockedLoad(t, c, "missing", dep, 0, matroska.ErrNotFound)
	<-started
	if err := c.Invalidate(bg(), dep); err != nil { // article 9 was just created
		t.Fatal(err)
	}
	close(release)
	if _, err := wait(); !errors.Is(err, matroska.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if _, err := matroska.Get[int](bg(), c, "missing"); !errors.Is(err, matroska.ErrMiss) {
		t.Fatalf("stale not-found stored: Get = %v, want ErrMiss", err)
	}
}

func TestG1_NegativeResultIsCachedAndInvalidated(t *testing.T) {
	forTopologies(t, testG1NegativeResultCached)
}

func testG1NegativeResultCached(t *testing.T, topo string) {
	c := newClusterOn(t, topo, 1).nodes[0]
	dep := deps.Id("article", 9)
	var n atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		n.Add(1)
		rec.Depend(dep)
		return 0, fmt.Errorf("row 9: %w", matroska.ErrNotFound)
	}
	for i := 0; i < 3; i++ {
		if _, err := matroska.GetOrLoad(bg(), c, "a9", load); !errors.Is(err, matroska.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("negative entry not cached: %d loads", n.Load())
	}
	if err := c.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	if _, err := matroska.GetOrLoad(bg(), c, "a9", load); !errors.Is(err, matroska.ErrNotFound) || n.Load() != 2 {
		t.Fatalf("invalidated negative entry still served: err=%v loads=%d", err, n.Load())
	}
}

// TestG1_NestedStartMarksCompose is DESIGN section 4, "start marks
// compose": node B serves an inner value from L1 before it has applied an
// invalidation of it; the outer entry built from it must not reach Redis.
func TestG1_NestedStartMarksCompose(t *testing.T) {
	forTopologies(t, testG1NestedStartMarks)
}

func testG1NestedStartMarks(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	data := newDB()
	dep := deps.Id("author", 7)
	inner := func(ctx context.Context, c *tiered.Cache) (int, error) {
		return matroska.GetOrLoad(ctx, c, "inner", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(dep)
			return data.get("author7"), nil
		})
	}
	outer := func(c *tiered.Cache) (string, error) {
		return matroska.GetOrLoad(bg(), c, "outer", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			v, err := inner(ctx, c)
			return "page with author v" + strconv.Itoa(v), err
		})
	}
	if v, err := inner(bg(), b); err != nil || v != 0 {
		t.Fatalf("inner = %d, %v", v, err)
	}
	waitFor(t, time.Second, "inner lands in B's L1", func() bool {
		ok := b.InL1("inner")
		return ok
	})

	// Hold B's bus: B will not apply the next invalidation until released.
	gate := make(chan struct{})
	b.SetApplyHook(func(uint64) { <-gate })
	defer func() {
		select {
		case <-gate:
		default:
			close(gate)
		}
	}()

	data.bump("author7")                            // the write commits...
	if err := a.Invalidate(bg(), dep); err != nil { // ...then invalidates
		t.Fatal(err)
	}
	// B still serves the old inner value from L1 (within the propagation
	// window) and builds the outer page from it.
	got, err := outer(b)
	if err != nil {
		t.Fatal(err)
	}
	if got != "page with author v0" {
		t.Fatalf("test premise: B should build from its lagging L1, got %q", got)
	}
	close(gate)
	// The outer page must not have been stored in Redis: another node must
	// build it afresh.
	if s, err := matroska.Get[string](bg(), a, "outer"); !errors.Is(err, matroska.ErrMiss) {
		t.Fatalf("stale outer entry laundered into L2: %q, %v", s, err)
	}
	if got, _ := outer(a); got != "page with author v1" {
		t.Fatalf("outer on A = %q, want v1", got)
	}
}

func TestG2_LostIndexYieldsMissesNotStaleHits(t *testing.T) {
	forTopologies(t, testG2LostIndex)
}

func testG2LostIndex(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 1)
	c := cl.nodes[0]
	dep := deps.Id("article", 1)
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 1, dep)); err != nil {
		t.Fatal(err)
	}
	// The index of the entry is lost (as eviction under maxmemory would),
	// so an invalidation of its dependency misses it.
	if err := cl.rdb.Del(bg(), c.L2().DepKey(dep)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	if n := len(cl.keys(t, "*"+c.L2().EntryKey("k"))); n != 1 {
		t.Fatal("test premise: the invalidation should have missed the unindexed entry")
	}
	if _, err := matroska.Get[int](bg(), c, "k"); !errors.Is(err, matroska.ErrMiss) {
		t.Fatalf("an entry that outlived an invalidation without its index was served: %v", err)
	}
	if n := len(cl.keys(t, "*"+c.L2().EntryKey("k"))); n != 0 {
		t.Fatal("the unindexed entry was not dropped")
	}
	// FLUSHALL: the node notices (epoch) and serves misses, not its L1.
	if _, err := matroska.GetOrLoad(bg(), c, "k2", counted(&n, 2, dep)); err != nil {
		t.Fatal(err)
	}
	cl.flushAll(t)
	waitFor(t, 5*time.Second, "node resets L1 after FLUSHALL", func() bool {
		_, ok := c.L1().Get("k2")
		return !ok
	})
}

// A node reads entries with plain commands and vouches for them from the
// invalidations it has applied, not from their index. An entry whose index
// is lost survives the invalidation that should have dropped it; a node
// that applied that invalidation, or one that has not heard of it yet, must
// still never serve it: both read it again with the index check, which
// drops it.
func TestG2_LostIndexIsNeverServedStale(t *testing.T) {
	cl := newCluster(t, 3)
	a, b, lag := cl.nodes[0], cl.nodes[1], cl.nodes[2]
	data := newDB()
	loader := func(key string, dep deps.Dep) matroska.LoadFunc[int] {
		return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(dep)
			return data.get(key), nil
		}
	}
	orphan := func(key string, dep deps.Dep) {
		t.Helper()
		if _, err := matroska.GetOrLoad(bg(), a, key, loader(key, dep)); err != nil {
			t.Fatal(err)
		}
		// The index of the entry is lost (as eviction under maxmemory would).
		if err := cl.rdb.Del(bg(), a.L2().DepKey(dep)).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// missesAndDrops checks that node, which cannot vouch for the orphan
	// key after the invalidation it escaped, reads it again with the index
	// check: a miss, and the entry is gone from Redis.
	missesAndDrops := func(node *tiered.Cache, who, key string) {
		t.Helper()
		if v, err := matroska.Get[int](bg(), node, key); !errors.Is(err, matroska.ErrMiss) {
			t.Fatalf("%s served %d, %v after the invalidation; want a miss", who, v, err)
		}
		if st := node.Stats(); st.CheckedReads != 1 {
			t.Fatalf("%s: CheckedReads = %d; want the entry read again with the index check", who, st.CheckedReads)
		}
		if n, _ := cl.rdb.Exists(bg(), a.L2().EntryKey(key)).Result(); n != 0 {
			t.Fatalf("%s: the check in Redis did not drop the unindexed entry", who)
		}
	}

	d1 := deps.Id("article", 1)
	orphan("k1", d1)
	// No invalidation has passed the entry: it is current, and B serves it
	// from one plain read.
	if v, err := matroska.Get[int](bg(), b, "k1"); err != nil || v != 0 {
		t.Fatalf("Get = %d, %v; want the current value 0", v, err)
	}
	if st := b.Stats(); st.L2Hits != 1 || st.CheckedReads != 0 {
		t.Fatalf("L2Hits = %d, CheckedReads = %d; want a hit vouched for by B", st.L2Hits, st.CheckedReads)
	}
	data.bump("k1")
	if err := a.Invalidate(bg(), d1); err != nil {
		t.Fatal(err)
	}
	st, err := a.L2().State(bg())
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := cl.rdb.Exists(bg(), a.L2().EntryKey("k1")).Result(); n != 1 {
		t.Fatal("test premise: the invalidation should have missed the unindexed entry")
	}
	waitFor(t, 5*time.Second, "B applies the invalidation", func() bool { return b.L1().Applied() >= st.Seq })
	missesAndDrops(b, "B", "k1")

	// A node that has not applied the invalidation yet cannot vouch for
	// the entry either.
	d2 := deps.Id("article", 2)
	orphan("k2", d2)
	gate := make(chan struct{})
	lag.SetApplyHook(func(uint64) { <-gate })
	defer close(gate)
	data.bump("k2")
	if err := a.Invalidate(bg(), d2); err != nil {
		t.Fatal(err)
	}
	missesAndDrops(lag, "a lagging node", "k2")
}

func TestG3_ReadYourWrites(t *testing.T) {
	forTopologies(t, testG3ReadYourWrites)
}

func testG3ReadYourWrites(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 3)
	data := newDB()
	dep := deps.Id("article", 1)
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(dep)
		return data.get("a1"), nil
	}
	for _, c := range cl.nodes {
		if v, _ := matroska.GetOrLoad(bg(), c, "a1", load); v != 0 {
			t.Fatalf("v = %d", v)
		}
	}
	for round := 1; round <= 20; round++ {
		writer := cl.nodes[round%3]
		data.bump("a1")
		if err := writer.Invalidate(bg(), dep); err != nil {
			t.Fatal(err)
		}
		// The writer reads its write at once, from any tier.
		if v, _ := matroska.GetOrLoad(bg(), writer, "a1", load); v != round {
			t.Fatalf("round %d: writer read %d after Invalidate returned", round, v)
		}
		// Others within the propagation bound.
		for _, c := range cl.nodes {
			waitFor(t, 2*time.Second, "other node sees the write", func() bool {
				v, _ := matroska.GetOrLoad(bg(), c, "a1", load)
				return v == round
			})
		}
	}
	// The broadcasts reached every node on the channel (not only through
	// the heartbeat's replay from the log).
	for i, c := range cl.nodes {
		if s := c.Stats().Bus; s.Received == 0 {
			t.Errorf("node %d received no broadcast: %+v", i, s)
		}
	}
}

func TestG4_DisconnectCatchesUpFromLog(t *testing.T) {
	forTopologies(t, testG4DisconnectCatchesUp)
}

func testG4DisconnectCatchesUp(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 1)
	a := cl.nodes[0]
	rdb, proxy := cl.proxied(t)
	b := newNode(t, rdb)
	dep := deps.Id("article", 1)
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), b, "k", counted(&n, 1, dep)); err != nil {
		t.Fatal(err)
	}
	proxy.Refuse(true)
	proxy.CutAll()
	waitFor(t, 2*time.Second, "B stops trusting L1 after the disconnect", func() bool { return !b.Trusted() })
	if err := a.Invalidate(bg(), dep); err != nil { // B cannot hear this one
		t.Fatal(err)
	}
	if b.InL1("k") {
		t.Fatal("B serves L1 while disconnected")
	}
	proxy.Refuse(false)
	waitFor(t, 5*time.Second, "B resubscribes and catches up", b.Trusted)
	if b.InL1("k") {
		t.Fatal("B trusts L1 again but still holds the entry invalidated while it was away")
	}
	if s := b.Stats(); s.Replays+s.Flushes == 0 {
		t.Fatalf("B caught up without a replay or a flush: %+v", s.Bus)
	}
}

func TestG4_GapIsReplayedFromLog(t *testing.T) {
	forTopologies(t, testG4GapIsReplayed)
}

func testG4GapIsReplayed(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	lost, other := deps.Id("article", 1), deps.Id("article", 2)
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), b, "k", counted(&n, 1, lost)); err != nil {
		t.Fatal(err)
	}
	// An invalidation whose broadcast is lost: it is in Redis (sequence,
	// tombstone, log) but was never published.
	lostSeq := loseBroadcast(t, cl, lost)
	if !b.InL1("k") {
		t.Fatal("test premise: B has not heard of the lost invalidation")
	}
	// The next broadcast shows B a gap.
	if err := a.Invalidate(bg(), other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "B applies the next sequence", func() bool { return b.L1().Applied() > lostSeq })
	if b.InL1("k") {
		t.Fatal("B skipped the gap: the entry of the lost invalidation is still served")
	}
	if b.Stats().Replays == 0 {
		t.Fatal("no replay counted")
	}
}

func TestG4_SilenceStopsL1(t *testing.T) {
	forTopologies(t, testG4Silence)
}

func testG4Silence(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 1)
	a := cl.nodes[0]
	rdb, proxy := cl.proxied(t)
	b := newNode(t, rdb)
	data := newDB()
	dep := deps.Id("article", 1)
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(dep)
		return data.get("a1"), nil
	}
	if v, _ := matroska.GetOrLoad(bg(), b, "a1", load); v != 0 {
		t.Fatal(v)
	}
	proxy.Freeze() // half-open: nothing is closed, nothing arrives
	frozen := time.Now()
	data.bump("a1")
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "B notices the silence", func() bool { return !b.Trusted() })
	t.Logf("silence noticed after %v (TrustWindow 600ms)", time.Since(frozen).Round(time.Millisecond))
	// B cannot reach Redis either: it answers from the loader.
	if v, err := matroska.GetOrLoad(bg(), b, "a1", load); err != nil || v != 1 {
		t.Fatalf("B during silence: %d, %v; want the fresh 1 from the loader", v, err)
	}
	proxy.Thaw()
	waitFor(t, 5*time.Second, "B trusts L1 again", b.Trusted)
	if v, _ := matroska.GetOrLoad(bg(), b, "a1", load); v != 1 {
		t.Fatalf("B after silence: %d, want 1", v)
	}
}

func TestG4_L1HardMaxTTL(t *testing.T) {
	forTopologies(t, testG4L1HardMaxTTL)
}

func testG4L1HardMaxTTL(t *testing.T, topo string) {
	c := newNode(t, newClusterOn(t, topo, 0).rdb, func(cfg *tiered.Config) { cfg.L1MaxTTL = 100 * time.Millisecond })
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 1, deps.Tag("x")), matroska.TTL(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the entry lands in L1", func() bool {
		ok := c.InL1("k")
		return ok
	})
	waitFor(t, 2*time.Second, "L1 entry expires at L1MaxTTL", func() bool {
		ok := c.InL1("k")
		return !ok
	})
}

// TestG6_DelayedFillsNeverResurrect runs slow, overlapping loads on three
// nodes while a writer keeps committing and invalidating. Once the writer
// stops and the bus has delivered, every node must serve the last version:
// no delayed fill brings an older one back.
func TestG6_DelayedFillsNeverResurrect(t *testing.T) {
	forTopologies(t, testG6DelayedFills)
}

func testG6DelayedFills(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 3)
	data := newDB()
	dep := deps.Id("row", 1)
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(dep)
		v := data.get("r")
		time.Sleep(time.Duration(v%4) * time.Millisecond) // fills land late, out of order
		return v, nil
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for _, c := range cl.nodes {
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					_, _ = matroska.GetOrLoad(bg(), c, "r", load)
				}
			}()
		}
	}
	var last int
	for i := 0; i < 200; i++ {
		last = data.bump("r")
		if err := cl.nodes[i%3].Invalidate(bg(), dep); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	for i, c := range cl.nodes {
		waitFor(t, 2*time.Second, "node applies every invalidation", func() bool {
			return c.L1().Applied() >= cl.nodes[0].L1().Applied()
		})
		for r := 0; r < 5; r++ {
			if v, _ := matroska.GetOrLoad(bg(), c, "r", load); v != last {
				t.Fatalf("node %d serves version %d after the last write %d", i, v, last)
			}
		}
	}
}

func TestG10_BadInput(t *testing.T) {
	cl := newCluster(t, 1)
	c := cl.nodes[0]
	ok := func(ctx context.Context, rec *matroska.Recorder) (int, error) { return 1, nil }
	if _, err := matroska.GetOrLoad(bg(), c, "", ok); !errors.Is(err, matroska.ErrEmptyKey) {
		t.Errorf("empty key: %v", err)
	}
	long := string(make([]byte, 2000))
	if _, err := matroska.GetOrLoad(bg(), c, long, ok); !errors.Is(err, matroska.ErrKeyTooLong) {
		t.Errorf("long key: %v", err)
	}
	big := func(ctx context.Context, rec *matroska.Recorder) ([]byte, error) { return make([]byte, 2<<20), nil }
	v, err := matroska.GetOrLoad(bg(), c, "big", big)
	if !errors.Is(err, matroska.ErrValueTooLarge) || len(v) != 2<<20 {
		t.Errorf("oversized value: len %d, %v; want the value and ErrValueTooLarge", len(v), err)
	}
	ch := func(ctx context.Context, rec *matroska.Recorder) (chan int, error) { return make(chan int), nil }
	if _, err := matroska.GetOrLoad(bg(), c, "chan", ch); !errors.Is(err, matroska.ErrEncode) {
		t.Errorf("unencodable value: %v", err)
	}
	zero := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(deps.Dep{})
		return 1, nil
	}
	if _, err := matroska.GetOrLoad(bg(), c, "zero", zero); !errors.Is(err, matroska.ErrInvalidDep) {
		t.Errorf("zero dep: %v", err)
	}
	if _, err := matroska.GetOrLoad(bg(), c, "ttl", ok, matroska.TTL(0)); !errors.Is(err, matroska.ErrInvalidTTL) {
		t.Errorf("zero TTL: %v", err)
	}
	if err := c.Set(bg(), "ttl", 1, matroska.TTL(-time.Second)); !errors.Is(err, matroska.ErrInvalidTTL) {
		t.Errorf("negative TTL: %v", err)
	}
	if c.Stats().BreakerOpens != 0 || !c.Trusted() {
		t.Error("bad input was taken for a Redis failure")
	}
	if err := c.Invalidate(bg(), deps.Dep{}); !errors.Is(err, matroska.ErrInvalidDep) {
		t.Errorf("invalidate zero dep: %v", err)
	}
	if err := c.Set(bg(), "s", 1, matroska.Depend(deps.Dep{})); !errors.Is(err, matroska.ErrInvalidDep) {
		t.Errorf("set zero dep: %v", err)
	}
	for _, key := range []string{"big", "chan", "zero", "s"} {
		if _, err := matroska.Get[int](bg(), c, key); !errors.Is(err, matroska.ErrMiss) {
			t.Errorf("%s was cached: %v", key, err)
		}
	}

	// An undecodable entry in Redis is a miss, is deleted, and is counted.
	if err := cl.rdb.Set(bg(), "t:e:corrupt", "\x00garbage", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	if v, err := matroska.GetOrLoad(bg(), c, "corrupt", counted(&n, 5, deps.Tag("x"))); err != nil || v != 5 {
		t.Fatalf("corrupt entry: %d, %v", v, err)
	}
	if c.Stats().Corrupt == 0 {
		t.Error("corrupt entry not counted")
	}

	// A malformed bus message is dropped and counted, never applied.
	before := c.Stats().Bus.Malformed
	if err := cl.rdb.Publish(bg(), "t:inv", "M1\nnot\na\nmessage").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "malformed message counted", func() bool { return c.Stats().Bus.Malformed > before })
	if !c.Trusted() {
		t.Error("a malformed message made the node distrust L1")
	}
}

func TestG9_LoaderErrorsAndPanics(t *testing.T) {
	c := newCluster(t, 1).nodes[0]
	boom := errors.New("boom")
	var n atomic.Int64
	failing := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		n.Add(1)
		return 0, boom
	}
	for i := 0; i < 2; i++ {
		if _, err := matroska.GetOrLoad(bg(), c, "err", failing); !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
	}
	if n.Load() != 2 {
		t.Fatalf("loader error was cached: %d calls", n.Load())
	}

	// A panic reaches every waiter as an error.
	gate := make(chan struct{})
	panicking := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		<-gate
		panic("loader bug")
	}
	const waiters = 8
	errs := make(chan error, waiters)
	for i := 0; i < waiters; i++ {
		go func() {
			_, err := matroska.GetOrLoad(bg(), c, "panic", panicking)
			errs <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let the waiters join the flight; the count below holds either way
	close(gate)
	for i := 0; i < waiters; i++ {
		if err := <-errs; !errors.Is(err, matroska.ErrLoaderPanic) {
			t.Fatalf("waiter %d: %v, want ErrLoaderPanic", i, err)
		}
	}
}

func TestG8_OneLoaderPerKeyPerProcess(t *testing.T) {
	c := newCluster(t, 1).nodes[0]
	var n atomic.Int64
	gate := make(chan struct{})
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		n.Add(1)
		<-gate
		return 7, nil
	}
	const callers = 100
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if v, err := matroska.GetOrLoad(bg(), c, "cold", load); v != 7 || err != nil {
				t.Errorf("got %d, %v", v, err)
			}
		}()
	}
	waitFor(t, 2*time.Second, "loader started", func() bool { return n.Load() == 1 })
	time.Sleep(20 * time.Millisecond) // callers pile up behind the one load
	close(gate)
	wg.Wait()
	if n.Load() != 1 {
		t.Fatalf("%d loader calls for one cold key", n.Load())
	}
}

func TestWaiterCancelDoesNotCancelLoad(t *testing.T) {
	c := newCluster(t, 1).nodes[0]
	gate := make(chan struct{})
	var loadCtxErr atomic.Value
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		<-gate
		if err := ctx.Err(); err != nil {
			loadCtxErr.Store(err)
		}
		return 3, nil
	}
	ctx, cancel := context.WithCancel(bg())
	done := make(chan error, 1)
	go func() {
		_, err := matroska.GetOrLoad(ctx, c, "k", load)
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled waiter: %v", err)
	}
	close(gate)
	waitFor(t, 2*time.Second, "the load still fills the cache", func() bool {
		v, err := matroska.Get[int](bg(), c, "k")
		return err == nil && v == 3
	})
	if e := loadCtxErr.Load(); e != nil {
		t.Fatalf("the shared load saw its context cancelled: %v", e)
	}
}

func TestG9_RedisDownDegradesAndReconciles(t *testing.T) {
	srv := redistest.Start(t)
	c := newNode(t, srv.Client(t))
	data := newDB()
	dep := deps.Id("article", 1)
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		rec.Depend(dep)
		return data.get("a1"), nil
	}
	if v, _ := matroska.GetOrLoad(bg(), c, "a1", load); v != 0 {
		t.Fatal(v)
	}
	srv.Kill()
	data.bump("a1") // a write nobody could invalidate
	for i := 0; i < 20; i++ {
		start := time.Now()
		v, err := matroska.GetOrLoad(bg(), c, "a1", load)
		if err != nil {
			t.Fatalf("GetOrLoad with Redis down: %v", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("GetOrLoad took %v with Redis down", d)
		}
		_ = v // L1 may answer until the node notices; the assertions below bound that
	}
	waitFor(t, 3*time.Second, "node stops trusting L1", func() bool { return !c.Trusted() })
	for i := 0; i < 10; i++ {
		start := time.Now()
		if v, err := matroska.GetOrLoad(bg(), c, "a1", load); err != nil || v != 1 {
			t.Fatalf("with Redis down and L1 off, the loader answers: got %d, %v", v, err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("GetOrLoad took %v with Redis down", d)
		}
	}
	if c.Stats().BreakerOpens == 0 {
		t.Error("circuit breaker never opened")
	}
	if c.Stats().Degraded < 10 {
		t.Errorf("degraded answers not counted: %d", c.Stats().Degraded)
	}
	srv.Restart(t)
	waitFor(t, 10*time.Second, "node reconciles and trusts L1 again", c.Trusted)
	if c.Stats().Flushes < 2 {
		t.Errorf("node trusted L1 again without flushing it (epoch changed): flushes=%d", c.Stats().Flushes)
	}
	if v, _ := matroska.GetOrLoad(bg(), c, "a1", load); v != 1 {
		t.Fatalf("after Redis returned: %d, want 1", v)
	}
}

// TestPropagationMultiNode: node A invalidates, B and C drop their L1
// entries; the time from Invalidate's call to each node's apply is reported.
func TestPropagationMultiNode(t *testing.T) {
	cl := newCluster(t, 3)
	var mu sync.Mutex
	arrived := map[uint64][]time.Time{}
	for _, c := range cl.nodes[1:] {
		c.SetApplyHook(func(seq uint64) {
			mu.Lock()
			arrived[seq] = append(arrived[seq], time.Now())
			mu.Unlock()
		})
	}
	const rounds = 200
	var lat []time.Duration
	for i := 0; i < rounds; i++ {
		dep := deps.Id("article", i)
		for _, c := range cl.nodes {
			var n atomic.Int64
			if _, err := matroska.GetOrLoad(bg(), c, "k"+strconv.Itoa(i), counted(&n, i, dep)); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		if err := cl.nodes[0].Invalidate(bg(), dep); err != nil {
			t.Fatal(err)
		}
		for _, c := range cl.nodes[1:] {
			waitFor(t, 2*time.Second, "B and C drop the entry", func() bool {
				_, ok := c.L1().Get("k" + strconv.Itoa(i))
				return !ok
			})
		}
		mu.Lock()
		var latest time.Time
		for s, ts := range arrived {
			if len(ts) == 2 {
				for _, at := range ts {
					if at.After(latest) {
						latest = at
					}
				}
				delete(arrived, s)
			}
		}
		mu.Unlock()
		if !latest.IsZero() {
			lat = append(lat, latest.Sub(start))
		}
	}
	if len(lat) < rounds/2 {
		t.Fatalf("only %d of %d rounds recorded", len(lat), rounds)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("propagation to 2 other nodes, %d invalidations: p50 %v, p99 %v, max %v",
		len(lat), lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
}

// loseBroadcast performs an invalidation of dep in Redis the way the
// invalidation script does (sequence, tombstone, entry deletion, log) but
// publishes nothing, as if the broadcast were lost; it returns its sequence.
func loseBroadcast(t *testing.T, cl *cluster, dep deps.Dep) uint64 {
	t.Helper()
	ctx := bg()
	l2 := cl.nodes[0].L2()
	seq, err := cl.rdb.Incr(ctx, l2.SeqKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := cl.rdb.Get(ctx, l2.EpochKey()).Result()
	if err != nil {
		t.Fatal(err)
	}
	members, _ := cl.rdb.ZRange(ctx, l2.DepKey(dep), 0, -1).Result()
	for _, m := range members {
		cl.rdb.Del(ctx, l2.EntryKey(m))
	}
	cl.rdb.Del(ctx, l2.DepKey(dep))
	tomb := strconv.FormatInt(seq, 10)
	if cl.topo == "cluster" {
		// A cluster tombstone names its epoch, and the published watermark
		// moves past the invalidation.
		tomb += ":" + epoch
		cl.rdb.Set(ctx, l2.PublishedKey(), seq, 0)
	}
	cl.rdb.Set(ctx, l2.TombstoneKey(dep), tomb, time.Minute)
	err = cl.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: l2.LogKey(),
		ID:     strconv.FormatInt(seq, 10) + "-1",
		Values: []any{"e", epoch, "o", "lost", "d", dep.String()},
	}).Err()
	if err != nil {
		t.Fatal(err)
	}
	return uint64(seq)
}

func newProxy(t testing.TB, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// proxies are fault proxies in front of every master of a deployment; a
// fault applies to all of them.
type proxies = faultproxy.Group

// proxied returns a client of cl's Redis whose every connection, to every
// master, goes through a fault proxy of its own, and the proxies. On a
// cluster the client's dialer maps each master's address (as the cluster
// announces it) to its proxy.
func (cl *cluster) proxied(t testing.TB) (redis.UniversalClient, proxies) {
	t.Helper()
	if cl.rc == nil {
		p := newProxy(t, cl.srv.Addr())
		return proxyClient(t, cl.srv, p), proxies{p}
	}
	opts := cl.rc.Options()
	via := map[string]string{}
	var ps proxies
	for _, addr := range opts.Addrs {
		p := newProxy(t, addr)
		via[addr] = p.Addr()
		ps = append(ps, p)
	}
	opts.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if p, ok := via[addr]; ok {
			addr = p
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	c := redis.NewClusterClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c, ps
}

// proxyClient is a client of srv whose every connection goes through p.
func proxyClient(t testing.TB, srv *redistest.Server, p *faultproxy.Proxy) *redis.Client {
	t.Helper()
	opts := srv.Options()
	opts.Addr = p.Addr()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
