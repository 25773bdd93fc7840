package workload

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/redistest"
)

// Server returns the go-redis options of the Redis to benchmark against:
// addr (host:port or a redis:// URL), or, when addr is empty, a private
// redis-server that stop stops. where describes it for the results.
func Server(addr string) (opts *redis.Options, where string, stop func(), err error) {
	if addr != "" {
		if strings.Contains(addr, "://") {
			if opts, err = redis.ParseURL(addr); err != nil {
				return nil, "", nil, fmt.Errorf("%w: %w", ErrConfig, err)
			}
		} else {
			opts = &redis.Options{Addr: addr}
		}
		opts.ReadTimeout = 5 * time.Second
		return opts, opts.Addr, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "matroska-bench-")
	if err != nil {
		return nil, "", nil, err
	}
	srv, err := redistest.Launch(dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, "", nil, fmt.Errorf("no Redis: pass -redis, or install redis-server (%w)", err)
	}
	opts = srv.Options()
	opts.ReadTimeout = 5 * time.Second
	return opts, "private redis-server on " + srv.Addr(), func() { srv.Stop(); _ = os.RemoveAll(dir) }, nil
}
