package remote

import "errors"

// Errors of this package. Errors returned by a Store wrap one of them (or
// an error of the Redis client) with %w: test them with errors.Is.
var (
	// ErrCorrupt: an entry (or an envelope given to DecodeEnvelope) does not
	// decode. Read deletes such an entry and reports a miss with it.
	ErrCorrupt = errors.New("remote: corrupt entry")
	// ErrConfig: New was given an invalid Config.
	ErrConfig = errors.New("remote: invalid config")
	// ErrInvalidDep: a dependency is the zero deps.Dep.
	ErrInvalidDep = errors.New("remote: invalid dependency")
	// ErrInvalidTTL: a TTL is zero or negative.
	ErrInvalidTTL = errors.New("remote: invalid ttl")
	// ErrEmptyKey: an entry key is empty.
	ErrEmptyKey = errors.New("remote: empty key")
	// ErrInvalidOrigin: an origin is empty or contains a newline.
	ErrInvalidOrigin = errors.New("remote: invalid origin")
	// ErrUnfinished: an invalidation in phases (see Config.InvalidateBatch)
	// is in effect, and was announced, but deleting its entries stopped (the
	// error wraps the cause too). The entries left read as misses; a later
	// Invalidate or Set of any node deletes them once Config.SweepAfter has
	// passed (under the cluster protocol, they expire with their TTL).
	ErrUnfinished = errors.New("remote: invalidation unfinished")
	// ErrState: N:seq holds something that is not a sequence number, or a
	// script answered in an unexpected shape.
	ErrState = errors.New("remote: invalid state in redis")
)
