package matroskatest_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/matroskatest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var bg = context.Background()

// counter is a loader that returns how many times it ran, or fails while
// *fail is set.
func counter(n *atomic.Int64, fail *atomic.Bool) matroska.LoadFunc[int64] {
	return func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
		if fail != nil && fail.Load() {
			return 0, errors.New("source down")
		}
		rec.Depend(deps.Tag("t"))
		return n.Add(1), nil
	}
}

// TestClockMovesExpiry: the TTL, RefreshAfter and StaleIfError of the
// cache follow the test's clock, not the wall clock.
func TestClockMovesExpiry(t *testing.T) {
	clock := matroskatest.NewClock()
	c := matroskatest.New(t, clock)
	var n atomic.Int64
	var fail atomic.Bool
	load := counter(&n, &fail)
	get := func(opts ...matroska.Option) (int64, error) { return matroska.GetOrLoad(bg, c, "k", load, opts...) }

	ttl := matroska.TTL(time.Minute)
	if v, err := get(ttl); v != 1 || err != nil {
		t.Fatal(v, err)
	}
	clock.Advance(59 * time.Second)
	if v, _ := get(ttl); v != 1 {
		t.Fatalf("before the TTL on the test's clock: %d, want the cached 1", v)
	}
	clock.Advance(2 * time.Second)
	if v, _ := get(ttl); v != 2 {
		t.Fatalf("past the TTL on the test's clock: %d, want a new load", v)
	}

	// RefreshAfter: a hit past it serves the entry and refreshes it.
	opts := []matroska.Option{matroska.TTL(time.Minute), matroska.RefreshAfter(10 * time.Second)}
	if v, _ := matroska.GetOrLoad(bg, c, "r", load, opts...); v != 3 {
		t.Fatal(v)
	}
	clock.Advance(11 * time.Second)
	if v, _ := matroska.GetOrLoad(bg, c, "r", load, opts...); v != 3 {
		t.Fatalf("a due hit: %d, want the entry while it is refreshed", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().RefreshesStored != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("no refresh stored: %+v", c.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if v, _ := matroska.GetOrLoad(bg, c, "r", load, opts...); v != 4 {
		t.Fatalf("after the refresh: %d, want 4", v)
	}

	// StaleIfError: past the TTL, a failing loader is answered with the
	// kept value.
	opts = []matroska.Option{matroska.TTL(time.Minute), matroska.StaleIfError(time.Minute)}
	if v, _ := matroska.GetOrLoad(bg, c, "s", load, opts...); v != 5 {
		t.Fatal(v)
	}
	clock.Advance(90 * time.Second)
	fail.Store(true)
	if v, err := matroska.GetOrLoad(bg, c, "s", load, opts...); v != 5 || err != nil {
		t.Fatalf("a failed load within StaleIfError: %d, %v; want the kept 5", v, err)
	}
	clock.Advance(time.Minute)
	if _, err := matroska.GetOrLoad(bg, c, "s", load, opts...); err == nil {
		t.Fatal("a failed load past StaleIfError answered")
	}
}

// TestServers: the starters give real Redis deployments that tiered
// nodes share; a Clock with Redis is refused.
func TestServers(t *testing.T) {
	r := matroskatest.StartRedis(t)
	cl := matroskatest.StartCluster(t, 3)
	for name, clients := range map[string][2]tiered.Config{
		"standalone": {{Redis: r.Client(t)}, {Redis: r.Client(t)}},
		"cluster":    {{Redis: cl.Client(t)}, {Redis: cl.Client(t)}},
	} {
		var n atomic.Int64
		for i, cfg := range clients {
			c, err := tiered.New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if v, err := matroska.GetOrLoad(bg, c, "k", counter(&n, nil)); v != 1 || err != nil {
				t.Fatalf("%s node %d: %d, %v; want the entry loaded once", name, i, v, err)
			}
		}
	}
	if _, err := tiered.New(tiered.Config{Redis: r.Client(t), Clock: matroskatest.NewClock()}); !errors.Is(err, tiered.ErrConfig) {
		t.Fatalf("a Clock with Redis: %v, want ErrConfig", err)
	}
}

// A test of code that caches a value for a minute moves the clock instead
// of sleeping.
func ExampleNew() {
	t := &testing.T{} // in a test: the test's own *testing.T
	clock := matroskatest.NewClock()
	cache := matroskatest.New(t, clock)
	loads := 0
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) { loads++; return loads, nil }
	v1, _ := matroska.GetOrLoad(context.Background(), cache, "k", load, matroska.TTL(time.Minute))
	clock.Advance(2 * time.Minute)
	v2, _ := matroska.GetOrLoad(context.Background(), cache, "k", load, matroska.TTL(time.Minute))
	fmt.Println(v1, v2)
	_ = cache.Close()
	// Output: 1 2
}
