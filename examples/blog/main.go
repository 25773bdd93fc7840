// Command blog is a tiny HTTP JSON service over SQLite or PostgreSQL (GORM)
// with the Matroska cache in front: lists of articles are cached by
// category and dropped, on every node, when a write changes what they hold.
// The GORM plugin invalidates after each COMMIT of the handlers' writes or,
// with -invalidate log on PostgreSQL, a consumer of the database's commit
// log invalidates every committed change, whoever made it. See README.md
// for the curl commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska/contrib/pgcdc"
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
	Addr       string // -addr, $BLOG_ADDR; default 127.0.0.1:8080
	DB         string // -db, $BLOG_DB: a SQLite file or a postgres:// URL; default blog.db
	RedisURL   string // $REDIS_URL; empty: a one-process cache
	Namespace  string // -namespace, $CACHE_NAMESPACE; default "blog"
	Invalidate mode   // -invalidate, $BLOG_INVALIDATE; default handlers
}

// mode says what invalidates the cache after a write.
type mode string

const (
	// byHandlers: the GORM plugin, after each COMMIT of a write made
	// through the API. Writes made elsewhere stay cached until their TTL.
	byHandlers mode = "handlers"
	// byLog: a consumer of PostgreSQL's commit log (contrib/pgcdc), after
	// each committed transaction, whoever made it; the plugin is off.
	byLog mode = "log"
)

// isPostgres reports whether the database setting is a PostgreSQL URL
// rather than a SQLite file.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
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
	fs.StringVar(&cfg.DB, "db", env("BLOG_DB", "blog.db"), "SQLite database `file`, or a postgres:// URL ($BLOG_DB)")
	fs.StringVar(&cfg.Namespace, "namespace", env("CACHE_NAMESPACE", "blog"), "the cache's `namespace` in Redis ($CACHE_NAMESPACE)")
	inv := fs.String("invalidate", env("BLOG_INVALIDATE", string(byHandlers)),
		"what invalidates the cache: `handlers` (the GORM plugin after each COMMIT) or log (PostgreSQL's commit log) ($BLOG_INVALIDATE)")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() > 0 {
		return config{}, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if cfg.Namespace == "" {
		return config{}, errors.New("-namespace is empty")
	}
	switch cfg.Invalidate = mode(*inv); cfg.Invalidate {
	case byHandlers:
	case byLog:
		if !isPostgres(cfg.DB) {
			return config{}, fmt.Errorf("-invalidate log reads PostgreSQL's commit log: -db must be a postgres:// URL, not the SQLite file %q", cfg.DB)
		}
	default:
		return config{}, fmt.Errorf("-invalidate %q: want handlers or log", *inv)
	}
	return cfg, nil
}

// openDB opens the database of the setting: PostgreSQL for a postgres://
// URL, else the SQLite file.
func openDB(dsn string) (*gorm.DB, error) {
	gcfg := &gorm.Config{Logger: logger.Discard}
	if isPostgres(dsn) {
		return gorm.Open(postgres.Open(dsn), gcfg)
	}
	return gorm.Open(sqlite.Open(dsn+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"), gcfg)
}

func run(cfg config, log *slog.Logger) error {
	db, err := openDB(cfg.DB)
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

	s, err := newServer(db, cache, log, cfg.Invalidate)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: cfg.Addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.Invalidate == byLog {
		if cfg.RedisURL == "" {
			log.Warn("log mode without REDIS_URL: no feed, nothing bounds how long a change stays cached while the consumer is down")
		}
		consumer, err := pgcdc.New(consumerConfig(cfg.DB, cache, s.articles, cfg.RedisURL != "", log))
		if err != nil {
			return err
		}
		s.consumer = consumer
		done := make(chan struct{})
		go func() {
			defer close(done)
			_ = consumer.Run(ctx) // until ctx ends; it retries and logs its errors
		}()
		defer func() { <-done }() // after stop: ctx has ended
		defer stop()
	}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", "http://"+cfg.Addr, "db", redactDSN(cfg.DB), "namespace", cfg.Namespace, "invalidate", cfg.Invalidate)
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
		c, err := tiered.New(cacheConfig(cfg, nil, log))
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
	c, err := tiered.New(cacheConfig(cfg, rdb, log))
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	log.Info("cache on Redis", "addr", opts.Addr, "namespace", cfg.Namespace)
	return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
}

// cacheConfig is the cache's configuration on rdb (nil: one process). In
// log mode on Redis the nodes follow the commit log's feed: they serve
// cached values only while the consumer has invalidated every change
// committed up to its bound before now (see consumerConfig).
func cacheConfig(cfg config, rdb redis.UniversalClient, log *slog.Logger) tiered.Config {
	c := tiered.Config{Namespace: cfg.Namespace, Logger: log}
	if rdb != nil {
		c.Redis = rdb
		if cfg.Invalidate == byLog {
			c.Feeds = []string{logFeed}
		}
	}
	return c
}

// redactDSN hides the password of a PostgreSQL URL, for the log.
func redactDSN(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://?"
	}
	return u.Redacted()
}
