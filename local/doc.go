// Package local is the L1 of Matroska: an in-process cache of decoded
// values in front of the shared L2, with the bookkeeping that keeps it from
// serving stale values.
//
// It owns, per process:
//   - a Ristretto cache of entries (value as decoded, not-found flag,
//     dependencies, start mark, expiry), bounded in bytes by
//     [Config.MaxCost], every entry with a TTL of at most [Config.MaxTTL];
//     the entry carries its expiry and [Cache.Get] checks it against a
//     coarse clock (see [Config.Clock]) and drops an expired entry, so that
//     a hit does not read the system clock as a Ristretto TTL would;
//   - a dependency index (dependency to keys, key to entry), kept in step with
//     Ristretto through its exit callback (eviction, admission refusal,
//     deletion) and expiry, so that [Cache.Invalidate] finds every entry that
//     depends on a dependency and the index never outgrows Ristretto;
//   - tombstones: the sequence number of each dependency's last applied
//     invalidation, in an LRU of [Config.Tombstones] entries, and a floor
//     that rises when the LRU forgets one, so that [Cache.Fill] refuses a
//     value that was read before an invalidation it has already seen (G1);
//   - the applied sequence ([Cache.Advance], [Cache.Applied]) and a
//     generation that [Cache.Reset] bumps.
//
// It never touches Redis, the network, the bus or the codec, and imports
// nothing of the project but package deps: the composer (package tiered)
// decides what to fill, which sequence numbers to apply and when to reset.
//
// # Visibility
//
// Ristretto applies a Set of a new key asynchronously, on its own
// goroutine. With the cache's own clock, [Cache.Fill] does not wait for it:
// it stages the entry, which [Cache.Get] finds at once (after a Ristretto
// miss, in a map of staged entries), and the clock's goroutine hands staged
// entries to Ristretto on its next tick, and unstages each once Ristretto
// holds it. Ristretto may still drop an entry (a full buffer, or its
// admission policy), so a successful Fill is a promise that the entry may be
// served, not that it will be. The opposite is strict: once [Cache.Invalidate], [Cache.Delete] or [Cache.Reset] has
// returned, [Cache.Get] never returns an entry they dropped, even if
// Ristretto's buffered Set of that entry lands afterwards (G6): every entry
// carries a dead flag, set before its removal from Ristretto, and the
// generation it was filled in, which Get checks on both of its paths.
//
// # Sharing
//
// Values handed out by [Cache.Get] (Item.Value and Item.Deps) are the ones
// given to [Cache.Fill], shared by every caller without a copy: a hit costs
// no decode and no allocation. They must be treated as read-only, by the
// filler after Fill as much as by every reader; a caller that needs to
// modify a value must copy it first.
package local
