package local

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of entry expiry. [Config.Clock] sets it; tests
// use one they move by hand.
type Clock interface {
	// Now returns the current time. Only differences between the times it
	// returns matter (they are taken with time.Time.Sub, so a reading with
	// a monotonic clock is immune to changes of the wall clock).
	Now() time.Time
}

// ClockResolution is how often the cache's own clock (used when
// [Config.Clock] is nil) reads the time. An entry is served at most about
// this long past its expiry, longer only if the clock's goroutine is kept
// from running.
const ClockResolution = time.Millisecond

// sweepEvery is how often (in ticks of the cache's own clock) the clock's
// goroutine looks for expired entries that no Get has met (see
// Cache.sweep).
const sweepEvery = 1000

// coarseClock is the default time source: the time since base, read by a
// goroutine every ClockResolution and kept in an atomic, so that a Get
// pays one atomic load instead of reading the system clock (which showed
// as a quarter of an L1 hit's time when Ristretto checked a TTL on every
// Get).
type coarseClock struct {
	base  time.Time    // with a monotonic reading
	now   atomic.Int64 // nanoseconds since base, as of the last tick
	stop  chan struct{}
	done  chan struct{}
	close sync.Once
}

// startCoarseClock returns a running coarse clock; stop it with halt. The
// clock's goroutine also calls tick on every tick and sweep every
// sweepEvery ticks.
func startCoarseClock(tick, sweep func()) *coarseClock {
	k := &coarseClock{base: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go k.run(tick, sweep)
	return k
}

func (k *coarseClock) run(tick, sweep func()) {
	defer close(k.done)
	t := time.NewTicker(ClockResolution)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-t.C:
			k.now.Store(int64(time.Since(k.base)))
			tick()
			if n%sweepEvery == 0 {
				sweep()
			}
		case <-k.stop:
			return
		}
	}
}

// halt stops the clock's goroutine and waits for it to end. It is
// idempotent.
func (k *coarseClock) halt() {
	k.close.Do(func() {
		close(k.stop)
		<-k.done
	})
}

// now returns the cache's current time in nanoseconds since its base: the
// coarse clock's last reading, or the configured Clock's time. Expiry times
// of items are on the same scale.
func (c *Cache) now() int64 {
	if c.clock == nil {
		return c.coarse.now.Load()
	}
	return int64(c.clock.Now().Sub(c.base))
}

// expiry returns the expiry time of an item filled now for ttl (> 0),
// saturated instead of overflowing.
func (c *Cache) expiry(ttl time.Duration) int64 {
	now := c.now()
	if now > 0 && int64(ttl) > maxInt64-now {
		return maxInt64
	}
	return now + int64(ttl)
}

const maxInt64 = 1<<63 - 1

// Sweep sizes: a round looks at sweepSample entries; another follows while
// at least a quarter of them had expired, up to sweepRounds.
const (
	sweepSample = 32
	sweepRounds = 16
)

// sweep drops expired entries that no Get has met, so that they do not
// hold memory until Ristretto evicts them: it samples the index (from a
// random place: Go's map iteration starts at one) as Redis samples keys
// with a TTL. It is best effort: it skips its turn when the lock is busy,
// so that the clock's goroutine never waits on it.
func (c *Cache) sweep() {
	if !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.drainLocked()
	now := c.now()
	for range sweepRounds {
		seen, expired := 0, 0
		for _, it := range c.idx.keys {
			if seen == sweepSample {
				break
			}
			seen++
			if now >= it.keep {
				c.dropLocked(it) // deleting during range is allowed
				c.n.expired++
				expired++
			}
		}
		if expired*4 < sweepSample {
			return
		}
	}
}
