package tiered_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// TestG11_SentinelFailoverToLaggingReplica: a master, a replica and three
// sentinels. Nodes A and B hold k (version 1) in L1 and in Redis; the
// replica's link freezes, version 2 is committed and invalidated (the
// master acknowledges, the replica misses it), and the sentinels fail over
// to the replica, which holds the entry of version 1 again. From the moment
// of the failover until well after both nodes trust L1 again, neither may
// serve version 1; nor may a node started after the failover.
//
// The nodes that saw the invalidation can tell from the sequence alone
// that the promoted replica is behind them. A second namespace (u) covers
// the case where they are gone (a deploy restarted them): its only node
// invalidates and closes before the failover, and a node started after it
// has seen nothing to compare with, so only the run_id of the new master
// can tell that its history is not the one the namespace was served.
//
// Node A uses a failover client; B and the nodes started later use
// redis.NewUniversalClient with the options README's "Sentinel" section
// shows.
func TestG11_SentinelFailoverToLaggingReplica(t *testing.T) {
	t.Run("SentinelFailover", func(t *testing.T) { failoverToLaggingReplica(t, false) })
	t.Run("MasterKilled", func(t *testing.T) { failoverToLaggingReplica(t, true) })
}

func failoverToLaggingReplica(t *testing.T, kill bool) {
	g := redistest.StartSentinel(t, redistest.SentinelOptions{})
	m, r := g.Master(), g.Replicas()[0]
	universal := func() redis.UniversalClient {
		c := redis.NewUniversalClient(&redis.UniversalOptions{
			MasterName:            g.MasterName(),
			Addrs:                 g.SentinelAddrs(),
			ContextTimeoutEnabled: true,
		})
		t.Cleanup(func() { _ = c.Close() })
		if _, ok := c.(*redis.Client); !ok {
			t.Fatalf("NewUniversalClient with MasterName returned a %T, want a failover *redis.Client", c)
		}
		return c
	}
	inU := func(c *tiered.Config) { c.Namespace = "u" }

	a := newNode(t, g.Client(t))
	b := newNode(t, universal())
	gone := newNode(t, g.Client(t), inU)
	rows := newDB()
	dep, depU := deps.Id("article", 1), deps.Id("article", 2)
	load, loadU := versioned(rows, "1", dep), versioned(rows, "2", depU)
	rows.bump("1") // version 1
	rows.bump("2")
	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", load); err != nil || v != 1 {
			t.Fatalf("first load = %d, %v", v, err)
		}
	}
	if v, err := matroska.GetOrLoad(bg(), gone, "k", loadU); err != nil || v != 1 {
		t.Fatalf("first load in u = %d, %v", v, err)
	}
	for _, n := range []*tiered.Cache{a, b} {
		if !n.InL1("k") {
			t.Fatal("a node does not hold k in L1: the test proves nothing")
		}
	}
	mc, rc := m.Client(t), r.Client(t)
	if n, err := mc.Wait(bg(), 1, 5*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("the replica did not sync: WAIT = %d, %v", n, err)
	}

	thaw := g.Lag(t, r)
	defer thaw()
	rows.bump("1") // version 2, committed, then invalidated
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	rows.bump("2")
	if err := gone.Invalidate(bg(), depU); err != nil {
		t.Fatal(err)
	}
	_ = gone.Close() // every node of u that saw the invalidation is gone
	waitFor(t, 2*time.Second, "B applies the invalidation", func() bool { return !b.InL1("k") })
	for _, key := range []string{"t:e:k", "u:e:k"} {
		if n, _ := mc.Exists(bg(), key).Result(); n != 0 {
			t.Fatalf("the master still holds %s after the invalidation", key)
		}
		if n, _ := rc.Exists(bg(), key).Result(); n != 1 {
			t.Fatalf("the lagging replica does not hold %s: the test proves nothing", key)
		}
	}
	epoch := a.Stats().Bus.Epoch

	// Read k on both nodes from the failover on, until well after both
	// trust L1 again in the new epoch (and, when the old master still
	// runs, after it has been demoted: the nodes' subscriptions to it are
	// cut then).
	start := time.Now()
	rd := readOn(start, 2, load, map[string]*tiered.Cache{"A": a, "B": b})
	defer rd.stop(t)
	var nm *redistest.Server
	if kill {
		m.Kill()
		nm = g.WaitFailover(t)
	} else {
		nm = g.Failover(t)
	}
	promoted := time.Since(start)
	if nm != r {
		t.Fatalf("the sentinels promoted %s, want the lagging replica %s", nm.Addr(), r.Addr())
	}
	// No node of u is left to touch the promoted replica: it still holds
	// the entry the lost invalidation deleted.
	if n, _ := rc.Exists(bg(), "u:e:k").Result(); n != 1 {
		t.Errorf("the promoted replica does not hold u:e:k: the new node of u proves nothing")
	}
	newEpoch := func() bool {
		return a.Trusted() && b.Trusted() && a.Stats().Bus.Epoch != epoch && b.Stats().Bus.Epoch != epoch
	}
	if !within(10*time.Second, newEpoch) {
		t.Errorf("the nodes do not trust L1 in a new epoch 10s after the failover: A %+v, B %+v", a.Stats().Bus, b.Stats().Bus)
	}
	trusted := time.Since(start)
	if !kill {
		m.WaitReplicaOf(t, r)
		if !within(5*time.Second, newEpoch) {
			t.Errorf("the nodes do not trust L1 in a new epoch after the old master's demotion")
		}
	}
	time.Sleep(3 * testConfig(nil).TrustWindow)
	rd.stop(t)
	t.Logf("promoted after %v, both nodes trusted L1 in a new epoch after %v; %d reads, %d ErrUnavailable",
		promoted.Round(time.Millisecond), trusted.Round(time.Millisecond), rd.reads.Load(), rd.unavailable.Load())

	for _, n := range []*tiered.Cache{a, b} {
		if v, err := matroska.GetOrLoad(bg(), n, "k", load); err != nil || v != 2 {
			t.Errorf("read once trusted = %d, %v; want 2", v, err)
		}
		if s := n.Stats().Bus; s.Epoch == epoch || s.Epochs == 0 {
			t.Errorf("no new epoch after the failover: %q (before %q), %d epoch changes", s.Epoch, epoch, s.Epochs)
		}
	}
	if a.Stats().Bus.Epoch != b.Stats().Bus.Epoch {
		t.Errorf("nodes on different epochs: %q, %q", a.Stats().Bus.Epoch, b.Stats().Bus.Epoch)
	}
	c := newNode(t, universal())
	if v, err := matroska.GetOrLoad(bg(), c, "k", load); err != nil || v != 2 {
		t.Errorf("a node started after the failover read %d, %v; want 2", v, err)
	}
	u := newNode(t, universal(), inU)
	if v, err := matroska.GetOrLoad(bg(), u, "k", loadU); err != nil || v != 2 {
		t.Errorf("a node of u started after the failover read %d, %v; want 2 (an invalidated entry came back)", v, err)
	}
}

// readers read a key on nodes in a loop and record every read that does
// not return want (ErrUnavailable is counted, not recorded).
type readers struct {
	start              time.Time
	reads, unavailable atomic.Int64
	stopCh             chan struct{}
	wg                 sync.WaitGroup
	once               sync.Once

	mu  sync.Mutex
	bad []string
}

// readOn starts a reader per node; times in the report count from start.
func readOn(start time.Time, want int, load matroska.LoadFunc[int], nodes map[string]*tiered.Cache) *readers {
	rs := &readers{start: start, stopCh: make(chan struct{})}
	for name, n := range nodes {
		rs.wg.Add(1)
		go func() {
			defer rs.wg.Done()
			for {
				select {
				case <-rs.stopCh:
					return
				default:
				}
				trusted := n.Trusted()
				v, err := matroska.GetOrLoad(bg(), n, "k", load)
				rs.reads.Add(1)
				switch {
				case errors.Is(err, matroska.ErrUnavailable):
					rs.unavailable.Add(1)
				case err != nil || v != want:
					rs.mu.Lock()
					rs.bad = append(rs.bad, fmt.Sprintf("node %s read %d, %v at %v after the failover began (L1 trusted before the read: %v)",
						name, v, err, time.Since(rs.start).Round(time.Millisecond), trusted))
					rs.mu.Unlock()
				}
				time.Sleep(time.Millisecond)
			}
		}()
	}
	return rs
}

// stop stops the readers (once) and reports what they recorded.
func (rs *readers) stop(t *testing.T) {
	t.Helper()
	rs.once.Do(func() {
		close(rs.stopCh)
		rs.wg.Wait()
		for i, s := range rs.bad {
			if i == 10 {
				t.Errorf("... and %d more wrong reads", len(rs.bad)-10)
				break
			}
			t.Error(s)
		}
		if rs.reads.Load() == rs.unavailable.Load() {
			t.Error("no read answered: the test proves nothing")
		}
	})
}

// within polls cond until it holds (true) or d has passed (false).
func within(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
	return true
}
