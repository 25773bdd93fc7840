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
	return c.feedCall(ctx, name, ttl, func(ctx context.Context) error { return c.l2.KeepFeed(ctx, name, ttl) })
}

// ReportFeed stores report, the health report of the invalidation feed
// (or source) name, in Redis for ttl: any process can read the reports of
// a namespace with remote.Store.FeedReports (the CLI's watch shows them).
// The report's layout is its source's: contrib/pgcdc's Report.
func (c *Cache) ReportFeed(ctx context.Context, name string, report []byte, ttl time.Duration) error {
	return c.feedCall(ctx, name, ttl, func(ctx context.Context) error { return c.l2.ReportFeed(ctx, name, report, ttl) })
}

// feedCall checks the arguments of a feed's call (an empty name is
// remote.ErrFeedName, a time to live that is not positive ErrInvalidTTL)
// and makes it, bounded by RedisTimeout; a Redis failure is
// ErrUnavailable.
func (c *Cache) feedCall(ctx context.Context, name string, ttl time.Duration, call func(context.Context) error) error {
	switch {
	case c == nil:
		return ErrNilCache
	case c.closed.Load():
		return ErrClosed
	case c.l2 == nil:
		return fmt.Errorf("%w: feeds need Redis", ErrConfig)
	case name == "":
		return remote.ErrFeedName
	case ttl <= 0:
		return fmt.Errorf("%w: feed %q: time to live %v", ErrInvalidTTL, name, ttl)
	}
	rctx, cancel := c.deadlines.bound(ctx)
	defer cancel()
	if err := call(rctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return nil
}
