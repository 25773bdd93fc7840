package matroskaprom

import "github.com/matroska-go/matroska/tiered"

type definition struct {
	subsystem, name, help string
	counter               bool
	value                 func(*tiered.Stats) float64
}

func count(v uint64) float64 { return float64(v) }

func boolean(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// definitions are the exported metrics, one per Stats figure.
var definitions = []definition{
	{"l1", "hits", "GetOrLoad and Get calls answered from L1.", true, func(s *tiered.Stats) float64 { return count(s.L1Hits) }},
	{"l1", "misses", "L1 lookups that missed or were skipped because L1 was not trusted.", true, func(s *tiered.Stats) float64 { return count(s.L1Misses) }},
	{"l2", "hits", "Calls answered from Redis.", true, func(s *tiered.Stats) float64 { return count(s.L2Hits) }},
	{"l2", "misses", "Calls that found nothing in Redis either.", true, func(s *tiered.Stats) float64 { return count(s.L2Misses) }},
	{"", "loads", "Loader calls.", true, func(s *tiered.Stats) float64 { return count(s.Loads) }},
	{"", "load_errors", "Loader calls that failed (never cached).", true, func(s *tiered.Stats) float64 { return count(s.LoadErrors) }},
	{"", "shared_loads", "Callers that received another caller's load.", true, func(s *tiered.Stats) float64 { return count(s.Shared) }},
	{"", "refused_puts", "Loaded values not stored because an invalidation overtook them.", true, func(s *tiered.Stats) float64 { return count(s.RefusedPuts) }},
	{"", "refused_fills", "L1 fills refused by a tombstone, the floor or a reset.", true, func(s *tiered.Stats) float64 { return count(s.RefusedFills) }},
	{"", "corrupt_entries", "Undecodable entries met in Redis.", true, func(s *tiered.Stats) float64 { return count(s.Corrupt) }},
	{"", "lost_index", "Redis entries dropped on read because part of their index was gone.", true, func(s *tiered.Stats) float64 { return count(s.LostIndex) }},
	{"", "checked_reads", "Redis reads the node could not vouch for from the invalidations it applied, read again with the index check.", true, func(s *tiered.Stats) float64 { return count(s.CheckedReads) }},
	{"", "invalidations_sent", "Invalidations that reached Redis.", true, func(s *tiered.Stats) float64 { return count(s.InvalidationsSent) }},
	{"", "invalidations_applied", "Bus messages applied to L1.", true, func(s *tiered.Stats) float64 { return count(s.InvalidationsApplied) }},
	{"l1", "flushes", "L1 resets: first sync, a gap the log could not fill, an epoch change.", true, func(s *tiered.Stats) float64 { return count(s.Flushes) }},
	{"bus", "replays", "Invalidations replayed from the log after a gap.", true, func(s *tiered.Stats) float64 { return count(s.Replays) }},
	{"", "degraded", "Calls answered by the loader without Redis.", true, func(s *tiered.Stats) float64 { return count(s.Degraded) }},
	{"", "breaker_opens", "Times the circuit breaker opened.", true, func(s *tiered.Stats) float64 { return count(s.BreakerOpens) }},
	{"", "rejoined_loads", "Callers that joined a load an invalidation had overtaken, and loaded again.", true, func(s *tiered.Stats) float64 { return count(s.Rejoined) }},
	{"", "refused_writes", "Loaded values Redis refused to store (out of memory, read-only, failing persistence), answered uncached.", true, func(s *tiered.Stats) float64 { return count(s.RefusedWrites) }},
	{"", "holds", "Holds received: invalidations Redis refused, after which no node serves the cache until Redis takes writes again.", true, func(s *tiered.Stats) float64 { return count(s.Holds) }},
	{"", "codec_mismatches", "Entries met in Redis in another codec than this node's.", true, func(s *tiered.Stats) float64 { return count(s.CodecMismatches) }},
	{"", "unfinished_invalidations", "Invalidations in effect whose clean-up was cut short (swept later).", true, func(s *tiered.Stats) float64 { return count(s.Unfinished) }},
	{"", "combined_invalidations", "Invalidate and Delete calls sent to Redis together with others of this node (combined under load).", true, func(s *tiered.Stats) float64 { return count(s.InvalidationsCombined) }},
	{"", "leases", "Cross-node load leases taken.", true, func(s *tiered.Stats) float64 { return count(s.Leases) }},
	{"", "lease_waits", "Loads that waited for another node's lease.", true, func(s *tiered.Stats) float64 { return count(s.LeaseWaits) }},
	{"", "lease_notified", "Lease waits ended by a fill announcement rather than by polling.", true, func(s *tiered.Stats) float64 { return count(s.LeaseNotified) }},
	{"", "lease_takeovers", "Leases taken after waiting with no announcement: the holder's had run out.", true, func(s *tiered.Stats) float64 { return count(s.LeaseTakeovers) }},
	{"", "refreshes", "Background refreshes started.", true, func(s *tiered.Stats) float64 { return count(s.Refreshes) }},
	{"", "refreshes_stored", "Background refreshes whose value was stored.", true, func(s *tiered.Stats) float64 { return count(s.RefreshesStored) }},
	{"", "refreshes_refused", "Background refreshes not stored because an invalidation overtook them.", true, func(s *tiered.Stats) float64 { return count(s.RefreshesRefused) }},
	{"", "stale_served", "Failed loads answered with a value kept for StaleIfError.", true, func(s *tiered.Stats) float64 { return count(s.StaleServed) }},

	{"l1", "entries", "Entries in the L1 dependency index.", false, func(s *tiered.Stats) float64 { return float64(s.L1.Entries) }},
	{"l1", "dependencies", "Dependencies in the L1 index.", false, func(s *tiered.Stats) float64 { return float64(s.L1.Deps) }},
	{"l1", "tombstones", "Invalidations remembered by L1.", false, func(s *tiered.Stats) float64 { return float64(s.L1.Tombstones) }},
	{"l1", "fills", "L1 fills accepted.", true, func(s *tiered.Stats) float64 { return count(s.L1.Fills) }},
	{"l1", "dropped_fills", "L1 fills dropped by Ristretto's full Set buffer.", true, func(s *tiered.Stats) float64 { return count(s.L1.Dropped) }},
	{"l1", "invalidated", "L1 entries dropped by invalidations.", true, func(s *tiered.Stats) float64 { return count(s.L1.Invalidated) }},
	{"l1", "expired", "L1 entries dropped past their expiry.", true, func(s *tiered.Stats) float64 { return count(s.L1.Expired) }},

	{"bus", "received", "Messages received on the channel.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Received) }},
	{"bus", "malformed", "Messages dropped as malformed.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Malformed) }},
	{"bus", "gaps", "Sequence gaps seen on the channel.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Gaps) }},
	{"bus", "reconnects", "Subscriptions confirmed again after the first.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Reconnects) }},
	{"bus", "silences", "Trust windows passed without a sign of life.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Silences) }},
	{"bus", "lost", "Messages found missing by a heartbeat.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Lost) }},
	{"bus", "forged", "Messages dropped because they are not signed with the MessageKey.", true, func(s *tiered.Stats) float64 { return count(s.Bus.Forged) }},
	{"bus", "stale_epoch", "Messages of another epoch than the current one, ignored.", true, func(s *tiered.Stats) float64 { return count(s.Bus.StaleEpoch) }},
	{"bus", "sequence", "Last invalidation sequence applied.", false, func(s *tiered.Stats) float64 { return float64(s.Bus.Seq) }},
	{"bus", "trusted", "1 when the bus lets this node serve L1, 0 while it catches up (always 0 in one-process mode, which has no bus).", false, func(s *tiered.Stats) float64 { return boolean(s.Bus.Trusted) }},
}
