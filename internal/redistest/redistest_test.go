package redistest

import (
	"context"
	"testing"
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
