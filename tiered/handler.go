package tiered

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/remote"
)

// busHandler applies the bus's invalidations to L1. The bus calls it from
// one goroutine, in sequence order.
type busHandler struct{ c *Cache }

// Apply drops the L1 entries that depend on the message's dependencies.
// Messages of this node's own invalidations are applied too: they were
// applied locally before Invalidate returned, and applying one again
// changes nothing (L1 keeps entries read at or after its sequence), while it
// covers an invalidation whose reply this node never received.
func (h busHandler) Apply(m bus.Message) {
	if hook := h.c.applyHook.Load(); hook != nil {
		(*hook)(m.Seq)
	}
	if s := h.c.seam; s != nil && s.Apply != nil {
		s.Apply(m)
	}
	h.c.l1.Invalidate(m.Seq, m.Deps)
	h.c.l1.Advance(m.Seq)
	h.c.n.applied.Add(1)
	if m.Origin == h.c.origin {
		h.c.delivered(m.Seq)
	}
}

// Reset forgets everything L1 holds: the bus could not catch up, or Redis
// changed epoch.
//
// The epoch and L1's applied sequence change together for every reader:
// while L1 resets, the epoch is resetting, which matches no Redis epoch, so
// no fill passes its epoch check and no mark is taken (see seenMark and
// Consumed). Storing the new epoch first would let a loader pair it with
// the old epoch's applied sequence for the moment before the reset;
// storing it last, let a fill read in the old epoch land after the reset.
func (h busHandler) Reset(s bus.State) {
	h.c.epoch.Store(&resetting)
	if hook := h.c.resetHook.Load(); hook != nil {
		(*hook)()
	}
	h.c.l1.Reset(s.Seq)
	h.c.epoch.Store(&s.Epoch)
	h.c.n.flushes.Add(1)
}

// resetting is the epoch while L1 resets (see busHandler.Reset): a value
// that no read of Redis returns (epochs are hex digits; a missing one reads
// as "").
var resetting = "\x00resetting"

// Hold is a hold from another node (or this one): see Cache.hold.
func (h busHandler) Hold(m bus.Message) {
	e := m.Epoch
	h.c.held.Store(&e)
	h.c.n.holds.Add(1)
}

// busSource reads the bus's catch-up data from the L2 store. The bus calls
// State on every heartbeat; its success is also the circuit breaker's probe,
// so a node whose callers all answer from L1 (or from loaders while the
// breaker is open) still learns that Redis is back.
type busSource struct {
	s       *remote.Store
	breaker *breaker
	held    *atomic.Pointer[string] // the Cache's: see Cache.hold
	feeds   *feedWatch              // the Cache's: Config.Feeds
}

// State is the state of Redis. Under a hold of the epoch the bus follows,
// it first asks Redis for a new epoch: once Redis takes writes again, every
// entry the refused invalidation left becomes a miss, and the bus's reset
// to the new epoch ends the hold.
func (b busSource) State(ctx context.Context, seen bus.State) (bus.State, error) {
	if h := b.held.Load(); h != nil && *h == seen.Epoch {
		if _, err := b.s.Rotate(ctx, *h); err != nil {
			return bus.State{}, err
		}
	}
	st, err := b.s.StateAfter(ctx, remote.State{Seq: seen.Seq, Epoch: seen.Epoch})
	if err == nil {
		b.breaker.success()
		b.checkFeeds(ctx)
	}
	return bus.State{Seq: st.Seq, Epoch: st.Epoch}, err
}

// checkFeeds looks for the keys of the feeds the node follows (see
// Config.Feeds). A feed whose key is gone, or that could not be looked at,
// is behind.
func (b busSource) checkFeeds(ctx context.Context) {
	f := b.feeds
	if len(f.names) == 0 {
		return
	}
	missing, err := b.s.MissingFeeds(ctx, f.names)
	switch {
	case err != nil:
		f.behind.Store(&f.names)
	case len(missing) > 0:
		f.behind.Store(&missing)
	default:
		f.alive()
	}
}

// feedWatch is what the node knows of the feeds it follows.
type feedWatch struct {
	names  []string
	behind atomic.Pointer[[]string] // the feeds found behind, nil when none
	// A check that found every feed alive vouches for them until the next
	// heartbeat, not longer: if no check comes within expiry (a stalled
	// heartbeat), a timer sets them behind.
	expiry time.Duration
	checks atomic.Uint64
}

func (f *feedWatch) init(names []string, expiry time.Duration) {
	f.names, f.expiry = names, expiry
	if len(names) > 0 {
		f.behind.Store(&f.names) // until the first heartbeat finds their keys
	}
}

// alive records a check that found every feed alive.
func (f *feedWatch) alive() {
	n := f.checks.Add(1)
	f.behind.Store(nil)
	time.AfterFunc(f.expiry, func() {
		if f.checks.Load() == n {
			f.behind.CompareAndSwap(nil, &f.names)
		}
	})
}

func (b busSource) Log(ctx context.Context, after, upto uint64) ([]bus.Message, bool, error) {
	entries, complete, err := b.s.Log(ctx, after, upto)
	if err != nil {
		return nil, false, err
	}
	msgs := make([]bus.Message, len(entries))
	for i, e := range entries {
		msgs[i] = bus.Message{Epoch: e.Epoch, Seq: e.Seq, Origin: e.Origin, Deps: e.Deps}
	}
	return msgs, complete, nil
}
