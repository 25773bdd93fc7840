package local

// Stats is a snapshot of a [Cache]'s figures. Counters count from New.
// Hits and misses are not counted here (a counter on the Get path would be a
// contended write): the caller counts them.
type Stats struct {
	Entries    int    // keys in the dependency index: entries filled and not known to be gone
	Deps       int    // dependencies in the index
	Tombstones int    // dependencies whose last invalidation is remembered
	Floor      uint64 // fills with a start mark below it are refused
	Applied    uint64 // see Cache.Applied
	Generation uint64 // see Cache.Generation

	Fills   uint64   // fills accepted (handed to Ristretto)
	Refused Refusals // fills refused, by reason
	Dropped uint64   // fills accepted by the rules but dropped by Ristretto's full Set buffer

	Invalidations      uint64 // Invalidate calls
	Invalidated        uint64 // entries dropped by Invalidate
	Deleted            uint64 // entries dropped by Delete
	Resets             uint64 // Reset calls
	Expired            uint64 // entries dropped past their expiry (found by Get, or by the sweep of the cache's own clock)
	Prunes             uint64 // index entries removed because Ristretto evicted or rejected the entry
	TombstoneEvictions uint64 // tombstones forgotten by the LRU (each may have raised the floor)
}

// Refusals counts refused fills by reason. A fill is counted under the first
// reason that applies, in the order of the fields.
type Refusals struct {
	Generation uint64 // filled with a generation other than the current one (a Reset came in between)
	TTL        uint64 // ttl <= 0
	Cost       uint64 // cost above MaxCost: Ristretto would reject it
	Floor      uint64 // start mark below the floor
	Tombstone  uint64 // a dependency (or the key's own Key dependency) was invalidated after the start mark
	Superseded uint64 // the key holds an entry read at a later start mark
	Closed     uint64 // the cache is closed
}

// Total is the number of refused fills.
func (r Refusals) Total() uint64 {
	return r.Generation + r.TTL + r.Cost + r.Floor + r.Tombstone + r.Superseded + r.Closed
}

// counters are the Stats counters kept by the Cache, guarded by Cache.mu.
type counters struct {
	fills, dropped                      uint64
	refused                             Refusals
	invalidations, invalidated, deleted uint64
	resets, prunes, expired             uint64
}

// Stats returns a snapshot of the cache's figures. It takes the cache's lock
// (and applies pending prunes first, so Entries is up to date with what
// Ristretto has reported).
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drainLocked()
	return Stats{
		Entries:            len(c.idx.keys),
		Deps:               len(c.idx.byDep),
		Tombstones:         c.tombs.len(),
		Floor:              c.tombs.floor,
		Applied:            c.applied.Load(),
		Generation:         c.gen.Load(),
		Fills:              c.n.fills,
		Refused:            c.n.refused,
		Dropped:            c.n.dropped,
		Invalidations:      c.n.invalidations,
		Invalidated:        c.n.invalidated,
		Deleted:            c.n.deleted,
		Resets:             c.n.resets,
		Expired:            c.n.expired,
		Prunes:             c.n.prunes,
		TombstoneEvictions: c.tombs.evictions,
	}
}
