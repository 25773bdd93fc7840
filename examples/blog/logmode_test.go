package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/internal/pgtest"
	"github.com/matroska-go/matroska/internal/poll"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// The private PostgreSQL cluster of the test binary, started by the first
// test that needs it (the SQLite tests run without one) and stopped by
// TestMain.
var pg struct {
	once sync.Once
	srv  *pgtest.Server
	err  error
}

// postgresServer returns the private cluster, starting it on first use.
// No PostgreSQL is a failure, not a skip: CI installs it.
func postgresServer(t *testing.T) *pgtest.Server {
	t.Helper()
	pg.once.Do(func() { pg.srv, pg.err = pgtest.Launch() })
	if pg.err != nil {
		t.Fatal(pg.err)
	}
	return pg.srv
}

func stopPostgres() {
	if pg.srv != nil {
		pg.srv.Stop()
	}
}

// startLogNode starts one process of the service in log mode, as run does
// (its own database pool, cache node and consumer), with the feed's bound
// and the bus's heartbeat shortened so that the test runs in seconds.
func startLogNode(t *testing.T, dsn string, rdb redis.UniversalClient, id string) *client {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	cfg, err := loadConfig([]string{"-db", dsn, "-invalidate", "log"}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(cfg.DB)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	ccfg := cacheConfig(cfg, rdb, log)
	ccfg.NodeID, ccfg.TrustWindow, ccfg.Heartbeat = id, 400*time.Millisecond, 50*time.Millisecond
	cache, err := tiered.New(ccfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	s, err := newServer(db, cache, log, cfg.Invalidate)
	if err != nil {
		t.Fatal(err)
	}
	if s.plugin != nil || len(db.Config.Plugins) != 0 {
		t.Fatalf("log mode: the GORM plugin is installed (%v)", db.Config.Plugins)
	}
	pcfg := consumerConfig(cfg.DB, cache, s.articles, true, log)
	pcfg.Bound, pcfg.LockPoll, pcfg.LagInterval = 2*time.Second, 50*time.Millisecond, 100*time.Millisecond
	pcfg.RetryMin, pcfg.RetryMax = 10*time.Millisecond, 200*time.Millisecond
	consumer, err := pgcdc.New(pcfg)
	if err != nil {
		t.Fatal(err)
	}
	s.consumer = consumer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = consumer.Run(ctx)
	}()
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	t.Cleanup(func() { cancel(); <-done }) // first: before the cache closes
	return &client{t: t, url: srv.URL, db: db, cache: cache}
}

// ids reads a list and returns the ids in it.
func (c *client) ids(path string) ([]uint, string) {
	c.t.Helper()
	var arts []Article
	code, xc := c.do("GET", path, nil, &arts)
	if code != http.StatusOK {
		c.t.Fatalf("GET %s = %d", path, code)
	}
	got := make([]uint, 0, len(arts))
	for _, a := range arts {
		got = append(got, a.ID)
	}
	return got, xc
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

const patience = 15 * time.Second

// cachedList waits until node n serves the list at path from its cache
// with the ids want: a fresh value read afterwards then comes from an
// invalidation, not from a node that reads the database anyway.
func cachedList(t *testing.T, n *client, path string, want ...uint) {
	t.Helper()
	waitFor(t, patience, fmt.Sprintf("%s served %v from the cache", path, want), func() bool {
		got, xc := n.ids(path)
		return xc == "hit" && slices.Equal(got, want)
	})
}

// freshList waits until every node serves the list at path with the ids
// want.
func freshList(t *testing.T, nodes []*client, path string, want ...uint) {
	t.Helper()
	for i, n := range nodes {
		waitFor(t, patience, fmt.Sprintf("node %d serves %s = %v", i, path, want), func() bool {
			got, _ := n.ids(path)
			return slices.Equal(got, want)
		})
	}
}

// TestLogMode runs two processes of the service in log mode on one
// PostgreSQL and one Redis: each runs a consumer of the commit log (one
// streams, the other stands by) and follows its feed. Changes made in
// plain SQL, which no handler sees, and writes through the API, which no
// handler invalidates, reach the cached lists and articles of both nodes
// once the consumer has invalidated them; an article moved between
// categories, in SQL or through the API, leaves both category lists right.
func TestLogMode(t *testing.T) {
	dsn := postgresServer(t).CreateDB(t, "blog_log")
	rs := redistest.Start(t)
	a := startLogNode(t, dsn, rs.Client(t), "a")
	b := startLogNode(t, dsn, rs.Client(t), "b")
	nodes := []*client{a, b}
	psql := dialPG(t, dsn)

	var identity string
	psql.queryRow(t, []any{&identity}, "SELECT relreplident::text FROM pg_class WHERE oid = 'articles'::regclass")
	if identity != "f" {
		t.Fatalf("articles: replica identity %q, want f (FULL)", identity)
	}
	for i, n := range nodes {
		waitFor(t, patience, fmt.Sprintf("node %d follows a kept feed", i), func() bool { return n.cache.Ready(context.Background()) == nil })
	}

	// A write through the API: the handler invalidates nothing, the log
	// does.
	for _, n := range nodes {
		cachedList(t, n, "/articles?category=go")
	}
	python := a.create("Python", "go")
	freshList(t, nodes, "/articles?category=go", python)

	// An INSERT in plain SQL.
	for _, n := range nodes {
		cachedList(t, n, "/articles?category=rust")
	}
	var cache uint
	psql.queryRow(t, []any{&cache}, "INSERT INTO articles (title, category, created_at) VALUES ('Cache', 'rust', now()) RETURNING id")
	freshList(t, nodes, "/articles?category=rust", cache)

	// An UPDATE of a title in plain SQL reaches the article's own entry.
	path := fmt.Sprintf("/articles/%d", python)
	for i, n := range nodes {
		waitFor(t, patience, fmt.Sprintf("node %d serves %s from the cache", i, path), func() bool {
			var got Article
			code, xc := n.do("GET", path, nil, &got)
			return code == http.StatusOK && xc == "hit" && got.Title == "Python"
		})
	}
	psql.exec(t, "UPDATE articles SET title = 'Python!' WHERE id = $1", python)
	for i, n := range nodes {
		waitFor(t, patience, fmt.Sprintf("node %d serves the new title", i), func() bool {
			var got Article
			code, _ := n.do("GET", path, nil, &got)
			return code == http.StatusOK && got.Title == "Python!"
		})
	}

	// Moving an article in plain SQL drops the lists of both categories.
	for _, n := range nodes {
		cachedList(t, n, "/articles?category=go", python)
		cachedList(t, n, "/articles?category=rust", cache)
	}
	psql.exec(t, "UPDATE articles SET category = 'rust' WHERE id = $1", python)
	freshList(t, nodes, "/articles?category=go")
	freshList(t, nodes, "/articles?category=rust", python, cache)

	// And moving it back through the API.
	for _, n := range nodes {
		cachedList(t, n, "/articles?category=go")
		cachedList(t, n, "/articles?category=rust", python, cache)
	}
	if code, _ := b.do("PUT", path, map[string]string{"category": "go"}, nil); code != http.StatusOK {
		t.Fatalf("PUT %s: %d", path, code)
	}
	freshList(t, nodes, "/articles?category=go", python)
	freshList(t, nodes, "/articles?category=rust", cache)

	// A DELETE in plain SQL: the article is gone from its list and by id.
	for _, n := range nodes {
		cachedList(t, n, "/articles", python, cache)
	}
	psql.exec(t, "DELETE FROM articles WHERE id = $1", cache)
	freshList(t, nodes, "/articles", python)
	for i, n := range nodes {
		waitFor(t, patience, fmt.Sprintf("node %d: article %d not found", i, cache), func() bool {
			code, _ := n.do("GET", fmt.Sprintf("/articles/%d", cache), nil, nil)
			return code == http.StatusNotFound
		})
	}

	// One consumer streamed the slot, the other stood by.
	var sts []map[string]any
	for _, n := range nodes {
		var st struct {
			Log   map[string]any `json:"log"`
			Ready bool           `json:"ready"`
		}
		if code, _ := n.do("GET", "/stats", nil, &st); code != http.StatusOK || st.Log == nil {
			t.Fatalf("GET /stats = %d %+v", code, st)
		}
		sts = append(sts, st.Log)
	}
	if sts[0]["active"] == sts[1]["active"] {
		t.Errorf("consumers: %v and %v; want one active", sts[0], sts[1])
	}
}

// pgConn is a plain connection to the database, as psql would have.
type pgConn struct{ c *pgx.Conn }

func dialPG(t *testing.T, dsn string) *pgConn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &pgConn{c: c}
}

func (p *pgConn) exec(t *testing.T, sql string, args ...any) {
	t.Helper()
	if _, err := p.c.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (p *pgConn) queryRow(t *testing.T, dst []any, sql string, args ...any) {
	t.Helper()
	if err := p.c.QueryRow(context.Background(), sql, args...).Scan(dst...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
