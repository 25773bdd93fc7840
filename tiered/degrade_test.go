package tiered_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// TestG9_SlowRedis: every Redis reply is delayed past RedisTimeout; calls
// answer from the loader within the timeout budget, and the breaker then
// stops waiting on Redis altogether.
func TestG9_SlowRedis(t *testing.T) {
	srv := redistest.Start(t)
	proxy := newProxy(t, srv.Addr())
	c := newNode(t, proxyClient(t, srv, proxy), func(cfg *tiered.Config) {
		cfg.RedisTimeout = 100 * time.Millisecond
		cfg.BreakerCooldown = time.Minute
	})
	var n atomic.Int64
	proxy.Delay(400 * time.Millisecond)
	var slowest time.Duration
	for i := 0; i < 10; i++ {
		start := time.Now()
		v, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 42, deps.Tag("t")))
		if err != nil || v != 42 {
			t.Fatalf("call %d with slow Redis: %d, %v", i, v, err)
		}
		slowest = max(slowest, time.Since(start))
	}
	// Each call may wait for the Redis read (100ms) and the put (100ms) until
	// the breaker opens; none waits for Redis's 800ms round trip.
	if slowest > 500*time.Millisecond {
		t.Fatalf("slowest call took %v with RedisTimeout 100ms", slowest)
	}
	if c.Stats().BreakerOpens == 0 {
		t.Fatal("the breaker never opened")
	}
	start := time.Now()
	if _, err := matroska.GetOrLoad(bg(), c, "k2", counted(&n, 1, deps.Tag("t"))); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Fatalf("with the breaker open a call still waited %v", d)
	}
	t.Logf("slowest call %v; %d loader calls; stats %+v", slowest, n.Load(), c.Stats())
}

func TestLoadTimeoutBoundsTheSharedLoad(t *testing.T) {
	c := newNode(t, nil, func(cfg *tiered.Config) { cfg.LoadTimeout = 50 * time.Millisecond })
	start := time.Now()
	_, err := matroska.GetOrLoad(bg(), c, "k", func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		<-ctx.Done()
		return 0, ctx.Err()
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the load's deadline", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("load ran %v past a 50ms LoadTimeout", d)
	}
}

func TestTTLJitter(t *testing.T) {
	cl := newCluster(t, 0)
	c := newNode(t, cl.rdb, func(cfg *tiered.Config) { cfg.Jitter = 0.5 })
	seen := map[time.Duration]bool{}
	for i := 0; i < 20; i++ {
		key := "k" + string(rune('a'+i))
		if err := c.Set(bg(), key, i, matroska.TTL(100*time.Second)); err != nil {
			t.Fatal(err)
		}
		ttl, err := cl.rdb.PTTL(bg(), "t:e:"+key).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < 49*time.Second || ttl > 100*time.Second {
			t.Fatalf("TTL %v outside [50s, 100s] for Jitter 0.5", ttl)
		}
		seen[ttl.Round(time.Second)] = true
	}
	if len(seen) < 5 {
		t.Fatalf("TTLs barely vary: %v", seen)
	}
	if err := c.Set(bg(), "exact", 1, matroska.TTL(100*time.Second), matroska.NoJitter()); err != nil {
		t.Fatal(err)
	}
	if ttl := cl.rdb.PTTL(bg(), "t:e:exact").Val(); ttl < 99*time.Second {
		t.Fatalf("NoJitter TTL %v", ttl)
	}
}

func TestCloseIsIdempotentAndFinal(t *testing.T) {
	for _, mode := range []string{"redis", "one-process"} {
		t.Run(mode, func(t *testing.T) {
			cfg := testConfig(nil)
			if mode == "redis" {
				cfg = testConfig(redistest.Start(t).Client(t))
			}
			c, err := tiered.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			var n atomic.Int64
			if _, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 1, deps.Tag("t"))); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if err := c.Close(); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("second Close: %v, want ErrClosed", err)
			}
			if _, err := matroska.GetOrLoad(bg(), c, "k", counted(&n, 1, deps.Tag("t"))); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("GetOrLoad after Close: %v", err)
			}
			if err := c.Invalidate(bg(), deps.Tag("t")); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("Invalidate after Close: %v", err)
			}
			if err := c.Set(bg(), "k", 1); !errors.Is(err, tiered.ErrClosed) {
				t.Fatalf("Set after Close: %v", err)
			}
		})
	}
}

// TestCallerLeavesDuringTheL2Read: the caller that starts a shared load
// reads Redis on its own goroutine. When its context ends during that read
// it leaves with its context's error at once; that is not a Redis failure
// (the breaker does not count it), and a caller that joined the load still
// gets the value: the load reads again, without the caller that left,
// instead of calling the loader.
func TestCallerLeavesDuringTheL2Read(t *testing.T) {
	srv := redistest.Start(t)
	proxy := newProxy(t, srv.Addr())
	writer := newNode(t, srv.Client(t))
	reader := newNode(t, proxyClient(t, srv, proxy), func(cfg *tiered.Config) {
		cfg.RedisTimeout = 2 * time.Second
		cfg.TrustWindow = 5 * time.Second
		cfg.BreakerThreshold = 1
	})
	var n atomic.Int64
	load := counted(&n, 42, deps.Tag("t"))
	if v, err := matroska.GetOrLoad(bg(), writer, "k", load); err != nil || v != 42 {
		t.Fatal(v, err)
	}
	proxy.Delay(300 * time.Millisecond)
	ctx, cancel := context.WithTimeout(bg(), 50*time.Millisecond)
	defer cancel()
	type answer struct {
		v   int
		err error
	}
	joined := make(chan answer, 1)
	go func() {
		time.Sleep(10 * time.Millisecond) // the caller above has started the load
		v, err := matroska.GetOrLoad(bg(), reader, "k", load)
		joined <- answer{v, err}
	}()
	start := time.Now()
	_, err := matroska.GetOrLoad(ctx, reader, "k", load)
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, tiered.ErrUnavailable) {
		t.Fatalf("the caller whose context ended got %v after %v, want its deadline alone; stats %+v", err, time.Since(start), reader.Stats())
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("the caller left %v after a 50ms deadline: it waited for Redis", d)
	}
	if a := <-joined; a.err != nil || a.v != 42 {
		t.Fatalf("the caller that joined got %d, %v", a.v, a.err)
	}
	s := reader.Stats()
	if s.BreakerOpens != 0 || s.Degraded != 0 || n.Load() != 1 {
		t.Fatalf("breaker opens %d, degraded %d, loader calls %d: want 0, 0, 1 (the writer's)", s.BreakerOpens, s.Degraded, n.Load())
	}
	if s.Shared == 0 {
		t.Fatal("the second caller did not join the load")
	}
}
