package remote

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The cross-node load lease of an entry. A node that misses key in Redis
// takes the lease before it runs the loader, so that one node loads a cold
// key while the others wait for the entry:
//
//   - N:l:<key> holds the holder's random token, with a TTL (the lease
//     time). Taking it is SET NX PX; a holder that is still loading renews
//     it (PEXPIRE if it still holds the token); releasing it deletes it if
//     it still holds the token, so a holder whose lease ran out and was
//     taken over never releases its successor's lease.
//   - On release the holder publishes the key on the fill channel (N:fill;
//     under the Redis Cluster protocol the shard channel {N}:fill in the
//     slot of the control keys), whether or not it stored an entry: waiters
//     read Redis again and either find the entry or take the lease in turn.
//
// The lease key is in the slot of the entry key under the Redis Cluster
// protocol (see leaseKey). Every lease command touches that key alone, so
// this is a matter of locality (a lease lives and dies with its entry's
// master), not of correctness.

var (
	// leaseAcquire: SET NX PX; the answer is -1 when taken, else the
	// lease's remaining time in milliseconds (0 if it just expired).
	leaseAcquire = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
local ms = redis.call('PTTL', KEYS[1])
if ms < 0 then return 0 end
return ms`)

	// leaseRenew: PEXPIRE while the token is the holder's; 1 if renewed.
	leaseRenew = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

	// leaseRelease: DEL while the token is the holder's (1 if deleted);
	// with ARGV[2] set, also PUBLISH ARGV[3] on channel ARGV[2].
	leaseRelease = redis.NewScript(`
local n = 0
if redis.call('GET', KEYS[1]) == ARGV[1] then n = redis.call('DEL', KEYS[1]) end
if ARGV[2] ~= '' then redis.call('PUBLISH', ARGV[2], ARGV[3]) end
return n`)
)

// LeaseKey is the Redis key of the load lease of entry key: "N:l:<key>".
// Under the Redis Cluster protocol it hashes to the slot of the entry key:
// a key with a hash tag keeps it; a key without one gets the entry key as
// its tag, "N:l:{N:e:<key>}". A key that has a '}' but no valid tag (so
// cannot be wrapped) keeps "N:l:<key>", which may lie in another slot.
func (s *Store) LeaseKey(key string) string {
	prefix := s.leasePrefix()
	if !s.Cluster() {
		return prefix + key
	}
	if hasHashTag(key) || strings.IndexByte(key, '}') >= 0 {
		return prefix + key
	}
	return prefix + "{" + s.keys.entry(key) + "}"
}

func (s *Store) leasePrefix() string {
	return strings.TrimSuffix(s.keys.entryPrefix, "e:") + "l:"
}

// hasHashTag reports whether key has a Redis Cluster hash tag: a '{'
// followed, later, by a '}' with at least one byte between them.
func hasHashTag(key string) bool {
	i := strings.IndexByte(key, '{')
	if i < 0 {
		return false
	}
	j := strings.IndexByte(key[i+1:], '}')
	return j > 0
}

// FillChannel is the pub/sub channel on which lease holders announce that
// they have released the lease of a key (the message is the key): "N:fill",
// or, under the Redis Cluster protocol, the shard channel "{N}:fill", to be
// received with SSUBSCRIBE.
func (s *Store) FillChannel() string {
	ns := strings.TrimSuffix(s.keys.entryPrefix, ":e:")
	if s.Cluster() {
		return "{" + ns + "}:fill"
	}
	return ns + ":fill"
}

// AcquireLease tries to take the lease of key for ttl with token (a random
// string of the caller's). It reports whether it did; when it did not,
// left is the time the current holder's lease has left.
func (s *Store) AcquireLease(ctx context.Context, key, token string, ttl time.Duration) (ok bool, left time.Duration, err error) {
	if ttl <= 0 {
		return false, 0, fmt.Errorf("%w: lease time %v", ErrInvalidTTL, ttl)
	}
	ms, err := leaseAcquire.Run(ctx, s.rdb, []string{s.LeaseKey(key)}, token, ttlMillis(ttl)).Int64()
	if err != nil {
		return false, 0, fmt.Errorf("remote: lease %q: %w", key, err)
	}
	if ms < 0 {
		return true, 0, nil
	}
	return false, time.Duration(ms) * time.Millisecond, nil
}

// RenewLease extends the lease of key to ttl from now if token still holds
// it, and reports whether it did.
func (s *Store) RenewLease(ctx context.Context, key, token string, ttl time.Duration) (bool, error) {
	n, err := leaseRenew.Run(ctx, s.rdb, []string{s.LeaseKey(key)}, token, ttlMillis(ttl)).Int64()
	if err != nil {
		return false, fmt.Errorf("remote: renew lease %q: %w", key, err)
	}
	return n == 1, nil
}

// ReleaseLease deletes the lease of key if token still holds it, and
// announces key on [Store.FillChannel] in any case, so that waiters look
// at Redis again. It reports whether token held the lease.
func (s *Store) ReleaseLease(ctx context.Context, key, token string) (bool, error) {
	lk := s.LeaseKey(key)
	if !s.Cluster() {
		n, err := leaseRelease.Run(ctx, s.rdb, []string{lk}, token, s.FillChannel(), key).Int64()
		if err != nil {
			return false, fmt.Errorf("remote: release lease %q: %w", key, err)
		}
		return n == 1, nil
	}
	// A script may not publish on a shard channel of another slot: release,
	// then announce.
	n, err := leaseRelease.Run(ctx, s.rdb, []string{lk}, token, "", "").Int64()
	if err != nil {
		return false, fmt.Errorf("remote: release lease %q: %w", key, err)
	}
	if err := s.rdb.SPublish(ctx, s.FillChannel(), key).Err(); err != nil {
		return n == 1, fmt.Errorf("remote: announce fill %q: %w", key, err)
	}
	return n == 1, nil
}
