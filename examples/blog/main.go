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
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska/tiered"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	dbPath := flag.String("db", "blog.db", "SQLite database file")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, *dbPath, log); err != nil {
		log.Error("blog", "err", err)
		os.Exit(1)
	}
}

func run(addr, dbPath string, log *slog.Logger) error {
	db, err := gorm.Open(sqlite.Open(dbPath+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)"),
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	sqlDB, err := db.DB()
	if err != nil {
		return err
	}
	defer sqlDB.Close()

	cache, closeCache, err := newCache(log)
	if err != nil {
		return err
	}
	defer closeCache()

	s, err := newServer(db, cache, log)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: s.routes(), ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	log.Info("listening", "addr", "http://"+addr, "db", dbPath)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newCache connects to $REDIS_URL when it is set (run several processes on
// one Redis and they share entries and invalidations), else runs the cache
// in this process alone.
func newCache(log *slog.Logger) (*tiered.Cache, func(), error) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		log.Info("REDIS_URL not set: one-process cache (L1 only)")
		c, err := tiered.New(tiered.Config{Namespace: "blog", Logger: log})
		if err != nil {
			return nil, nil, err
		}
		return c, func() { _ = c.Close() }, nil
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.ContextTimeoutEnabled = true
	rdb := redis.NewClient(opts)
	c, err := tiered.New(tiered.Config{Redis: rdb, Namespace: "blog", Logger: log})
	if err != nil {
		_ = rdb.Close()
		return nil, nil, err
	}
	log.Info("cache on Redis", "addr", opts.Addr)
	return c, func() { _ = c.Close(); _ = rdb.Close() }, nil
}
