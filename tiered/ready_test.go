package tiered_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// subVia sends commands to Redis directly and subscribes through another
// client (a fault proxy's), so that the bus can lose Redis while commands
// still reach it.
type subVia struct {
	*redis.Client
	sub *redis.Client
}

func (c subVia) Subscribe(ctx context.Context, channels ...string) *redis.PubSub {
	return c.sub.Subscribe(ctx, channels...)
}

// TestReady: nil while Redis answers and the bus is in sync; ErrNotSynced
// alone when only the subscription is silent; ErrUnavailable when Redis
// does not answer; nil again once both are back. A one-process cache is
// always ready; a closed or nil one says so.
func TestReady(t *testing.T) {
	one := newNode(t, nil)
	if err := one.Ready(bg()); err != nil {
		t.Fatalf("one-process cache: Ready = %v", err)
	}

	srv := redistest.Start(t)
	p := newProxy(t, srv.Addr())
	rdb := subVia{Client: srv.Client(t), sub: proxyClient(t, srv, p)}
	c := newNode(t, rdb, func(cfg *tiered.Config) {
		cfg.TrustWindow, cfg.Heartbeat = 600*time.Millisecond, 100*time.Millisecond
	})
	if err := c.Ready(bg()); err != nil {
		t.Fatalf("healthy node: Ready = %v", err)
	}

	p.Freeze() // the subscription hears nothing; commands still go through
	waitFor(t, 5*time.Second, "Ready reports the silent bus", func() bool {
		return errors.Is(c.Ready(bg()), matroska.ErrNotSynced)
	})
	if err := c.Ready(bg()); errors.Is(err, matroska.ErrUnavailable) {
		t.Fatalf("Redis answers, yet Ready = %v", err)
	}
	p.Thaw()
	waitFor(t, 5*time.Second, "Ready once the bus is back", func() bool { return c.Ready(bg()) == nil })

	srv.Kill()
	err := c.Ready(bg())
	if !errors.Is(err, matroska.ErrUnavailable) {
		t.Fatalf("Redis down: Ready = %v, want ErrUnavailable", err)
	}
	t.Logf("Redis down: %v", err)
	srv.Restart(t)
	waitFor(t, 10*time.Second, "Ready once Redis is back", func() bool { return c.Ready(bg()) == nil })

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(bg()); !errors.Is(err, matroska.ErrClosed) {
		t.Fatalf("closed: Ready = %v", err)
	}
	var nilCache *tiered.Cache
	if err := nilCache.Ready(bg()); !errors.Is(err, matroska.ErrNilCache) {
		t.Fatalf("nil: Ready = %v", err)
	}
}
