package matroska

import (
	"context"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// Cache is the cache GetOrLoad reads through: a [tiered.Cache].
type Cache = tiered.Cache

// Recorder collects the dependencies of a value while its loader runs; see
// [tiered.Recorder].
type Recorder = tiered.Recorder

// Option is a per-call setting; see TTL, NegativeTTL, Depend, AtMark.
type Option = tiered.Option

// Mark is a point in the invalidation sequence; see [tiered.Cache.Mark].
type Mark = tiered.Mark

// LoadFunc loads the value of a key on a miss and records its
// dependencies in rec; see [tiered.LoadFunc].
type LoadFunc[T any] = tiered.LoadFunc[T]

// Loader is a loader as a value, for GetOrLoadWith; see [tiered.Loader].
type Loader[T any] = tiered.Loader[T]

// Errors, re-exported from package tiered so that callers need one import.
var (
	ErrNotFound      = tiered.ErrNotFound
	ErrMiss          = tiered.ErrMiss
	ErrEmptyKey      = tiered.ErrEmptyKey
	ErrKeyTooLong    = tiered.ErrKeyTooLong
	ErrValueTooLarge = tiered.ErrValueTooLarge
	ErrEncode        = tiered.ErrEncode
	ErrInvalidDep    = tiered.ErrInvalidDep
	ErrInvalidTTL    = tiered.ErrInvalidTTL
	ErrStale         = tiered.ErrStale
	ErrLoaderPanic   = tiered.ErrLoaderPanic
	ErrTypeMismatch  = tiered.ErrTypeMismatch
	ErrUnavailable   = tiered.ErrUnavailable
	ErrRefused       = tiered.ErrRefused
	ErrClosed        = tiered.ErrClosed
	ErrNilCache      = tiered.ErrNilCache
	ErrConfig        = tiered.ErrConfig
	ErrNotSynced     = tiered.ErrNotSynced
	ErrCodecMismatch = tiered.ErrCodecMismatch
)

// PanicError is the error of a load whose loader panicked: its text is one
// short line, and errors.As gives the panic value and the stack; see
// [tiered.PanicError].
type PanicError = tiered.PanicError

// Options, re-exported from package tiered.
var (
	// TTL sets the entry's time to live.
	TTL = tiered.TTL
	// NegativeTTL sets the time to live of a not-found entry.
	NegativeTTL = tiered.NegativeTTL
	// Depend adds dependencies to the entry besides those its loader records.
	Depend = tiered.Depend
	// NoJitter keeps the TTL exact.
	NoJitter = tiered.NoJitter
	// AtMark makes Set refuse (ErrStale) a value overtaken by an
	// invalidation since the mark.
	AtMark = tiered.AtMark
	// Lease turns the cross-node load lease on or off for the call: one
	// loader per cold key across the nodes (see [tiered.Lease]).
	Lease = tiered.Lease
	// RefreshAfter sets a soft TTL after which a hit refreshes the entry in
	// the background while serving it (see [tiered.RefreshAfter]).
	RefreshAfter = tiered.RefreshAfter
	// StaleIfError keeps an expired value for a while, to answer with when
	// the loader fails (see [tiered.StaleIfError]).
	StaleIfError = tiered.StaleIfError
)

// GetOrLoad returns the value of key: from this node's L1, else from Redis,
// else from load, whose result is then stored in both tiers with the
// dependencies it recorded. One load per key runs at a time on this node; a
// load overtaken by an invalidation is returned but not stored; when Redis
// is down, the loader answers. The whole contract is [tiered.GetOrLoad]'s.
func GetOrLoad[T any](ctx context.Context, c *Cache, key string, load LoadFunc[T], opts ...Option) (T, error) {
	return tiered.GetOrLoad(ctx, c, key, load, opts...)
}

// GetOrLoadWith is GetOrLoad with the loader as a value: a small struct
// with a Load method is copied to the heap only on a miss, so an L1 hit
// allocates nothing; see [tiered.GetOrLoadWith].
func GetOrLoadWith[T any, L Loader[T]](ctx context.Context, c *Cache, key string, l L, opts ...Option) (T, error) {
	return tiered.GetOrLoadWith[T](ctx, c, key, l, opts...)
}

// BatchFunc loads the values of the keys of a batch that neither tier
// holds, in one call; see [tiered.BatchFunc].
type BatchFunc[T any] = tiered.BatchFunc[T]

// BatchRecorder holds a Recorder for each key a BatchFunc loads.
type BatchRecorder = tiered.BatchRecorder

// KeyErrors are the errors of some keys of a batch, by key.
type KeyErrors = tiered.KeyErrors

// GetOrLoadMany returns the values of keys: from L1, else from Redis in
// one round trip, else from one call of load for all the keys still
// missing, each key stored with its own dependencies; each key behaves as
// a GetOrLoad of it would. See [tiered.GetOrLoadMany].
func GetOrLoadMany[T any](ctx context.Context, c *Cache, keys []string, load BatchFunc[T], opts ...Option) (map[string]T, error) {
	return tiered.GetOrLoadMany(ctx, c, keys, load, opts...)
}

// Get returns the value of key from L1 or Redis without loading it:
// ErrMiss when no tier has it, ErrNotFound for a negative entry; see
// [tiered.Get].
func Get[T any](ctx context.Context, c *Cache, key string) (T, error) {
	return tiered.Get[T](ctx, c, key)
}

// Set stores value under key on every node, replacing what was there; see
// [tiered.Cache.Set]. deps.Dep values are given with Depend.
func Set[T any](ctx context.Context, c *Cache, key string, value T, opts ...Option) error {
	return c.Set(ctx, key, value, opts...)
}

// Invalidate removes every entry depending on any of ds; see
// [tiered.Cache.Invalidate].
func Invalidate(ctx context.Context, c *Cache, ds ...deps.Dep) error {
	return c.Invalidate(ctx, ds...)
}
