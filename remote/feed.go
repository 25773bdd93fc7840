package remote

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/internal/globs"
)

// Feeds. An invalidation source outside the nodes (a consumer of the
// database's commit log, contrib/pgcdc) says that it keeps up by keeping a
// key alive: N:feed:<name>, set with a time to live that the source renews
// only while it has invalidated every change committed up to a bound
// before now. The key is gone a time to live after the source last kept up
// (or at once, if Redis lost it), and the nodes that follow the feed stop
// serving cached values until it is back.
//
// A source also publishes a report of its health (its lag, its counters,
// its last error: a small document of its own layout) under
// N:feedstats:<name>, so that any process, the operator's CLI first, can
// see it. The report outlives its source by its time to live: a source
// that died shows as a report that is no longer updated.

// ErrFeedName is returned for an empty feed name.
var ErrFeedName = errors.New("remote: empty feed name")

// KeepFeed sets the key of feed name, alive for ttl.
func (s *Store) KeepFeed(ctx context.Context, name string, ttl time.Duration) error {
	if name == "" {
		return ErrFeedName
	}
	if ttl <= 0 {
		return fmt.Errorf("remote: feed %q: time to live %v is not positive", name, ttl)
	}
	if err := s.rdb.Set(ctx, s.keys.feedPrefix+name, time.Now().UnixMilli(), ttl).Err(); err != nil {
		return fmt.Errorf("remote: feed %q: %w", name, err)
	}
	return nil
}

// MissingFeeds returns those of names whose key is not alive, in one round
// trip (one per master on a Cluster).
func (s *Store) MissingFeeds(ctx context.Context, names []string) (missing []string, err error) {
	cmds := make([]*redis.IntCmd, len(names))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, n := range names {
			cmds[i] = p.Exists(ctx, s.keys.feedPrefix+n)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("remote: feeds: %w", err)
	}
	for i, c := range cmds {
		if c.Val() == 0 {
			missing = append(missing, names[i])
		}
	}
	return missing, nil
}

// ReportFeed stores report, the health report of feed name, alive for ttl.
func (s *Store) ReportFeed(ctx context.Context, name string, report []byte, ttl time.Duration) error {
	if name == "" {
		return ErrFeedName
	}
	if ttl <= 0 {
		return fmt.Errorf("remote: feed %q: report time to live %v is not positive", name, ttl)
	}
	if err := s.rdb.Set(ctx, s.keys.reportPrefix+name, report, ttl).Err(); err != nil {
		return fmt.Errorf("remote: feed %q: report: %w", name, err)
	}
	return nil
}

// FeedReportKey is the Redis key of the report of feed name,
// "N:feedstats:<name>".
func (s *Store) FeedReportKey(name string) string { return s.keys.reportPrefix + name }

// FeedReports returns the report of every feed that has one alive, by the
// feed's name. It scans the namespace's reports (every master of a
// Cluster), so it is meant for operators and exporters, not for a hot path.
func (s *Store) FeedReports(ctx context.Context) (map[string][]byte, error) {
	var mu sync.Mutex
	names := map[string]struct{}{}
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, globs.Escape(s.keys.reportPrefix)+"*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			names[strings.TrimPrefix(iter.Val(), s.keys.reportPrefix)] = struct{}{}
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if w, ok := s.rdb.(masterWalker); ok {
		err = w.ForEachMaster(ctx, func(ctx context.Context, m *redis.Client) error { return scan(ctx, m) })
	} else {
		err = scan(ctx, s.rdb)
	}
	if err != nil {
		return nil, fmt.Errorf("remote: feed reports: %w", err)
	}
	reports := make(map[string][]byte, len(names))
	if len(names) == 0 {
		return reports, nil
	}
	cmds := make(map[string]*redis.StringCmd, len(names))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for n := range names {
			cmds[n] = p.Get(ctx, s.keys.reportPrefix+n)
		}
		return nil
	})
	if err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("remote: feed reports: %w", err)
	}
	for n, c := range cmds {
		if b, err := c.Bytes(); err == nil {
			reports[n] = b // one that expired since the scan is left out
		}
	}
	return reports, nil
}
