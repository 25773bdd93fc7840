package remote

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Inspection is what Store.Inspect finds under an entry's key.
type Inspection struct {
	Envelope Envelope      // the entry (its TTL: the remaining time to live)
	Mark     *State        // the start mark stored with it (cluster protocol only)
	Size     int           // the stored bytes
	Corrupt  error         // the stored bytes do not decode (Envelope is then empty)
	Indexed  map[int]bool  // for each dependency (by index in Envelope.Deps): still indexes the entry
	TTL      time.Duration // the key's remaining time to live
}

// Inspect reads entry key as it is stored, for operators and tests: its
// envelope, its TTL, and whether each of its dependencies' sets still holds
// it (an entry one of them lost reads as a miss). It changes nothing and is
// not a read of the cache: it neither checks tombstones nor reports the
// state. found is false when there is no such entry.
func (s *Store) Inspect(ctx context.Context, key string) (in Inspection, found bool, err error) {
	rk := s.keys.entry(key)
	raw, err := s.rdb.Get(ctx, rk).Result()
	if errors.Is(err, redis.Nil) {
		return Inspection{}, false, nil
	}
	if err != nil {
		return Inspection{}, false, fmt.Errorf("remote: inspect %q: %w", key, err)
	}
	in.Size = len(raw)
	if in.TTL, err = s.rdb.PTTL(ctx, rk).Result(); err != nil {
		return Inspection{}, false, fmt.Errorf("remote: inspect %q: %w", key, err)
	}
	body := raw
	if s.cl != nil {
		mark, env, err := splitEntry(raw)
		if err != nil {
			in.Corrupt = err
			return in, true, nil
		}
		in.Mark, body = &mark, env
	}
	env, err := DecodeEnvelope([]byte(body))
	if err != nil {
		in.Corrupt = err
		return in, true, nil
	}
	env.TTL = in.TTL
	in.Envelope = env
	in.Indexed = make(map[int]bool, len(env.Deps))
	for i, d := range env.Deps {
		err := s.rdb.ZScore(ctx, s.keys.dep(d), key).Err()
		switch {
		case err == nil:
			in.Indexed[i] = true
		case errors.Is(err, redis.Nil):
			in.Indexed[i] = false
		default:
			return Inspection{}, false, fmt.Errorf("remote: inspect %q: %w", key, err)
		}
	}
	return in, true, nil
}
