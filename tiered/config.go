package tiered

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/local"
)

// Config configures a Cache. The zero value of every field but Redis takes
// the default named in its comment. New never changes the Config it is given.
type Config struct {
	// Redis is the shared L2 and the invalidation bus. Nil runs the cache in
	// one process: L1 only, invalidations applied in-process, same API.
	// A *redis.ClusterClient (redis.NewUniversalClient with several Addrs)
	// makes the cache speak the Redis Cluster protocol of package remote;
	// a Sentinel failover client is a standalone Redis to it.
	// go-redis honours a call's context deadline only with
	// ContextTimeoutEnabled set in its options, without which RedisTimeout
	// cannot bound a call to a dead server: New refuses a *redis.Client or
	// *redis.ClusterClient without it (ErrConfig). A client of another
	// type (a wrapper) cannot be inspected and is taken on trust.
	Redis redis.UniversalClient

	// Namespace prefixes every Redis key and the bus channel. Caches that
	// share a Namespace share entries and invalidations.
	// default: "matroska"
	Namespace string

	// NodeID names this node in bus messages.
	// default: a random id
	NodeID string

	// Codec encodes values for Redis.
	// default: JSON{}
	Codec Codec

	// DefaultTTL is the time to live of an entry when the call sets none.
	// default: 5 minutes
	DefaultTTL time.Duration

	// NegativeTTL is the time to live of a not-found entry.
	// default: 30 seconds
	NegativeTTL time.Duration

	// Jitter shortens each TTL by a random part of at most this fraction,
	// so entries filled together do not expire together. 0 takes the
	// default; a negative value turns jitter off.
	// default: 0.1
	Jitter float64

	// L1MaxBytes bounds the memory of L1 values (by their encoded size plus
	// a per-entry overhead).
	// default: 64 MiB
	L1MaxBytes int64

	// L1MaxTTL is the hard maximum time an entry stays in L1, whatever its
	// TTL: the last line of defence against a lost invalidation (G4).
	// default: 1 minute
	L1MaxTTL time.Duration

	// MaxKeyLen is the longest key accepted.
	// default: 1024 bytes
	MaxKeyLen int

	// MaxValueSize is the largest encoded value accepted.
	// default: 1 MiB
	MaxValueSize int

	// LoadTimeout bounds a shared load, which runs on a context detached
	// from its callers' cancellation.
	// default: 30 seconds
	LoadTimeout time.Duration

	// RedisTimeout bounds each Redis call of Get, GetOrLoad and Set. Calls
	// whose context cannot end (context.Background) share a deadline per
	// window of a sixteenth of RedisTimeout (at least 1ms), which bounds
	// them by RedisTimeout plus at most that window.
	// default: 250 milliseconds
	RedisTimeout time.Duration

	// TrustWindow is the longest this node serves L1 without hearing from
	// the bus (a message, a pong, a subscription); past it L1 is bypassed
	// until the bus has caught up (G4).
	// default: 2 seconds
	TrustWindow time.Duration

	// Heartbeat is how often the bus pings and compares sequences.
	// default: TrustWindow / 4
	Heartbeat time.Duration

	// TombstoneHorizon is how long Redis remembers an invalidation. A load
	// that takes longer than half of it is not cached.
	// default: 10 minutes
	TombstoneHorizon time.Duration

	// LogLength is the approximate number of invalidations kept in Redis
	// for nodes that need to catch up.
	// default: 10000
	LogLength int64

	// BreakerThreshold is the number of Redis failures in a row that opens
	// the circuit breaker.
	// default: 5
	BreakerThreshold int

	// BreakerCooldown is how long an open breaker skips Redis.
	// default: 1 second
	BreakerCooldown time.Duration

	// StartTimeout is how long New waits for Redis to answer and for the
	// bus to subscribe and sync. When it runs out New fails, unless
	// StartDegraded is set.
	// default: 2 seconds
	StartTimeout time.Duration

	// StartDegraded makes New return the cache when Redis does not answer
	// or the bus does not sync within StartTimeout, instead of an error:
	// the cause is logged, the cache answers from its loaders (no L1, no
	// Redis) and trusts L1 once the bus has synced (G9). Leave it off to
	// find a wrong address or password at start.
	// default: false
	StartDegraded bool

	// Lease turns the cross-node load lease on for every call (the Lease
	// option overrides it per call). With it, a miss in both tiers takes
	// the lease of the key in Redis before it runs the loader: one node
	// loads, the others wait until the entry lands (woken by a
	// notification, or by polling Redis every LeasePoll) and take the
	// lease over if its holder stops renewing it for LeaseTime (G8). The
	// per-node singleflight stays in front: one lease attempt per key per
	// node. Without Redis, or while it fails, there is no lease and each
	// node loads (G9).
	// default: false
	Lease bool

	// CombineInvalidations sends a node's invalidations that come while
	// another of its invalidations is in flight together, as one script
	// call and one bus message, once that one returns (each waits at most
	// a millisecond, then goes alone). Under a high rate of invalidations
	// it halves Redis's and the fleet's work per invalidation and about
	// doubles the rate a fleet sustains (README, "Fleet scale"). The cost:
	// a queued invalidation takes its sequence number up to a millisecond
	// later, and a write that another node commits just after it and
	// invalidates at once can take the earlier number; until this one is
	// applied there, that node may read back a list that its own
	// in-place update depends on but that lacks this write (the window
	// every write has between its commit and its Invalidate, made longer).
	// Each caller still reads its own writes (G3).
	// default: false
	CombineInvalidations bool

	// LeaseTime is how long a lease outlives its holder: the holder renews
	// it every LeaseTime/3 while its loader runs, so a live holder keeps
	// it however long the load takes (up to LoadTimeout), and the lease
	// of a holder that died (or lost Redis) is taken over at most
	// LeaseTime after its last renewal.
	// default: 5 seconds
	LeaseTime time.Duration

	// LeasePoll is how often a node waiting for another node's load reads
	// Redis in case the notification was lost.
	// default: 100 milliseconds
	LeasePoll time.Duration

	// StaleIfError is the StaleIfError option of every call that does not
	// give one, Get and Set included.
	// default: 0 (off)
	StaleIfError time.Duration

	// MessageKey, when set, authenticates the invalidation broadcast: the
	// scripts sign every message they publish with HMAC-SHA1 under this
	// shared secret, and the bus drops (and counts in Stats.Bus.Forged)
	// messages not signed with it, so that a client that may publish on
	// the channel cannot forge or suppress an invalidation. Every node of a
	// namespace needs the same key. To introduce one without a flag day,
	// see bus.Config.Key. The key is sent to Redis as a script argument:
	// keep MONITOR and the slow log from the users you guard against.
	// default: none (messages are not signed)
	MessageKey []byte

	// Clock is the time source of L1's expiries: an entry's TTL, its
	// StaleIfError grace and its RefreshAfter. Tests of code that depends on
	// them set one that they move by hand (package matroskatest). Only
	// without Redis: Redis expires its entries on its own clock, which a
	// test cannot move (New refuses a Clock with Redis, ErrConfig).
	// default: the system's monotonic clock
	Clock local.Clock

	// Logger receives warnings and debug events.
	// default: slog.Default()
	Logger *slog.Logger

	// Observer follows each read of Redis, load and invalidation, for
	// tracing (see Observer; contrib/otel provides one).
	// default: none
	Observer Observer

	// Feeds names the invalidation feeds this node follows: sources of
	// invalidations outside the application, such as a consumer of the
	// database's commit log (contrib/pgcdc), which keep a key alive in
	// Redis (Cache.KeepFeed) only while they have invalidated every change
	// committed up to their bound before now. While the key of one of them
	// is gone, the node serves neither L1 nor Redis: its loaders answer,
	// uncached, as under a hold, until the feed is back. The node looks at
	// every bus heartbeat, and a look that found the feeds alive vouches
	// for them for two heartbeats at most (a stalled heartbeat does not
	// extend it), so a change that only a feed invalidates is served stale
	// at most the feed's bound plus twice Heartbeat after its commit. Only
	// with Redis.
	// default: none
	Feeds []string
}

// withDefaults returns a copy of cfg with defaults filled in, or an error
// wrapping ErrConfig.
func (cfg Config) withDefaults() (Config, error) {
	if cfg.Namespace == "" {
		cfg.Namespace = "matroska"
	}
	if strings.ContainsAny(cfg.Namespace, " \t\r\n{}") {
		return cfg, fmt.Errorf("%w: namespace %q has whitespace or braces", ErrConfig, cfg.Namespace)
	}
	if cfg.Codec == nil {
		cfg.Codec = JSON{}
	}
	if name := codecName(cfg.Codec); len(name) > 16 || strings.IndexByte(name, 0) >= 0 {
		return cfg, fmt.Errorf("%w: codec name %q: at most 16 bytes, no NUL", ErrConfig, name)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	for _, f := range cfg.Feeds {
		if f == "" || strings.ContainsAny(f, " \t\r\n{}") {
			return cfg, fmt.Errorf("%w: feed name %q is empty or has whitespace or braces", ErrConfig, f)
		}
	}
	if cfg.Redis == nil && len(cfg.Feeds) > 0 {
		return cfg, fmt.Errorf("%w: Feeds need Redis, where the feeds keep their keys", ErrConfig)
	}
	cfg.Feeds = slices.Clone(cfg.Feeds)
	if cfg.Redis != nil && cfg.Clock != nil {
		return cfg, fmt.Errorf("%w: a Clock works without Redis only: Redis expires entries on its own clock", ErrConfig)
	}
	if cfg.Redis != nil && !contextTimeouts(cfg.Redis) {
		return cfg, fmt.Errorf("%w: the Redis client does not honour context deadlines: set ContextTimeoutEnabled in its options, or RedisTimeout cannot bound a call to a slow or dead server", ErrConfig)
	}
	durations := []struct {
		name string
		p    *time.Duration
		def  time.Duration
	}{
		{"DefaultTTL", &cfg.DefaultTTL, 5 * time.Minute},
		{"NegativeTTL", &cfg.NegativeTTL, 30 * time.Second},
		{"L1MaxTTL", &cfg.L1MaxTTL, time.Minute},
		{"LoadTimeout", &cfg.LoadTimeout, 30 * time.Second},
		{"RedisTimeout", &cfg.RedisTimeout, 250 * time.Millisecond},
		{"TrustWindow", &cfg.TrustWindow, 2 * time.Second},
		{"TombstoneHorizon", &cfg.TombstoneHorizon, 10 * time.Minute},
		{"BreakerCooldown", &cfg.BreakerCooldown, time.Second},
		{"StartTimeout", &cfg.StartTimeout, 2 * time.Second},
		{"LeaseTime", &cfg.LeaseTime, 5 * time.Second},
		{"LeasePoll", &cfg.LeasePoll, 100 * time.Millisecond},
		{"StaleIfError", &cfg.StaleIfError, 0},
	}
	for _, d := range durations {
		if *d.p < 0 {
			return cfg, fmt.Errorf("%w: %s is negative", ErrConfig, d.name)
		}
		if *d.p == 0 {
			*d.p = d.def
		}
	}
	if cfg.Heartbeat < 0 {
		return cfg, fmt.Errorf("%w: Heartbeat is negative", ErrConfig)
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = cfg.TrustWindow / 4
	}
	if cfg.Heartbeat >= cfg.TrustWindow {
		return cfg, fmt.Errorf("%w: Heartbeat (%v) must be shorter than TrustWindow (%v)", ErrConfig, cfg.Heartbeat, cfg.TrustWindow)
	}
	if cfg.Jitter == 0 {
		cfg.Jitter = 0.1
	}
	if cfg.Jitter < 0 {
		cfg.Jitter = 0
	}
	if cfg.Jitter >= 1 {
		return cfg, fmt.Errorf("%w: Jitter must be below 1", ErrConfig)
	}
	ints := []struct {
		name string
		p    *int
		def  int
	}{
		{"MaxKeyLen", &cfg.MaxKeyLen, 1024},
		{"MaxValueSize", &cfg.MaxValueSize, 1 << 20},
		{"BreakerThreshold", &cfg.BreakerThreshold, 5},
	}
	for _, n := range ints {
		if *n.p < 0 {
			return cfg, fmt.Errorf("%w: %s is negative", ErrConfig, n.name)
		}
		if *n.p == 0 {
			*n.p = n.def
		}
	}
	if cfg.L1MaxBytes < 0 || cfg.LogLength < 0 {
		return cfg, fmt.Errorf("%w: L1MaxBytes and LogLength must not be negative", ErrConfig)
	}
	if cfg.L1MaxBytes == 0 {
		cfg.L1MaxBytes = 64 << 20
	}
	if cfg.LogLength == 0 {
		cfg.LogLength = 10000
	}
	return cfg, nil
}
