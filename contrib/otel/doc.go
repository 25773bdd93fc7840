// Package matroskaotel makes OpenTelemetry spans and metrics of a
// tiered.Cache: a span for each read of Redis after an L1 miss, each loader
// call, each invalidation and each set (through tiered.Config.Observer), and
// the cache's figures (tiered.Cache.Stats) as metrics, with a histogram of
// the time this node's invalidations take to come back over the bus.
//
//	obs, err := matroskaotel.New(matroskaotel.Options{})
//	if err != nil { ... }
//	cache, err := tiered.New(tiered.Config{Redis: rdb, Observer: obs})
//	if err != nil { ... }
//	reg, err := obs.Register(cache)
//	if err != nil { ... }
//	defer reg.Unregister()
//
// # Why two steps
//
// The spans need the Observer in the Config before tiered.New; the metrics
// need the cache that New returns, since they read its Stats. So one value,
// the [Observer], is made first and given to the Config, and
// [Observer.Register] then ties it to the cache it observes: from then on
// every collection reads that cache's Stats once, and the propagation
// histogram carries the cache's node. An Observer belongs to one cache:
// Register is refused a second time (make one Observer per cache; several
// can share one MeterProvider and TracerProvider). The instruments are made
// by New, so that a MeterProvider that refuses them fails there, before the
// cache exists.
//
// # Spans
//
// The spans are named matroska.read, matroska.load, matroska.invalidate and
// matroska.set. A read, an invalidation and a set talk to Redis and are
// client spans; a load runs the application's loader, in the span's
// context, so that the loader's own spans are children of matroska.load.
// They carry matroska.keys (the keys read or loaded, the dependencies
// invalidated), matroska.found (the keys a read found, or a load returned a
// value for), matroska.refresh on a load (a background refresh), and
// matroska.key, the key, only with [Options.RecordKeys]: keys often hold
// user ids or other personal data, so they are left out unless asked for.
// An operation that fails ends with status Error and the error recorded as
// an event, but a load that ends in tiered.ErrNotFound is an answer, not a
// failure. An L1 hit makes no span and calls nothing: it costs what it
// costs without this package.
//
// # Metrics
//
// Every collection reads Stats once. The figures are those of the
// Prometheus collector (contrib/prometheus), named in OpenTelemetry's style
// under matroska.cache, with the hits and the misses of the two tiers one
// instrument each, told apart by matroska.tier (l1 or l2):
//
//	counters (cumulative since the cache started):
//	  matroska.cache.hits, .misses (per tier), .loads, .load_errors,
//	  .shared_loads, .refused_puts, .refused_fills, .corrupt_entries,
//	  .lost_index, .checked_reads, .invalidations_sent,
//	  .invalidations_applied, .degraded, .breaker_opens,
//	  .rejoined_loads, .refused_writes, .holds, .codec_mismatches,
//	  .unfinished_invalidations, .leases, .lease_waits,
//	  .lease_notified, .lease_takeovers, .refreshes,
//	  .refreshes_stored, .refreshes_refused, .stale_served,
//	  matroska.cache.l1.fills, .dropped_fills, .invalidated, .expired,
//	  .flushes,
//	  matroska.cache.bus.received, .malformed, .gaps, .replays,
//	  .reconnects, .silences, .lost, .forged, .stale_epoch
//	up-down counters (sizes, which add up across nodes):
//	  matroska.cache.l1.entries, .dependencies, .tombstones
//	gauges:
//	  matroska.cache.bus.sequence (the last invalidation applied)
//	  matroska.cache.bus.trusted (1 when the bus lets the node serve L1,
//	  0 while it catches up, and always 0 in one-process mode)
//	histogram, in seconds, fed by tiered.Observer.Propagated:
//	  matroska.cache.propagation.duration
//
// Every point carries matroska.node, the cache's NodeID (the propagation
// histogram's once Register has named it), and [Options.Attributes].
//
// It lives in its own module so that the library does not depend on
// OpenTelemetry.
package matroskaotel
