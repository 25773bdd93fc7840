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
//   - N:e:<key>: an entry, an envelope ([AppendEnvelope], [DecodeEnvelope])
//     that carries the sequence it is known current at ([Envelope.Mark]);
//   - N:d:<dep>: the keys of the entries that depend on dep, a ZSET scored by
//     each entry's expiry in milliseconds of Redis's own clock, which lives
//     as long as its longest entry and is trimmed of expired members by one
//     in eight of the puts that add one (so it never grows without bound,
//     and costs most puts no trim);
//   - N:i:<dep>: a tombstone, the sequence number of dep's last
//     invalidation, kept for [Config.TombstoneHorizon];
//   - N:log: a capped stream of recent invalidations, for catch-up ([Store.Log]);
//   - the channel N:inv on which every invalidation is published
//     ([Store.Channel]), in the form of package bus's Message; one whose
//     message would be over 32 KiB is published with its dependencies left
//     in the log (bus.Message.InLog), which the same script writes;
//   - N:pending and N:p:<seq>:<epoch>:<dep>: invalidations in phases that are
//     not finished, and the entries each has still to delete ([Store.PendingKey]).
//
// Every write ([Store.Put], [Store.Set], [Store.Invalidate]) is one Lua
// script, so no client ever sees an entry without its index, a new sequence
// number with an old entry, or an invalidation without its tombstones. The
// scripts read time with Redis's TIME, never the client's clock.
//
// # Large invalidations
//
// A script blocks Redis while it runs, and deleting an entry costs Redis a
// few microseconds, and each of its other dependencies a ZREM: an
// invalidation of 100,000 dependents in one script would block it for most
// of a second (django-cacheops issue 444, "BUSY Redis is busy running a
// script"), and so would 1,000 dependents of 1,000 dependencies each. So a
// script's work is bounded by [Config.InvalidateBatch], counted in set
// members and in the ZREMs of the entries it deletes, and a larger
// invalidation runs in phases. The first script is the invalidation as far
// as anyone can tell: it takes the sequence number, writes the tombstones,
// empties the sets while its budget lasts, renames the rest of them to
// pending sets (so later puts index their entries in fresh ones), registers
// them, and publishes and logs the invalidation in sequence order. Later
// scripts delete the pending entries, a budget each, keeping any entry that
// is in the fresh set (written after the invalidation).
//
// In between, an old entry is still in Redis but no longer in its
// dependency's set, and [Store.Read] already drops such an entry and reads
// it as a miss (the check that guards against a lost index); a put marked
// before the invalidation is refused by the tombstone. So no reader needs a
// marker of pending invalidations, and other nodes can drop their L1
// copies as soon as the message arrives. The message cannot wait for the
// last phase: subscribers apply invalidations in sequence order and take a
// missing number for a lost message, and the log only appends in order.
//
// A caller that stops between phases leaves the invalidation in effect; its
// registry entry carries a deadline that each batch renews, and once it has
// passed, the next Invalidate or Set of any node finishes the work. A
// pending set keeps the TTL of the set it was, so nothing outlives the
// entries it would have held even if no invalidation ever follows.
//
// # Redis Cluster
//
// With a *redis.ClusterClient (or [Config.Cluster]) the Store speaks a
// protocol in which no script touches more than one hash slot (cluster.go
// explains it and why it is safe): the control keys share the hash tag
// {N} ({N}:seq, {N}:epoch, {N}:pub, {N}:log, the shard channel {N}:inv), a
// dependency's set and tombstone share the dependency's tag (N:d:{<dep>},
// N:i:{<dep>}), and an entry N:e:<key> lives wherever Redis hashes its name.
// A put checks, writes and checks again; an invalidation takes its number,
// writes tombstones and takes its dependencies' sets, is published
// (SPUBLISH) and logged strictly in sequence order, and then deletes the
// entries (which read as misses from the tombstones on, so a large delete
// holds back no other invalidation's publication); [Store.State] reports
// the published watermark. A read costs 1 round trip on a miss and 2 on a hit, a put 3, an
// invalidation 4. A master that restarts empty loses the tombstones of its
// slots, which a single Redis cannot do without changing the epoch: run
// masters with replicas.
//
// # What it never touches
//
// It does not decode payloads (they are opaque bytes), keeps nothing in
// process memory between calls, starts no goroutine, and knows nothing of
// the in-process tier or of the subscriber side of the bus: package tiered
// composes them. It never closes the Redis client it is given.
//
// # Lost history and refused writes
//
// Redis can come back older than the nodes saw it (a restart from its
// snapshot or AOF, a failover to a lagging replica): history.lua makes
// every script compare the run id of the Redis process with the one that
// served the epoch, and the callers hand the state they have applied to
// [Store.StateAfter] and [Store.ReadAfter]; either starts a new epoch, and
// entries, which carry their epoch ([Envelope.Epoch]), are served only in
// their own. Under the cluster protocol the epoch keeps a registry of its
// master processes (cluster_runs.go).
//
// At maxmemory with noeviction, the invalidation scripts still run (they
// are declared allow-oom); puts are refused with [ErrFull] and change
// nothing. Under an evicting policy any key may go: a lost sequence or
// epoch starts a new epoch, a lost dependency set is caught by the index
// check (Read drops an entry that is no longer in every set it belongs to,
// and a caller of [Store.ReadUnchecked] checks the entry's mark against the
// invalidations it knows of, or reads again with Read), and a lost
// tombstone is covered by refusing, once Redis has evicted anything, every
// put marked before the current sequence. Prefer a volatile-* policy: the
// state keys have no TTL and are never evicted then.
package remote
