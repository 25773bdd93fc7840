package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/remote"
	"github.com/matroska-go/matroska/tiered"
)

// safeBuffer is a bytes.Buffer for a writer and a reader on two goroutines.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestOperatorCommands(t *testing.T) {
	for _, topo := range []string{"standalone", "cluster"} {
		t.Run(topo, func(t *testing.T) { testOperatorCommands(t, topo) })
	}
}

// redisOn starts a private Redis of topology topo ("standalone" or
// "cluster") and returns a client and the address the CLI takes.
func redisOn(t *testing.T, topo string) (rdb redis.UniversalClient, addr string) {
	t.Helper()
	if topo == "cluster" {
		rc := redistest.StartCluster(t, 3)
		return rc.Client(t), strings.Join(rc.Addrs(), ",")
	}
	srv := redistest.Start(t)
	return srv.Client(t), srv.Addr()
}

func testOperatorCommands(t *testing.T, topo string) {
	rdb, addr := redisOn(t, topo)
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{Redis: rdb, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	_, err = matroska.GetOrLoad(ctx, cache, "articles:published", func(context.Context, *matroska.Recorder) ([]string, error) {
		return []string{"Python", "Cache"}, nil
	}, matroska.Depend(deps.Id("article", 1), deps.Tag("home")), matroska.RefreshAfter(time.Minute), matroska.TTL(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	common := []string{"-redis", addr, "-namespace", "shop"}
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		a := append([]string{args[0]}, common...)
		err := run(append(a, args[1:]...), &out)
		return out.String(), err
	}
	expect := func(out string, err error, want ...string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("output lacks %q:\n%s", w, out)
			}
		}
	}

	out, err := cmd("inspect", "key", "articles:published")
	expect(out, err, "shop:e:articles:published", "fresh    for 59m", "refresh  due in 59", "deps     2", "id:article:1  indexed", "tag:home  indexed", `"[\"Python\",\"Cache\"]"`)
	// An entry whose dependency set was lost reads as a miss: inspect says so.
	store, err := remote.New(remote.Config{Redis: rdb, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rdb.Del(ctx, store.DepKey(deps.Tag("home"))).Err(); err != nil {
		t.Fatal(err)
	}
	out, err = cmd("inspect", "key", "articles:published")
	expect(out, err, "id:article:1  indexed", "tag:home  NOT INDEXED")
	out, err = cmd("inspect", "dep", "id:article:1")
	expect(out, err, "entries  1", "articles:published  expires in")
	out, err = cmd("stats")
	expect(out, err, "namespace      shop", "entries        1", "dependencies   1", "subscribers    1 on ")

	// watch sees the invalidation made from the shell, and the cache drops
	// its copy.
	watched := &safeBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(append(append([]string{"watch"}, common...), "-count", "1"), watched)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(watched.String(), "watching ") {
		if time.Now().After(deadline) {
			t.Fatalf("watch did not start: %s", watched.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	out, err = cmd("invalidate", "id:article:1")
	expect(out, err, "invalidated 1 dependency at sequence")
	select {
	case err := <-done:
		expect(watched.String(), err, "from cli@", "id:article:1")
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not print the invalidation")
	}
	if _, err := cmd("inspect", "key", "articles:published"); !errors.Is(err, errNotFoundHere) {
		t.Fatalf("the entry survived the invalidation: %v", err)
	}
	for time.Now().Before(deadline) && cache.Stats().InvalidationsApplied == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := matroska.Get[[]string](ctx, cache, "articles:published"); !errors.Is(err, matroska.ErrMiss) {
		t.Fatalf("the node still serves the entry: %v", err)
	}
}

func TestOperatorErrors(t *testing.T) {
	srv := redistest.Start(t)
	dead := redistest.Start(t)
	deadAddr := dead.Addr()
	dead.Stop()
	for _, c := range []struct {
		name string
		args []string
		want error
	}{
		{"no redis", []string{"stats", "-redis", deadAddr}, errNoRedis},
		{"bad url", []string{"stats", "-redis", "redis://:x@[::1"}, errUsage},
		{"wrong namespace", []string{"stats", "-redis", srv.Addr(), "-namespace", "nope"}, errNoNamespace},
		{"bad dependency", []string{"invalidate", "-redis", srv.Addr(), "article:1"}, errUsage},
		{"no dependency", []string{"invalidate", "-redis", srv.Addr()}, errUsage},
		{"bad inspect", []string{"inspect", "-redis", srv.Addr(), "entry", "x"}, errUsage},
		{"bad flag", []string{"stats", "-nope"}, errUsage},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(c.args, &out); !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
		})
	}
}

func TestOperatorErrorsHidePasswords(t *testing.T) {
	srv := redistest.Start(t)
	dead := srv.Addr()
	srv.Stop()
	var out bytes.Buffer
	err := run([]string{"stats", "-redis", "redis://app:s3cret@" + dead}, &out)
	if !errors.Is(err, errNoRedis) {
		t.Fatalf("err = %v", err)
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("the error shows the password: %v", err)
	}
}
