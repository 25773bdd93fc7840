package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
	"gorm.io/gorm"

	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) {
	code := m.Run()
	stopPostgres()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// client drives the service over HTTP and counts the queries that reach
// the database.
type client struct {
	t       *testing.T
	url     string
	queries *atomic.Int64
	db      *gorm.DB
	cache   *tiered.Cache
}

func start(t *testing.T, cfg tiered.Config) *client {
	t.Helper()
	return startLogged(t, cfg, slog.New(slog.DiscardHandler))
}

// startLogged is start with the service logging to log.
func startLogged(t *testing.T, cfg tiered.Config, log *slog.Logger) *client {
	t.Helper()
	return startOn(t, filepath.Join(t.TempDir(), "blog.db"), cfg, log)
}

// startOn starts the service in handlers mode on the database dsn: a
// SQLite file or a postgres:// URL.
func startOn(t *testing.T, dsn string, cfg tiered.Config, log *slog.Logger) *client {
	t.Helper()
	db, err := openDB(dsn)
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	t.Cleanup(func() { _ = sqlDB.Close() })
	var queries atomic.Int64
	if err := db.Callback().Query().Before("gorm:query").Register("test:count", func(*gorm.DB) { queries.Add(1) }); err != nil {
		t.Fatal(err)
	}
	cache, err := tiered.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	s, err := newServer(db, cache, log, byHandlers)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	return &client{t: t, url: srv.URL, queries: &queries, db: db, cache: cache}
}

// do sends a request and decodes the JSON reply into out (when not nil).
// It returns the status and the X-Cache header.
func (c *client) do(method, path string, body any, out any) (int, string) {
	c.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, r)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode < 300 {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			c.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("X-Cache")
}

// list reads a list and checks the ids and whether it came from the
// database.
func (c *client) list(path string, want []uint, fromDB bool) {
	c.t.Helper()
	before := c.queries.Load()
	var arts []Article
	code, xc := c.do("GET", path, nil, &arts)
	queried := c.queries.Load() != before
	got := make([]uint, len(arts))
	for i, a := range arts {
		got[i] = a.ID
	}
	if code != http.StatusOK || !slices.Equal(got, want) {
		c.t.Fatalf("GET %s = %d %v, want %v", path, code, got, want)
	}
	if queried != fromDB || (xc == "miss") != fromDB {
		c.t.Fatalf("GET %s: database queried = %v (X-Cache %s), want %v", path, queried, xc, fromDB)
	}
}

func (c *client) create(title, category string) uint {
	c.t.Helper()
	var a Article
	if code, _ := c.do("POST", "/articles", map[string]string{"title": title, "category": category}, &a); code != http.StatusCreated || a.ID == 0 {
		c.t.Fatalf("POST: %d %+v", code, a)
	}
	return a.ID
}

func TestBlog(t *testing.T) {
	srv := redistest.Start(t)
	for _, mode := range []struct {
		name     string
		cfg      tiered.Config
		postgres bool // else SQLite
	}{
		{"one-process", tiered.Config{Namespace: "blog"}, false},
		{"redis", tiered.Config{Redis: srv.Client(t), Namespace: "blog", StartTimeout: 5 * time.Second}, false},
		{"postgres", tiered.Config{Redis: srv.Client(t), Namespace: "blog", StartTimeout: 5 * time.Second}, true},
	} {
		t.Run(mode.name, func(t *testing.T) {
			if mode.cfg.Redis != nil {
				_ = srv.Client(t).FlushAll(t.Context()).Err()
			}
			dsn := filepath.Join(t.TempDir(), "blog.db")
			if mode.postgres {
				dsn = postgresServer(t).CreateDB(t, "blog_handlers")
			}
			c := startOn(t, dsn, mode.cfg, slog.New(slog.DiscardHandler))
			a := c.create("Python", "go")
			b := c.create("Cache", "rust")

			c.list("/articles?category=go", []uint{a}, true)
			c.list("/articles?category=go", []uint{a}, false) // the second read does not hit the database
			c.list("/articles?category=rust", []uint{b}, true)
			c.list("/articles", []uint{a, b}, true)
			c.list("/articles", []uint{a, b}, false)

			// A missing article is cached as not found until it is created.
			if code, xc := c.do("GET", "/articles/3", nil, nil); code != http.StatusNotFound || xc != "miss" {
				t.Fatalf("GET /articles/3 = %d %s", code, xc)
			}
			if code, xc := c.do("GET", "/articles/3", nil, nil); code != http.StatusNotFound || xc != "hit" {
				t.Fatalf("GET /articles/3 again = %d %s", code, xc)
			}
			n := c.create("Go", "go")
			var got Article
			if code, xc := c.do("GET", "/articles/3", nil, &got); n != 3 || code != http.StatusOK || xc != "miss" || got.Title != "Go" {
				t.Fatalf("GET /articles/3 after its creation = %d %s %+v", code, xc, got)
			}
			c.list("/articles?category=go", []uint{a, n}, true)
			c.list("/articles?category=rust", []uint{b}, false)
			c.list("/articles", []uint{a, b, n}, true)

			// Moving an article drops the lists of both categories.
			if code, _ := c.do("PUT", "/articles/1", map[string]string{"category": "rust"}, nil); code != http.StatusOK {
				t.Fatalf("PUT: %d", code)
			}
			c.list("/articles?category=go", []uint{n}, true)
			c.list("/articles?category=rust", []uint{a, b}, true)

			// A new title drops the lists holding the article, and no other.
			if code, _ := c.do("PUT", "/articles/3", map[string]string{"title": "Go!"}, nil); code != http.StatusOK {
				t.Fatalf("PUT: %d", code)
			}
			c.list("/articles?category=go", []uint{n}, true)
			c.list("/articles?category=rust", []uint{a, b}, false)

			// Deleting drops its lists and its own entry.
			c.do("GET", "/articles/1", nil, nil)
			if code, _ := c.do("DELETE", "/articles/1", nil, nil); code != http.StatusNoContent {
				t.Fatalf("DELETE: %d", code)
			}
			c.list("/articles?category=rust", []uint{b}, true)
			if code, _ := c.do("GET", "/articles/1", nil, nil); code != http.StatusNotFound {
				t.Fatalf("GET a deleted article: %d", code)
			}
			c.list("/articles", []uint{b, n}, true)

			// Bad input.
			for _, r := range []struct {
				method, path string
				body         any
				want         int
			}{
				{"POST", "/articles", map[string]string{"title": "x"}, http.StatusBadRequest},
				{"PUT", "/articles/2", map[string]string{}, http.StatusBadRequest},
				{"PUT", "/articles/99", map[string]string{"title": "x"}, http.StatusNotFound},
				{"GET", "/articles/abc", nil, http.StatusBadRequest},
				{"DELETE", "/articles/99", nil, http.StatusNotFound},
			} {
				if code, _ := c.do(r.method, r.path, r.body, nil); code != r.want {
					t.Errorf("%s %s = %d, want %d", r.method, r.path, code, r.want)
				}
			}
			var st map[string]any
			if code, _ := c.do("GET", "/stats", nil, &st); code != http.StatusOK || st["loads"] == nil {
				t.Fatalf("GET /stats = %d %v", code, st)
			}
		})
	}
}
