// Command blog is a tiny HTTP JSON service over SQLite (GORM) with the
// Matroska cache in front: lists of articles are cached by category and
// dropped, on every node, when a write changes what they hold. See
// README.md for the curl commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska/tiered"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := loadConfig(os.Args[1:], os.Getenv)
	if err != nil {
		log.Error("blog", "err", err)
		os.Exit(2)
	}
	if err := run(cfg, log); err != nil {
		log.Error("blog", "err", err)
		os.Exit(1)
	}
}

// config is the service's configuration. Each setting is a flag whose
// default comes from the environment, else from the code: a deployment sets
// the environment, a developer types flags.
type config struct {
	Addr      string // -addr, $BLOG_ADDR; default 127.0.0.1:8080
	DB        string // -db, $BLOG_DB; default blog.db
	RedisURL  string // $REDIS_URL; empty: a one-process cache
	Namespace string // -namespace, $CACHE_NAMESPACE; default "blog"
}

// loadConfig reads the flags in args over the environment of getenv.
//
// The cache's namespace prefixes every key the service writes to Redis:
// two services (or staging and production) on one Redis need two
// namespaces, and a release that changes what is cached can move to a new
// one ("blog-2") to start from an empty cache while the old release
// drains.
func loadConfig(args []string, getenv func(string) string) (config, error) {
	env := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	cfg := config{RedisURL: getenv("REDIS_URL")}
	fs := flag.NewFlagSet("blog", flag.ContinueOnError)
	fs.StringVar(&cfg.Addr, "addr", env("BLOG_ADDR", "127.0.0.1:8080"), "listen `address` ($BLOG_ADDR)")
	fs.StringVar(&cfg.DB, "db", env("BLOG_DB", "blog.db"), "SQLite database `file` ($BLOG_DB)")
	fs.StringVar(&cfg.Namespace, "namespace", env("CACHE_NAMESPACE", "blog"), "the cache's `namespace` in Redis ($CACHE_NAMESPACE)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Namespace == "" {
		return config{}, errors.New("-namespace is empty")
	}
	return cfg, nil
}

func run(cfg config, log *slog.Logger) error {
	db, err := gorm.Open(sqlite.Open(cfg.DB+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"),
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()

	cache, closeCache, err := newCache(cfg, log)
	if err != nil {
		return err
	}
	defer closeCache()

	s, err := newServer(db, cache, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", "http://"+cfg.Addr, "db", cfg.DB, "namespace", cfg.Namespace)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newCache connects to cfg.RedisURL when it is set (run several processes
// on one Redis and they share entries and invalidations), else runs the
// cache in this process alone.
func newCache(cfg config, log *slog.Logger) (*tiered.Cache, func(), error) {
	if cfg.RedisURL == "" {
		log.Info("REDIS_URL not set: one-process cache (L1 only)")
		c, err := tiered.New(tiered.Config{Namespace: cfg.Namespace, Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return c, func() { _ = c.Close() }, nil
	}
	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	c, err := tiered.New(tiered.Config{Redis: rdb, Namespace: cfg.Namespace, Logger: log})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	log.Info("cache on Redis", "addr", opts.Addr, "namespace", cfg.Namespace)
	return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
}
