package main

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska/internal/redistest"
)

func TestLoadConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string {
		return func(k string) string { return m[k] }
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want config
		bad  bool
	}{
		{"defaults", nil, nil, config{Addr: "127.0.0.1:8080", DB: "blog.db", Namespace: "blog", Invalidate: byHandlers}, false},
		{"environment", nil, map[string]string{
			"BLOG_ADDR": ":9000", "BLOG_DB": "/data/blog.db", "CACHE_NAMESPACE": "blog-staging", "REDIS_URL": "redis://r:6379/0",
		}, config{Addr: ":9000", DB: "/data/blog.db", Namespace: "blog-staging", RedisURL: "redis://r:6379/0", Invalidate: byHandlers}, false},
		{"flags over environment", []string{"-namespace", "blog-2", "-addr", ":9001"}, map[string]string{"CACHE_NAMESPACE": "blog-staging"},
			config{Addr: ":9001", DB: "blog.db", Namespace: "blog-2", Invalidate: byHandlers}, false},
		{"postgres by handlers", []string{"-db", "postgres://app@db/blog"}, nil,
			config{Addr: "127.0.0.1:8080", DB: "postgres://app@db/blog", Namespace: "blog", Invalidate: byHandlers}, false},
		{"log mode", nil, map[string]string{"BLOG_DB": "postgresql://app@db/blog", "BLOG_INVALIDATE": "log"},
			config{Addr: "127.0.0.1:8080", DB: "postgresql://app@db/blog", Namespace: "blog", Invalidate: byLog}, false},
		{"log mode on SQLite", []string{"-invalidate", "log"}, nil, config{}, true},
		{"unknown mode", []string{"-db", "postgres://app@db/blog", "-invalidate", "triggers"}, nil, config{}, true},
		{"empty namespace", []string{"-namespace", ""}, nil, config{}, true},
		{"stray argument", []string{"serve"}, nil, config{}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := loadConfig(c.args, env(c.env))
			if (err != nil) != c.bad || got != c.want {
				t.Fatalf("loadConfig = %+v, %v; want %+v (error: %v)", got, err, c.want, c.bad)
			}
		})
	}
}

// TestNamespaceFromConfig checks that the configured namespace is the
// prefix of what the service writes to Redis.
func TestNamespaceFromConfig(t *testing.T) {
	srv := redistest.Start(t)
	cfg, err := loadConfig(nil, func(k string) string {
		return map[string]string{"REDIS_URL": "redis://" + srv.Addr() + "/0", "CACHE_NAMESPACE": "blog-test"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	cache, closeCache, err := newCache(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeCache()
	db, err := gorm.Open(sqlite.Open(filepath.Join(t.TempDir(), "blog.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	s, err := newServer(db, cache, slog.New(slog.DiscardHandler), byHandlers)
	if err != nil {
		t.Fatal(err)
	}
	h := httptest.NewServer(s.routes())
	defer h.Close()
	c := &client{t: t, url: h.URL}
	if code, _ := c.raw("GET", "/articles/1"); code != 404 {
		t.Fatalf("GET /articles/1 = %d", code)
	}
	rdb := srv.Client(t)
	ours, err := rdb.Keys(context.Background(), "blog-test:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	all, err := rdb.Keys(context.Background(), "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(ours) == 0 || len(ours) != len(all) {
		t.Fatalf("keys in Redis: %q; want them all under blog-test:", all)
	}
}
