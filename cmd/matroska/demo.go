package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/globs"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// The demo's "database": articles and their authors.
type Author struct {
	ID   int    `json:"id"`
	Name string `json:"name"`
}

type Article struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Author Author `json:"author"`
}

type database struct {
	mu      sync.Mutex
	authors map[int]string
	queries int
}

func (db *database) articles(ctx context.Context) []Article {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.queries++
	a := Author{ID: 1, Name: db.authors[1]}
	return []Article{{1, "Python", a}, {2, "Cache", a}}
}

func (db *database) rename(id int, name string) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.authors[id] = name
}

// connect returns the Redis client the demo uses and a description, or a nil
// client for one-process mode.
func connect(out io.Writer) (redis.UniversalClient, func(), error) {
	if url := os.Getenv("REDIS_URL"); url != "" {
		opts, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		opts.ContextTimeoutEnabled = true
		fmt.Fprintf(out, "redis: %s (from $REDIS_URL)\n", opts.Addr)
		c := redis.NewClient(opts)
		return c, func() { _ = c.Close() }, nil
	}
	dir, err := os.MkdirTemp("", "matroska-demo-")
	if err != nil {
		return nil, nil, err
	}
	srv, err := redistest.Launch(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		fmt.Fprintf(out, "redis: none (%v)\n", err)
		fmt.Fprintln(out, "running in ONE-PROCESS mode: one L1, invalidations applied in-process; set $REDIS_URL or install redis-server to see nodes share Redis")
		return nil, func() {}, nil
	}
	fmt.Fprintf(out, "redis: private redis-server on %s (no $REDIS_URL set)\n", srv.Addr())
	c := redis.NewClient(srv.Options())
	return c, func() { _ = c.Close(); srv.Stop(); _ = os.RemoveAll(dir) }, nil
}

func demo(out io.Writer) error {
	// Ctrl-C ends the demo through its normal exit, so that it still
	// removes its keys.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	rdb, cleanup, err := connect(out)
	if err != nil {
		return err
	}
	defer cleanup()

	var ns [4]byte
	_, _ = rand.Read(ns[:])
	namespace := "demo-" + hex.EncodeToString(ns[:])
	if rdb != nil {
		// Deferred before the nodes are made, so it runs after they are
		// closed: the demo leaves no key of its namespace behind in a
		// Redis it was pointed at (no other key is touched).
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			n, err := dropNamespace(cctx, rdb, namespace)
			if err != nil {
				fmt.Fprintf(out, "\ncould not remove the keys of namespace %q: %v\n", namespace, err)
				return
			}
			fmt.Fprintf(out, "\nremoved the %d keys of namespace %q\n", n, namespace)
		}()
	}
	names := []string{"A", "B", "C"}
	if rdb == nil {
		names = names[:1]
	}
	nodes := make([]*tiered.Cache, len(names))
	for i := range nodes {
		c, err := tiered.New(tiered.Config{Redis: rdb, Namespace: namespace, NodeID: "node-" + names[i]})
		if err != nil {
			return err
		}
		defer c.Close()
		nodes[i] = c
	}
	fmt.Fprintf(out, "%d node(s), namespace %q\n\n", len(nodes), namespace)

	db := &database{authors: map[int]string{1: "kolypto"}}
	const key = "articles-list"
	load := func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
		arts := db.articles(ctx)
		for _, a := range arts {
			rec.Depend(deps.Id("article", a.ID), deps.Id("author", a.Author.ID))
		}
		return arts, nil
	}
	read := func(i int) error {
		c := nodes[i]
		before := c.Stats()
		start := time.Now()
		arts, err := matroska.GetOrLoad(ctx, c, key, load, matroska.TTL(time.Minute))
		if err != nil {
			return err
		}
		took := time.Since(start)
		fmt.Fprintf(out, "  node %s  GetOrLoad(%q) -> author %-10q %-28s %v\n",
			names[i], key, arts[0].Author.Name, tier(before, c.Stats()), took.Round(time.Microsecond))
		return nil
	}

	fmt.Fprintln(out, "1. every node reads the list twice")
	for round := 0; round < 2; round++ {
		for i := range nodes {
			if err := read(i); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "   database queries so far: %d\n\n", db.queries)

	fmt.Fprintln(out, "2. author 1 is renamed; node A commits and invalidates deps.Id(\"author\", 1)")
	db.rename(1, "Mark")
	start := time.Now()
	if err := nodes[0].Invalidate(ctx, deps.Id("author", 1)); err != nil {
		return err
	}
	where := "A's L1 and Redis no longer hold"
	if rdb == nil {
		where = "A's L1 no longer holds"
	}
	fmt.Fprintf(out, "  node A  Invalidate returned after %v: %s the list\n", time.Since(start).Round(time.Microsecond), where)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 1; i < len(nodes); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				if !nodes[i].InL1(key) {
					mu.Lock()
					fmt.Fprintf(out, "  node %s  dropped its L1 copy %v after the invalidation began (pub/sub)\n", names[i], time.Since(start).Round(time.Microsecond))
					mu.Unlock()
					return
				}
				time.Sleep(50 * time.Microsecond)
			}
			mu.Lock()
			fmt.Fprintf(out, "  node %s  did not drop its copy within 5s\n", names[i])
			mu.Unlock()
		}()
	}
	wg.Wait()
	fmt.Fprintln(out)

	fmt.Fprintln(out, "3. every node reads again")
	for i := range nodes {
		if err := read(i); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "   database queries in all: %d\n\n", db.queries)

	fmt.Fprintln(out, "stats:")
	for i, c := range nodes {
		s := c.Stats()
		fmt.Fprintf(out, "  node %s  L1 hits %d, L2 hits %d, loads %d, invalidations sent %d, applied %d\n",
			names[i], s.L1Hits, s.L2Hits, s.Loads, s.InvalidationsSent, s.InvalidationsApplied)
	}
	return nil
}

// tier says which tier answered, from the difference of two Stats.
func tier(before, after tiered.Stats) string {
	var parts []string
	switch {
	case after.L1Hits > before.L1Hits:
		parts = append(parts, "L1 hit")
	case after.L2Hits > before.L2Hits:
		parts = append(parts, "L2 hit (Redis), now in L1")
	case after.Loads > before.Loads:
		parts = append(parts, "miss: loaded from the database")
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// dropNamespace deletes every key of namespace ns (the names start with
// "ns:" or, under the cluster protocol, "{ns}:"), on every master of a
// cluster, with SCAN and UNLINK, and returns how many it deleted.
func dropNamespace(ctx context.Context, rdb redis.UniversalClient, ns string) (int, error) {
	var mu sync.Mutex
	total := 0
	each := func(ctx context.Context, c redis.UniversalClient) error {
		for _, pattern := range []string{globs.Escape(ns) + ":*", globs.Escape("{"+ns+"}") + ":*"} {
			iter := c.Scan(ctx, 0, pattern, 1000).Iterator()
			var batch []string
			flush := func() error {
				if len(batch) == 0 {
					return nil
				}
				n, err := c.Unlink(ctx, batch...).Result()
				mu.Lock()
				total += int(n)
				mu.Unlock()
				batch = batch[:0]
				return err
			}
			for iter.Next(ctx) {
				if batch = append(batch, iter.Val()); len(batch) == 500 {
					if err := flush(); err != nil {
						return err
					}
				}
			}
			if err := iter.Err(); err != nil {
				return err
			}
			if err := flush(); err != nil {
				return err
			}
		}
		return nil
	}
	var err error
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return each(ctx, m) })
	} else {
		err = each(ctx, rdb)
	}
	return total, err
}
