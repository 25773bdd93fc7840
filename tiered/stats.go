package tiered

import (
	"sync/atomic"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/local"
)

// Stats are the cache's counters since New. All counts are cumulative.
type Stats struct {
	L1Hits   uint64 // GetOrLoad and Get answered from L1 (not a value of another type than asked for: ErrTypeMismatch)
	L1Misses uint64 // L1 lookups that missed, or skipped because L1 was not trusted
	L2Hits   uint64 // answered from Redis
	L2Misses uint64 // not in Redis either

	Loads      uint64 // loader calls
	LoadErrors uint64 // loader calls that returned an error other than ErrNotFound (never cached)
	Shared     uint64 // callers that received another caller's load (singleflight)
	Rejoined   uint64 // callers that joined a load overtaken by an invalidation before they came, and loaded again (G3)

	RefusedPuts uint64 // loaded values not stored because an invalidation overtook them (G1)
	// RefusedWrites counts puts of loaded values that Redis refused (out
	// of memory under noeviction, a read-only replica, MISCONF): each
	// value was answered uncached (G12).
	RefusedWrites uint64
	// Holds counts holds received: invalidations that Redis refused,
	// after which no node serves the cache until Redis takes writes again
	// and a new epoch begins (G12).
	Holds        uint64
	RefusedFills uint64 // L1 fills refused by a tombstone, the floor or a reset
	Corrupt      uint64 // undecodable entries met in Redis (treated as misses)
	// CodecMismatches counts entries met in Redis in another codec than
	// this node's (ErrCodecMismatch).
	CodecMismatches uint64
	LostIndex       uint64 // entries in Redis dropped on read because part of their index was gone (G2)
	CheckedReads    uint64 // Redis reads this node could not vouch for from the invalidations it applied, read again with the index check (G2)

	InvalidationsSent uint64 // Invalidate, Delete and Set calls that reached Redis
	Unfinished        uint64 // of those, invalidations in phases whose clean-up was cut short (in effect; swept later)
	// InvalidationsCombined counts Invalidate and Delete calls that did not
	// reach Redis on their own: they came while another of this node's
	// invalidations was in flight and went with others in one call.
	InvalidationsCombined uint64
	InvalidationsApplied  uint64 // bus messages applied to L1
	Flushes               uint64 // L1 resets: first sync, a gap the log could not fill, an epoch change
	Replays               uint64 // invalidations replayed from the log after a gap

	Leases         uint64 // cross-node leases taken (G8)
	LeaseWaits     uint64 // loads that waited for another node's lease
	LeaseNotified  uint64 // waits ended by a fill announcement (not by polling)
	LeaseTakeovers uint64 // leases taken after waiting with no announcement: the holder's ran out

	Refreshes        uint64 // background refreshes started (RefreshAfter)
	RefreshesStored  uint64 // refreshes whose value was stored
	RefreshesRefused uint64 // refreshes not stored because an invalidation overtook them (G1)
	StaleServed      uint64 // failed loads answered with a value kept for StaleIfError

	Degraded     uint64 // calls answered by the loader without Redis (G9)
	BreakerOpens uint64 // times the circuit breaker opened

	L1  local.Stats // the L1's own figures
	Bus bus.Stats   // the bus's own figures (zero in one-process mode)
}

type counters struct {
	l1Hits                              stripedCounter // on the hit path: see stripedCounter
	l1Misses, l2Hits, l2Misses          atomic.Uint64
	loads, loadErrors, shared, rejoined atomic.Uint64
	refusedPuts, refusedFills, corrupt  atomic.Uint64
	refusedWrites, holds                atomic.Uint64
	sent, applied, flushes, unfinished  atomic.Uint64
	degraded, checkedReads              atomic.Uint64
	codecMismatch, combined             atomic.Uint64
}

// Stats returns the cache's counters.
func (c *Cache) Stats() Stats {
	if c == nil {
		return Stats{}
	}
	s := Stats{
		L1Hits:                c.n.l1Hits.Load(),
		L1Misses:              c.n.l1Misses.Load(),
		L2Hits:                c.n.l2Hits.Load(),
		L2Misses:              c.n.l2Misses.Load(),
		Loads:                 c.n.loads.Load(),
		LoadErrors:            c.n.loadErrors.Load(),
		Shared:                c.n.shared.Load(),
		Rejoined:              c.n.rejoined.Load(),
		RefusedPuts:           c.n.refusedPuts.Load(),
		RefusedWrites:         c.n.refusedWrites.Load(),
		Holds:                 c.n.holds.Load(),
		RefusedFills:          c.n.refusedFills.Load(),
		Corrupt:               c.n.corrupt.Load(),
		CodecMismatches:       c.n.codecMismatch.Load(),
		CheckedReads:          c.n.checkedReads.Load(),
		InvalidationsSent:     c.n.sent.Load(),
		Unfinished:            c.n.unfinished.Load(),
		InvalidationsCombined: c.n.combined.Load(),
		InvalidationsApplied:  c.n.applied.Load(),
		Flushes:               c.n.flushes.Load(),
		Degraded:              c.n.degraded.Load(),
		Leases:                c.ahead.n.leases.Load(),
		LeaseWaits:            c.ahead.n.leaseWaits.Load(),
		LeaseNotified:         c.ahead.n.leaseNotified.Load(),
		LeaseTakeovers:        c.ahead.n.takeovers.Load(),
		Refreshes:             c.ahead.n.refreshes.Load(),
		RefreshesStored:       c.ahead.n.refreshStored.Load(),
		RefreshesRefused:      c.ahead.n.refreshRefused.Load(),
		StaleServed:           c.ahead.n.staleServed.Load(),
		BreakerOpens:          c.breaker.opened.Load(),
		L1:                    c.l1.Stats(),
	}
	if c.l2 != nil {
		s.LostIndex = c.l2.LostIndex()
	}
	if c.bus != nil {
		s.Bus = c.bus.Stats()
		s.Replays = s.Bus.Replayed
	}
	return s
}
