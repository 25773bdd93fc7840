package redistest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// configGet returns one CONFIG GET value of the server.
func configGet(t *testing.T, c *redis.Client, key string) string {
	t.Helper()
	m, err := c.ConfigGet(context.Background(), key).Result()
	if err != nil {
		t.Fatalf("CONFIG GET %s: %v", key, err)
	}
	return m[key]
}

func TestPersistenceArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want map[string]string
	}{
		{"default", nil, map[string]string{"save": "", "appendonly": "no"}},
		{"rdb", []string{"--save", "3600 1"}, map[string]string{"save": "3600 1", "appendonly": "no"}},
		{"aof", []string{"--appendonly", "yes", "--appendfsync", "everysec"},
			map[string]string{"save": "", "appendonly": "yes", "appendfsync": "everysec"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Start(t, tc.args...).Client(t)
			for k, want := range tc.want {
				if got := configGet(t, c, k); got != want {
					t.Errorf("CONFIG GET %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// get returns GET key, or "(nil)".
func get(t *testing.T, c redis.Cmdable, key string) string {
	t.Helper()
	v, err := c.Get(context.Background(), key).Result()
	if errors.Is(err, redis.Nil) {
		return "(nil)"
	}
	if err != nil {
		t.Fatalf("GET %s: %v", key, err)
	}
	return v
}

func set(t *testing.T, c redis.Cmdable, key, value string) {
	t.Helper()
	if err := c.Set(context.Background(), key, value, 0).Err(); err != nil {
		t.Fatalf("SET %s %s: %v", key, value, err)
	}
}

// An RDB snapshot survives a crash; what was written after it does not.
func TestRestartLoadsSnapshot(t *testing.T) {
	srv := Start(t)
	c := srv.Client(t)
	set(t, c, "k", "1")
	srv.Save(t)
	set(t, c, "k", "2")
	dir, port := srv.Dir(), srv.Port()
	srv.Kill()
	srv.Restart(t)
	if srv.Dir() != dir || srv.Port() != port {
		t.Fatalf("restarted in %s on %d, want %s on %d", srv.Dir(), srv.Port(), dir, port)
	}
	if v := get(t, c, "k"); v != "1" {
		t.Fatalf("after restart GET k = %s, want 1 (the snapshot)", v)
	}
}

// An AOF server loses nothing to a kill, and CopyDir / RestartFrom bring it
// back older, as a machine crash losing the unsynced tail would.
func TestRestartLoadsAOF(t *testing.T) {
	// "always": the AOF is written before each reply, so the test does not
	// depend on an fsync schedule.
	srv := Start(t, "--appendonly", "yes", "--appendfsync", "always")
	c := srv.Client(t)
	set(t, c, "k", "1")
	image := srv.CopyDir(t)
	set(t, c, "k", "2")
	srv.Kill()
	srv.Restart(t)
	if v := get(t, c, "k"); v != "2" {
		t.Fatalf("after kill and restart GET k = %s, want 2", v)
	}
	srv.RestartFrom(t, image)
	if v := get(t, c, "k"); v != "1" {
		t.Fatalf("after RestartFrom GET k = %s, want 1 (the disk image)", v)
	}
	if got := configGet(t, c, "appendonly"); got != "yes" {
		t.Fatalf("appendonly = %q after RestartFrom", got)
	}
}

func TestPauseResume(t *testing.T) {
	srv := Start(t)
	c := srv.Client(t)
	set(t, c, "k", "1")

	srv.Pause(t)
	if srv.Running() {
		t.Fatal("Running after Pause")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := c.Get(ctx, "k").Err()
	cancel()
	if err == nil {
		t.Fatal("a paused server answered GET")
	}
	srv.Resume(t)
	if !srv.Running() {
		t.Fatal("not Running after Resume")
	}
	if v := get(t, c, "k"); v != "1" {
		t.Fatalf("after Resume GET k = %s, want 1", v)
	}

	// Kill and Restart work on a paused server.
	srv.Pause(t)
	start := time.Now()
	srv.Kill()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Kill of a paused server took %v", d)
	}
	srv.Restart(t)
	if err := c.Ping(context.Background()).Err(); err != nil {
		t.Fatalf("PING after Restart of a paused server: %v", err)
	}

	// Left paused: the Cleanup's Stop must not hang on it.
	srv.Pause(t)
}
