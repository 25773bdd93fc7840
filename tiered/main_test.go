package tiered_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska/internal/poll"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// testConfig is a node configuration with short timings for tests.
func testConfig(rdb redis.UniversalClient) tiered.Config {
	return tiered.Config{
		Redis:        rdb,
		Namespace:    "t",
		TrustWindow:  600 * time.Millisecond,
		Heartbeat:    50 * time.Millisecond,
		RedisTimeout: 300 * time.Millisecond,
		StartTimeout: 5 * time.Second,
		Jitter:       -1,
	}
}

// newNode starts a node on rdb and closes it when the test ends.
func newNode(t testing.TB, rdb redis.UniversalClient, edit ...func(*tiered.Config)) *tiered.Cache {
	t.Helper()
	cfg := testConfig(rdb)
	for _, e := range edit {
		e(&cfg)
	}
	c, err := tiered.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if rdb != nil && len(cfg.Feeds) == 0 { // a node that follows a feed waits for it
		waitFor(t, 5*time.Second, "node trusts L1", c.Trusted)
	}
	return c
}

// topologies are the Redis deployments that the guarantee tests and the
// seed scenarios run on: one private redis-server, or a private Redis
// Cluster of 3 masters.
var topologies = []string{"standalone", "cluster"}

// cluster is several nodes on one private Redis (of topology topo), each
// with a client of its own.
type cluster struct {
	topo  string
	srv   *redistest.Server  // standalone
	rc    *redistest.Cluster // cluster
	rdb   redis.UniversalClient
	nodes []*tiered.Cache
}

func newCluster(t testing.TB, n int) *cluster { return newClusterOn(t, "standalone", n) }

func newClusterOn(t testing.TB, topo string, n int) *cluster {
	t.Helper()
	cl := &cluster{topo: topo}
	client := func() redis.UniversalClient { return cl.srv.Client(t) }
	if topo == "cluster" {
		cl.rc = redistest.StartCluster(t, 3)
		client = func() redis.UniversalClient { return cl.rc.Client(t) }
	} else {
		cl.srv = redistest.Start(t)
	}
	cl.rdb = client()
	for i := 0; i < n; i++ {
		cl.nodes = append(cl.nodes, newNode(t, client()))
	}
	return cl
}

// flushAll empties every master.
func (cl *cluster) flushAll(t testing.TB) {
	t.Helper()
	var err error
	if rc, ok := cl.rdb.(*redis.ClusterClient); ok {
		err = rc.ForEachMaster(bg(), func(ctx context.Context, c *redis.Client) error { return c.FlushAll(ctx).Err() })
	} else {
		err = cl.rdb.FlushAll(bg()).Err()
	}
	if err != nil {
		t.Fatal(err)
	}
}

// keys lists the keys matching pattern on every master.
func (cl *cluster) keys(t testing.TB, pattern string) []string {
	t.Helper()
	rc, ok := cl.rdb.(*redis.ClusterClient)
	if !ok {
		keys, err := cl.rdb.Keys(bg(), pattern).Result()
		if err != nil {
			t.Fatal(err)
		}
		return keys
	}
	var mu sync.Mutex
	var out []string
	err := rc.ForEachMaster(bg(), func(ctx context.Context, c *redis.Client) error {
		keys, err := c.Keys(ctx, pattern).Result()
		mu.Lock()
		out = append(out, keys...)
		mu.Unlock()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forTopologies runs f as a subtest on each topology.
func forTopologies(t *testing.T, f func(t *testing.T, topo string)) {
	for _, topo := range topologies {
		t.Run(topo, func(t *testing.T) { f(t, topo) })
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

// db is a tiny versioned store standing in for a database: a loader reads
// it, a writer bumps a row and then invalidates.
type db struct {
	mu    sync.Mutex
	rows  map[string]int
	reads atomic.Int64
}

func newDB() *db { return &db{rows: map[string]int{}} }

func (d *db) get(id string) int {
	d.reads.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.rows[id]
}

func (d *db) bump(id string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.rows[id]++
	return d.rows[id]
}

func bg() context.Context { return context.Background() }
