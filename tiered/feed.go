package tiered

import (
	"context"
	"fmt"
	"time"

	"github.com/matroska-go/matroska/remote"
)

// The feeds' side of the cache: an invalidation source outside the nodes
// (contrib/pgcdc) keeps its feed's key and publishes its health report
// through the cache it invalidates, in the cache's namespace.

// KeepFeed says that the invalidation feed name (see Config.Feeds) has
// invalidated every change committed up to a bound before now: the nodes
// that follow it serve cached values for ttl more, unless it is renewed.
// A feed renews it while it keeps up, with what is left of its bound.
func (c *Cache) KeepFeed(ctx context.Context, name string, ttl time.Duration) error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if c.l2 == nil {
		return fmt.Errorf("%w: feeds need Redis", ErrConfig)
	}
	rctx, cancel := c.deadlines.bound(ctx)
	defer cancel()
	if err := c.l2.KeepFeed(rctx, name, ttl); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}

// ReportFeed stores report, the health report of the invalidation feed
// (or source) name, in Redis for ttl: any process can read the reports of
// a namespace with remote.Store.FeedReports (the CLI's watch shows them).
// The report's layout is its source's: contrib/pgcdc's Report.
func (c *Cache) ReportFeed(ctx context.Context, name string, report []byte, ttl time.Duration) error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if c.l2 == nil {
		return fmt.Errorf("%w: feed reports need Redis", ErrConfig)
	}
	if name == "" {
		return remote.ErrFeedName // bad input, not an unavailable Redis
	}
	rctx, cancel := c.deadlines.bound(ctx)
	defer cancel()
	if err := c.l2.ReportFeed(rctx, name, report, ttl); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}
