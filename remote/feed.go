package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Feeds. An invalidation source outside the nodes (a consumer of the
// database's commit log, contrib/pgcdc) says that it keeps up by keeping a
// key alive: N:feed:<name>, set with a time to live that the source renews
// only while it has invalidated every change committed up to a bound
// before now. The key is gone a time to live after the source last kept up
// (or at once, if Redis lost it), and the nodes that follow the feed stop
// serving cached values until it is back.

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
