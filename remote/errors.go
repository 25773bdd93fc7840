package remote

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

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
	// ErrInvalidCodec: an envelope's codec name is longer than 16 bytes or
	// holds a NUL.
	ErrInvalidCodec = errors.New("remote: invalid codec name")
	// ErrUnfinished: an invalidation in phases (see Config.InvalidateBatch)
	// is in effect, and was announced, but deleting its entries stopped (the
	// error wraps the cause too). The entries left read as misses; a later
	// Invalidate or Set of any node deletes them once Config.SweepAfter has
	// passed (under the cluster protocol, they expire with their TTL).
	ErrUnfinished = errors.New("remote: invalidation unfinished")
	// ErrRefused: Redis refused a write: it is out of memory (maxmemory
	// with the noeviction policy), a read-only replica (a client that has
	// not followed a failover yet), failing to persist (MISCONF), or short
	// of the replicas that min-replicas-to-write asks for. The error wraps
	// Redis's own too. A Put so refused changed nothing; see Store.Set and
	// Store.Invalidate for theirs.
	ErrRefused = errors.New("remote: redis refused the write")
	// ErrFull: Redis refused a write for memory (maxmemory with the
	// noeviction policy). It wraps ErrRefused.
	ErrFull = fmt.Errorf("%w: out of memory", ErrRefused)
	// ErrState: N:seq holds something that is not a sequence number, or a
	// script answered in an unexpected shape.
	ErrState = errors.New("remote: invalid state in redis")
)

// refused wraps err with ErrFull or ErrRefused when it is Redis refusing a
// write, and returns it as it is otherwise.
func refused(err error) error {
	var re redis.Error
	if !errors.As(err, &re) {
		return err
	}
	msg := re.Error()
	switch {
	case strings.HasPrefix(msg, "OOM "):
		return fmt.Errorf("%w: %w", ErrFull, err)
	case strings.HasPrefix(msg, "READONLY "), strings.HasPrefix(msg, "MISCONF "),
		strings.HasPrefix(msg, "NOREPLICAS "):
		return fmt.Errorf("%w: %w", ErrRefused, err)
	}
	return err
}
