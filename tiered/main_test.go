package tiered_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

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
	if rdb != nil {
		waitFor(t, 5*time.Second, "node trusts L1", c.Trusted)
	}
	return c
}

// cluster is several nodes on one private Redis.
type cluster struct {
	srv   *redistest.Server
	rdb   *redis.Client
	nodes []*tiered.Cache
}

func newCluster(t testing.TB, n int) *cluster {
	t.Helper()
	srv := redistest.Start(t)
	cl := &cluster{srv: srv, rdb: srv.Client(t)}
	for i := 0; i < n; i++ {
		cl.nodes = append(cl.nodes, newNode(t, srv.Client(t)))
	}
	return cl
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
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
