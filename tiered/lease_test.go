package tiered_test

import (
	"context"
	"errors"
	"github.com/redis/go-redis/v9"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// leaseNodes starts n nodes with the lease on, each with a Redis client of
// its own.
func leaseNodes(t *testing.T, cl *cluster, n int, leaseTime, poll time.Duration) []*tiered.Cache {
	t.Helper()
	var nodes []*tiered.Cache
	for range n {
		var rdb redis.UniversalClient
		if cl.rc != nil {
			rdb = cl.rc.Client(t)
		} else {
			rdb = cl.srv.Client(t)
		}
		nodes = append(nodes, newNode(t, rdb, func(c *tiered.Config) {
			c.Lease = true
			c.LeaseTime = leaseTime
			c.LeasePoll = poll
		}))
	}
	return nodes
}

func sumStats(nodes []*tiered.Cache, f func(tiered.Stats) uint64) uint64 {
	var n uint64
	for _, c := range nodes {
		n += f(c.Stats())
	}
	return n
}

// TestG8_LeaseOneLoaderAcrossNodes: 8 nodes x 200 goroutines miss one cold
// key at once; exactly one loader runs in the whole cluster. Polling is
// set to a minute and the lease time to 10 s, so the waiters can only have
// been woken by the fill announcement: they must all answer promptly after
// the load ends.
func TestG8_LeaseOneLoaderAcrossNodes(t *testing.T) {
	forTopologies(t, testG8LeaseOneLoaderAcrossNodes)
}

func testG8LeaseOneLoaderAcrossNodes(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 0)
	nodes := leaseNodes(t, cl, 8, 10*time.Second, time.Minute)
	var calls atomic.Int64
	var loaded atomic.Int64 // UnixNano when the loader returned
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		calls.Add(1)
		rec.Depend(deps.Id("row", 1))
		time.Sleep(300 * time.Millisecond)
		loaded.Store(time.Now().UnixNano())
		return 42, nil
	}
	ctx, cancel := context.WithTimeout(bg(), 5*time.Second)
	defer cancel()
	start := make(chan struct{})
	var wg sync.WaitGroup
	var last atomic.Int64
	errs := make(chan error, 8*200)
	for _, c := range nodes {
		for range 200 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				v, err := matroska.GetOrLoad(ctx, c, "cold", load, matroska.TTL(time.Minute))
				if err == nil && v != 42 {
					err = errors.New("wrong value")
				}
				if err != nil {
					errs <- err
					return
				}
				for {
					l, now := last.Load(), time.Now().UnixNano()
					if now <= l || last.CompareAndSwap(l, now) {
						break
					}
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d loader calls across 8 nodes, want 1", n)
	}
	lag := time.Duration(last.Load() - loaded.Load())
	waits := sumStats(nodes, func(s tiered.Stats) uint64 { return s.LeaseWaits })
	notified := sumStats(nodes, func(s tiered.Stats) uint64 { return s.LeaseNotified })
	t.Logf("1 loader call; last answer %v after the load; lease waits %d, woken by announcement %d, takeovers %d",
		lag, waits, notified, sumStats(nodes, func(s tiered.Stats) uint64 { return s.LeaseTakeovers }))
	if lag > time.Second {
		t.Fatalf("the last waiter answered %v after the load ended: not woken by the announcement", lag)
	}
	if waits == 0 || notified != waits {
		t.Fatalf("%d lease waits, %d ended by an announcement", waits, notified)
	}
}

// blockLoader returns a loader that signals started, blocks until release
// is closed (or its context ends), and returns value.
func blockLoader(calls *atomic.Int64, started chan<- struct{}, release <-chan struct{}, value int) matroska.LoadFunc[int] {
	return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		calls.Add(1)
		rec.Depend(deps.Id("row", 1))
		select {
		case started <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done(): // Close ends a held refresh when a test fails early
			return 0, ctx.Err()
		}
		return value, nil
	}
}

// TestG8_LeaseTakeoverAfterHolderDies: a live holder keeps its lease past
// the lease time (it renews it), so another node waits; once the holder's
// node is closed (dead), the other takes the lease over within the lease
// time and loads.
func TestG8_LeaseTakeoverAfterHolderDies(t *testing.T) {
	forTopologies(t, testG8LeaseTakeoverAfterHolderDies)
}

func testG8LeaseTakeoverAfterHolderDies(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 0)
	const leaseTime = 400 * time.Millisecond
	nodes := leaseNodes(t, cl, 2, leaseTime, time.Minute)
	a, b := nodes[0], nodes[1]
	var callsA, callsB atomic.Int64
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	doneA := make(chan struct{})
	go func() {
		defer close(doneA)
		_, _ = matroska.GetOrLoad(bg(), a, "k", blockLoader(&callsA, started, release, 1))
	}()
	t.Cleanup(func() { close(release); <-doneA })
	<-started

	type answer struct {
		v   int
		err error
		at  time.Time
	}
	got := make(chan answer, 1)
	go func() {
		v, err := matroska.GetOrLoad(bg(), b, "k", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			callsB.Add(1)
			return 2, nil
		})
		got <- answer{v, err, time.Now()}
	}()
	select {
	case r := <-got:
		t.Fatalf("node b answered %v while the holder was alive", r)
	case <-time.After(3 * leaseTime):
	}
	if callsB.Load() != 0 {
		t.Fatal("node b loaded while the holder was alive")
	}
	closed := time.Now()
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		took := r.at.Sub(closed)
		t.Logf("taken over %v after the holder died (lease time %v)", took, leaseTime)
		if r.err != nil || r.v != 2 || callsB.Load() != 1 {
			t.Fatalf("node b: %v, %v after %d loads", r.v, r.err, callsB.Load())
		}
		if took < leaseTime/2 || took > leaseTime+time.Second {
			t.Fatalf("taken over %v after the holder died; lease time %v", took, leaseTime)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no takeover after the holder died")
	}
	if n := b.Stats().LeaseTakeovers; n != 1 {
		t.Fatalf("%d takeovers, want 1", n)
	}
}

// TestG8_LeaseRefusedPutWakesWaiters: an invalidation overtakes the lease
// holder's load, so its put is refused (G1). The holder still releases the
// lease and announces it: the waiting node then loads the fresh value
// itself at once (not after the lease time), and the stale value is stored
// nowhere.
func TestG8_LeaseRefusedPutWakesWaiters(t *testing.T) {
	forTopologies(t, testG8LeaseRefusedPutWakesWaiters)
}

func testG8LeaseRefusedPutWakesWaiters(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 0)
	nodes := leaseNodes(t, cl, 3, 10*time.Second, time.Minute)
	a, b, w := nodes[0], nodes[1], nodes[2]
	var version atomic.Int64
	version.Store(1)
	var callsA, callsB atomic.Int64
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	resA := make(chan int, 1)
	go func() {
		v, _ := matroska.GetOrLoad(bg(), a, "k", blockLoader(&callsA, started, release, int(version.Load())))
		resA <- v
	}()
	<-started
	resB := make(chan int, 1)
	go func() {
		v, err := matroska.GetOrLoad(bg(), b, "k", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			callsB.Add(1)
			rec.Depend(deps.Id("row", 1))
			return int(version.Load()), nil
		})
		if err != nil {
			t.Error(err)
		}
		resB <- v
	}()
	waitFor(t, 5*time.Second, "node b waits for the lease", func() bool { return b.Stats().LeaseWaits == 1 })
	version.Store(2)
	if err := w.Invalidate(bg(), deps.Id("row", 1)); err != nil {
		t.Fatal(err)
	}
	released := time.Now()
	close(release)
	if v := <-resA; v != 1 {
		t.Fatalf("holder returned %d", v)
	}
	select {
	case v := <-resB:
		took := time.Since(released)
		t.Logf("waiter loaded %d, %v after the refused put", v, took)
		if v != 2 || callsB.Load() != 1 {
			t.Fatalf("waiter got %d after %d loads, want 2 after 1", v, callsB.Load())
		}
		if took > 2*time.Second {
			t.Fatalf("waiter took %v: it waited for the lease time", took)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("waiter not woken after the refused put")
	}
	if n := a.Stats().RefusedPuts; n != 1 {
		t.Fatalf("holder: %d refused puts, want 1", n)
	}
	v, err := matroska.Get[int](bg(), w, "k")
	if err != nil || v != 2 {
		t.Fatalf("stored: %d, %v; want 2", v, err)
	}
}

// TestG9_LeaseWithoutRedisLoadsLocally: with Redis gone there is no lease:
// the node loads on its own.
func TestG9_LeaseWithoutRedisLoadsLocally(t *testing.T) {
	cl := newClusterOn(t, "standalone", 0)
	c := leaseNodes(t, cl, 1, 10*time.Second, time.Minute)[0]
	cl.srv.Stop()
	v, err := matroska.GetOrLoad(bg(), c, "k", func(ctx context.Context, rec *matroska.Recorder) (int, error) { return 7, nil })
	if err != nil || v != 7 {
		t.Fatalf("%d, %v", v, err)
	}
	if s := c.Stats(); s.Leases != 0 || s.Degraded == 0 {
		t.Fatalf("leases %d, degraded %d", s.Leases, s.Degraded)
	}
}
