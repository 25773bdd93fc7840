package tiered

import (
	"context"
	"time"

	"github.com/matroska-go/matroska/local"
	"github.com/matroska-go/matroska/remote"
)

// Test-only seams.

// SetApplyHook makes the bus handler call hook before applying each
// message, on the bus goroutine: a test can block it to hold this node
// behind the others, or record when each sequence number arrived.
func (c *Cache) SetApplyHook(hook func(seq uint64)) { c.applyHook.Store(&hook) }

// SetResetHook makes the bus's resets of L1 call hook once the epoch reads
// as resetting, before L1 is emptied.
func (c *Cache) SetResetHook(hook func()) { c.resetHook.Store(&hook) }

// L1 exposes the node's L1 to tests.
func (c *Cache) L1() *local.Cache { return c.l1 }

// Trusted reports whether the node serves from L1 now.
func (c *Cache) Trusted() bool { return c.l1Trusted() }

// L2 exposes the node's Redis store to tests (nil in one-process mode).
func (c *Cache) L2() *remote.Store { return c.l2 }

// Peek is the L1 look of the typed read path, for tests that read the
// entry itself.
func (c *Cache) Peek(key string) (*local.Item, bool) { return c.peek(key) }

// MissWith runs the miss path of key with an untyped loader (nil decode:
// values are not read from Redis).
func (c *Cache) MissWith(ctx context.Context, key string, load func(context.Context, *Recorder) (any, error), decode func([]byte) (any, error)) (any, error) {
	return c.miss(ctx, key, anyLoader{load: load, decode: decode}, nil)
}

// InvalidationInFlight reports whether one of this node's invalidations is
// in flight, so that others queue behind it (see combiner).
func (c *Cache) InvalidationInFlight() bool {
	c.combine.mu.Lock()
	defer c.combine.mu.Unlock()
	return c.combine.flying
}

// SetCombineInvalidations turns Config.CombineInvalidations on or off; call
// it before the node's first invalidation.
func (c *Cache) SetCombineInvalidations(on bool) { c.combine.on = on }

// SetMaxQueueWait sets how long this node's invalidations wait in the
// combiner's queue before they go alone (maxQueueWait by default).
func (c *Cache) SetMaxQueueWait(d time.Duration) {
	c.combine.mu.Lock()
	defer c.combine.mu.Unlock()
	c.combine.wait = d
}

// QueuedInvalidations is the number of invalidations queued behind the one
// in flight.
func (c *Cache) QueuedInvalidations() int {
	c.combine.mu.Lock()
	defer c.combine.mu.Unlock()
	return len(c.combine.queue)
}
