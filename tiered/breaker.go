package tiered

import (
	"sync/atomic"
	"time"
)

// breaker is a consecutive-failure circuit breaker in front of Redis. After
// threshold failures in a row it opens for cooldown: calls are skipped (the
// cache answers from the loader, G9). After the cooldown calls are let
// through again; the first success closes it, a failure opens it again.
type breaker struct {
	threshold int64
	cooldown  time.Duration
	now       func() time.Time

	failures  atomic.Int64
	openUntil atomic.Int64 // unix nanoseconds; 0 when closed
	opened    atomic.Uint64
}

// allow reports whether a Redis call may be made now.
func (b *breaker) allow() bool {
	until := b.openUntil.Load()
	return until == 0 || b.now().UnixNano() >= until
}

// isClosed reports whether the breaker saw no run of failures: it is cheap
// enough for the hot path.
func (b *breaker) isClosed() bool { return b.openUntil.Load() == 0 }

func (b *breaker) success() {
	if b.failures.Load() != 0 {
		b.failures.Store(0)
	}
	if b.openUntil.Load() != 0 {
		b.openUntil.Store(0)
	}
}

func (b *breaker) failure() {
	if b.failures.Add(1) >= b.threshold {
		if b.openUntil.Swap(b.now().Add(b.cooldown).UnixNano()) == 0 {
			b.opened.Add(1)
		}
	}
}
