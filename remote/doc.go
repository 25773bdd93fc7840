// Package remote is the shared second tier (L2) of the cache: entries,
// their dependency index, the invalidation sequence and the invalidation
// log, all in Redis, reached through a go-redis [redis.UniversalClient].
//
// # What it owns
//
// Under a namespace N it keeps (the names are built in one place, keys.go):
//
//   - N:seq and N:epoch: the invalidation sequence and the random id of the
//     current sequence ([State]);
//   - N:e:<key>: an entry, an envelope ([AppendEnvelope], [DecodeEnvelope]);
//   - N:d:<dep>: the keys of the entries that depend on dep, a ZSET scored by
//     each entry's expiry in milliseconds of Redis's own clock;
//   - N:i:<dep>: a tombstone, the sequence number of dep's last
//     invalidation, kept for [Config.TombstoneHorizon];
//   - N:log: a capped stream of recent invalidations, for catch-up ([Store.Log]);
//   - the channel N:inv on which every invalidation is published ([Store.Channel]).
//
// Every write ([Store.Put], [Store.Set], [Store.Invalidate]) is one Lua
// script, so no client ever sees an entry without its index, a new sequence
// number with an old entry, or an invalidation without its tombstones. The
// scripts read time with Redis's TIME, never the client's clock.
//
// # What it never touches
//
// It does not decode payloads (they are opaque bytes), keeps nothing in
// process memory between calls, starts no goroutine, and knows nothing of
// the in-process tier or of the subscriber side of the bus: package tiered
// composes them. It never closes the Redis client it is given.
//
// # Deployment note
//
// Tombstones and the sequence must not be evicted while they matter: run
// Redis with maxmemory-policy noeviction (or give it enough memory). Losing
// N:seq or N:epoch is detected (the next write starts a new epoch, which
// every node treats as a restart); losing a dependency set is detected too
// (Read drops an entry that is no longer in every set it belongs to); losing
// a tombstone early is not: a load in flight at that moment could store a
// value that the lost tombstone would have refused.
package remote
