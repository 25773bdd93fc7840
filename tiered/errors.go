package tiered

import (
	"errors"
	"fmt"
)

// Errors returned by the cache. Test for them with errors.Is: the errors
// returned are often wrapped with details.
var (
	// ErrNotFound is what a loader returns to say that the object does not
	// exist. The cache stores it as a negative entry (for the negative TTL,
	// with the loader's dependencies) and returns it to every caller until
	// the entry expires or is invalidated.
	ErrNotFound = errors.New("matroska: not found")

	// ErrMiss is returned by a plain Get when the key is in no tier.
	ErrMiss = errors.New("matroska: not in cache")

	// ErrEmptyKey is returned for the empty key.
	ErrEmptyKey = errors.New("matroska: empty key")

	// ErrKeyTooLong is returned for a key longer than Config.MaxKeyLen.
	ErrKeyTooLong = errors.New("matroska: key too long")

	// ErrValueTooLarge is returned when a value's encoding is larger than
	// Config.MaxValueSize. The value was not cached.
	ErrValueTooLarge = errors.New("matroska: value too large")

	// ErrEncode is returned when the codec cannot encode a value. The value
	// was not cached.
	ErrEncode = errors.New("matroska: cannot encode value")

	// ErrInvalidTTL is returned for a TTL or NegativeTTL that is not
	// positive, a RefreshAfter that is negative or not below the TTL, and a
	// negative StaleIfError; the error says which.
	ErrInvalidTTL = errors.New("matroska: invalid TTL")

	// ErrInvalidDep is returned for a zero deps.Dep, which is also what the
	// deps constructors return for an empty type or name (deps.Tag("")).
	ErrInvalidDep = errors.New("matroska: invalid dependency")

	// ErrStale is returned by Set with a start mark when an invalidation of
	// one of the value's dependencies happened after the mark was taken:
	// the value may be older than the invalidation, so it was not stored.
	ErrStale = errors.New("matroska: value is stale: an invalidation overtook it")

	// ErrLoaderPanic is wrapped by the error of a loader that panicked, a
	// *PanicError. Every caller waiting for that load receives it.
	ErrLoaderPanic = errors.New("matroska: loader panicked")

	// ErrTypeMismatch is returned when a cached or shared value is not of
	// the type the caller asked for: two call sites use one key for
	// different types.
	ErrTypeMismatch = errors.New("matroska: cached value has another type")

	// ErrUnavailable wraps the error of a Redis call that failed, or says
	// that the circuit breaker is open.
	ErrUnavailable = errors.New("matroska: redis unavailable")

	// ErrCodecMismatch is returned with a loaded value (and by Get) when
	// Redis holds the key's entry in another codec than this node's (see
	// NamedCodec): nodes of one namespace must share a codec. The load's
	// value replaces the entry, so the nodes with the other codec meet the
	// error in turn: change codecs with a new Namespace.
	ErrCodecMismatch = errors.New("matroska: entry written with another codec")

	// ErrNotSynced is returned by Ready when this node's invalidation bus
	// is not in sync with Redis: it has not heard from its subscription
	// within the trust window, or has not caught up yet, so it serves
	// neither its L1 nor (while a refused invalidation holds it) Redis.
	ErrNotSynced = errors.New("matroska: invalidation bus not in sync")

	// ErrRefused is returned by Set and Invalidate when Redis refused the
	// write: it is out of memory (maxmemory with the noeviction policy),
	// a read-only replica (a client that has not followed a failover),
	// failing to persist (MISCONF), or short of the replicas that
	// min-replicas-to-write asks for. It wraps ErrUnavailable, and the
	// error it is returned with wraps Redis's.
	//
	// Under maxmemory, invalidations still run (they delete far more than
	// they add), so Invalidate does not return it then; Set does: its
	// value was not stored, and the old value (and every entry containing
	// key) was removed. Under the other refusals nothing was changed in
	// Redis: this node has dropped what it holds, and the caller should
	// retry. Loads whose put Redis refuses are answered uncached and
	// counted in Stats.RefusedWrites.
	ErrRefused = fmt.Errorf("%w: redis refused the write", ErrUnavailable)

	// ErrClosed is returned by every method of a closed cache, and by a
	// second Close.
	ErrClosed = errors.New("matroska: cache closed")

	// ErrNilCache is returned by every method of a nil *Cache (one that was
	// never created with New) in place of a nil pointer panic. It matches
	// ErrClosed as well: such a cache is as unusable as a closed one.
	ErrNilCache error = nilCacheError{}

	// ErrConfig is wrapped by every configuration error from New.
	ErrConfig = errors.New("matroska: invalid config")
)

// PanicError is the error of a load whose loader panicked: every caller
// waiting for the load receives it, and it wraps ErrLoaderPanic. Its text is
// one line with the panic value, short enough to pass on; the stack is kept
// for the logs:
//
//	var pe *tiered.PanicError
//	if errors.As(err, &pe) {
//		log.Error("loader panicked", "value", pe.Value, "stack", string(pe.Stack))
//	}
type PanicError struct {
	// Value is what the loader passed to panic.
	Value any
	// Stack is the loader's goroutine stack at the panic, as
	// runtime/debug.Stack formats it.
	Stack []byte
}

// Error returns "matroska: loader panicked: " and the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("%v: %v", ErrLoaderPanic, e.Value)
}

// Unwrap returns ErrLoaderPanic.
func (e *PanicError) Unwrap() error { return ErrLoaderPanic }

// nilCacheError is ErrNilCache: its own text, and errors.Is matches
// ErrClosed.
type nilCacheError struct{}

func (nilCacheError) Error() string {
	return "matroska: nil *tiered.Cache (create one with tiered.New)"
}

func (nilCacheError) Is(target error) bool { return target == ErrClosed }
