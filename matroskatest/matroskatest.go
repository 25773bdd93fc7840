// Package matroskatest helps test code that uses the cache: a one-process
// cache on a clock the test moves, for the TTL, refresh and stale-if-error
// behaviour of that code, and private redis-server processes (standalone
// or a Redis Cluster) for integration tests against real Redis.
//
// The servers need the redis-server binary on $PATH (or in
// $REDIS_SERVER); a test that starts one without it fails with a message
// that says so. Each listens on a free loopback port, persists nothing, and
// stops when the test ends.
package matroskatest

import (
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// Clock is a clock the test moves: it stands still until Advance. It is
// safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a Clock at the current time.
func NewClock() *Clock { return &Clock{now: time.Now()} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (a negative d is ignored: the
// cache's clock never goes back).
func (c *Clock) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// New returns a one-process cache (no Redis) whose expiries, refreshes and
// stale-if-error times follow clock, closed when the test ends. Its TTLs
// are exact (no Jitter), so that a test knows when an entry expires. edit,
// if any, changes the Config before New (its Redis and Clock are set here).
func New(tb testing.TB, clock *Clock, edit ...func(*tiered.Config)) *tiered.Cache {
	tb.Helper()
	cfg := tiered.Config{Jitter: -1}
	for _, e := range edit {
		e(&cfg)
	}
	cfg.Redis, cfg.Clock = nil, clock
	c, err := tiered.New(cfg)
	if err != nil {
		tb.Fatalf("matroskatest: %v", err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// Redis is a private redis-server.
type Redis struct{ s *redistest.Server }

// StartRedis starts a redis-server for the test, with the extra
// command-line args (for example "--maxmemory", "8mb"), and waits until it
// answers.
func StartRedis(tb testing.TB, args ...string) *Redis {
	tb.Helper()
	return &Redis{s: redistest.Start(tb, args...)}
}

// Addr is the server's address, "127.0.0.1:port".
func (r *Redis) Addr() string { return r.s.Addr() }

// Options are go-redis options for the server, with ContextTimeoutEnabled
// set as tiered.New requires.
func (r *Redis) Options() *redis.Options { return r.s.Options() }

// Client returns a new client of the server, closed when the test ends.
func (r *Redis) Client(tb testing.TB) *redis.Client { return r.s.Client(tb) }

// Kill stops the server at once, as a crash would; Restart starts it
// again on the same port.
func (r *Redis) Kill() { r.s.Kill() }

// Restart starts a killed server again on its port (empty: it persists
// nothing), and waits until it answers.
func (r *Redis) Restart(tb testing.TB) { r.s.Restart(tb) }

// Cluster is a private Redis Cluster.
type Cluster struct{ c *redistest.Cluster }

// StartCluster starts a Redis Cluster of masters masters (3 if fewer than
// 1), its slots in equal ranges, and waits until every node agrees on them.
func StartCluster(tb testing.TB, masters int, args ...string) *Cluster {
	tb.Helper()
	return &Cluster{c: redistest.StartCluster(tb, masters, args...)}
}

// Addrs are the addresses of the masters.
func (c *Cluster) Addrs() []string { return c.c.Addrs() }

// Options are go-redis cluster options for the cluster, with
// ContextTimeoutEnabled set.
func (c *Cluster) Options() *redis.ClusterOptions { return c.c.Options() }

// Client returns a new cluster client, closed when the test ends.
func (c *Cluster) Client(tb testing.TB) *redis.ClusterClient { return c.c.Client(tb) }
