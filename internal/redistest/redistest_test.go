package redistest

import (
	"context"
	"fmt"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestStartKillRestart(t *testing.T) {
	srv := Start(t)
	c := srv.Client(t)
	ctx := context.Background()
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	srv.Kill()
	if err := c.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered after Kill")
	}
	srv.Restart(t)
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after Restart: %v", err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("restarted server is not empty: n=%d err=%v", n, err)
	}
}

func TestPassword(t *testing.T) {
	srv := Start(t, "--requirepass", "s3cret")
	if err := srv.Client(t).Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING with password: %v", err)
	}
}

func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3)
	cl := c.Client(t)
	ctx := context.Background()
	// Keys in different slots land on different masters, all reachable.
	masters := map[string]bool{}
	for i := range 60 {
		k := fmt.Sprintf("k%d", i)
		if err := cl.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
		slot, err := cl.ClusterKeySlot(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		masters[fmt.Sprint(slot*3/16384)] = true
	}
	if len(masters) != 3 {
		t.Fatalf("keys reached %d of 3 masters", len(masters))
	}
	if err := cl.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error {
		n, err := m.DBSize(ctx).Result()
		if err == nil && n == 0 {
			err = fmt.Errorf("master %s holds no key", m.Options().Addr)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
