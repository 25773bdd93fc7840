// Package pgcdc invalidates the Matroska cache from PostgreSQL's commit log:
// every committed change of the tables it is told about, whoever made it
// (the application, a migration, a psql session, another service), becomes
// an invalidation, and none is lost to a crash between a COMMIT and its
// Invalidate.
//
// A [Consumer] streams a logical replication slot with the built-in
// pgoutput plugin and turns each committed transaction into one Invalidate
// call:
//
//	c, err := pgcdc.New(pgcdc.Config{
//		Conn:        "postgres://cdc@db/shop", // a user with REPLICATION
//		Invalidator: cache,                    // a *tiered.Cache
//		Tables: map[string]pgcdc.Table{
//			"articles": {Scopes: []pgcdc.Scope{pgcdc.ScopesOf(articleScopes)}},
//			"authors":  {},
//		},
//	})
//	if err != nil {
//		return err
//	}
//	go c.Run(ctx) // until ctx ends; errors are retried, logged and in Stats
//
// # What a change invalidates
//
// Every inserted, updated or deleted row invalidates deps.Id(Type, key):
// Type is the table's name unless [Table].Type says otherwise, and key the
// primary key, or [CompositeKey] of its columns, the names and the form
// that contrib/gorm gives the same row, so a read cached through the GORM
// plugin's Dependencies and a write seen in the log meet. An UPDATE that
// changes the key invalidates the old key too.
//
// A table with [Table].Scopes also invalidates the scope conditions that
// the row's old and new values match: [ScopesOf] decodes the row into the
// model type and asks the scopes.Scopes, as the GORM plugin does, so moving
// an article from one category to another drops the lists of both. The old
// values are in the log only with REPLICA IDENTITY FULL:
//
//	ALTER TABLE articles REPLICA IDENTITY FULL;
//
// Without it, an UPDATE or DELETE of such a table invalidates the Scope's
// type-wide dependency (All: every list of the type), logs a warning once,
// and counts a fallback (Stats.Fallbacks): more than needed, never less.
//
// TRUNCATE invalidates deps.All(Type) and each Scope's All: every cached
// list of the table. Entries that depend only on the id of one row cannot be
// found from a TRUNCATE, which names no rows: they stay until their TTL.
// A row of a table without a primary key (and no [Table].Key) has no id: it
// invalidates the same type-wide dependencies, is counted as a fallback and
// logged once. Changes of tables missing from [Config].Tables, which reach
// the consumer when the publication holds them, are ignored and counted
// (Stats.Ignored). None of these stalls the stream.
//
// # At least once, in commit order
//
// The server sends a transaction once it has committed, in commit order.
// The consumer invalidates its dependencies, and only when Invalidate has
// returned nil does it confirm the transaction's end to the slot (the
// standby status update's flush position). One goroutine does both, one
// transaction after the other, so a confirmed position never passes a
// transaction that is not invalidated. A failed Invalidate (Redis down) is
// retried with a backoff between [Config].RetryMin and RetryMax, never
// skipped; Stats.LagTime grows meanwhile. A consumer that stops or dies
// before it confirms leaves the transaction in the slot, and the next one
// invalidates it again: invalidations are idempotent. A transaction of many
// rows is invalidated in calls of at most [Config].BatchSize dependencies
// (so that no Redis script blocks the server for long), and confirmed
// after the last.
//
// The slot is durable: the server keeps the WAL it has not confirmed. A
// slot without a consumer therefore holds WAL without bound and can fill
// the server's disk. Watch Stats.LagBytes (pg_current_wal_lsn() -
// confirmed_flush_lsn). When the Invalidator is a [FeedReporter] (a
// *tiered.Cache), the consumer publishes its [Report] in Redis every
// [Config].LagInterval while it streams, and once when it stops: the
// CLI's "matroska watch" and "matroska stats" show each feed's lag, rate
// and last error, and flag loudly a report that is no longer updated (its
// consumer is dead: the slot keeps WAL) or a lag that grows while nothing
// is confirmed. contrib/prometheus's NewFeedCollector exports the same
// figures from Stats. On the server,
//
//	SELECT slot_name, active, pg_size_pretty(pg_current_wal_lsn() - confirmed_flush_lsn)
//	FROM pg_replication_slots;
//
// If the consumer is gone for good, drop the slot
// (SELECT pg_drop_replication_slot('matroska')): the cache then misses the
// changes made until a consumer creates it again, so flush it or let TTLs
// run out. PostgreSQL 13 and newer can bound the WAL a slot keeps with
// max_slot_wal_keep_size, at the same price once the bound is passed.
//
// # One consumer per database, and a standby
//
// A slot streams to one connection at a time. Run the consumer in two or
// more processes: each first takes a session-level advisory lock
// (pg_try_advisory_lock on a key derived from the slot's name) on a
// regular connection it keeps for its life. The one that holds it creates
// the publication and the slot when they are missing and streams; the
// others wait as standbys (Stats.Standby), trying the lock every
// [Config].LockPoll. When the active consumer stops, crashes or loses its
// connection, the server releases its lock and a standby takes over from
// the slot's confirmed position. The lock's connection also samples the
// lag: if it fails, the consumer ends its session, so it never streams
// without holding the lock.
//
// # A bound on what the nodes serve: the feed
//
// A consumer that stops, or falls behind, leaves the changes it has not
// invalidated served from the cache. With [Config].Feed set, the nodes
// that follow the feed (tiered.Config.Feeds) serve their cache only while
// the consumer keeps up: every [Config].Bound/4 the consumer reads the
// server's WAL flush position, noting the time just before; once it has
// confirmed a position at or past that, every transaction committed
// before that time is invalidated, and it keeps the feed's key in Redis
// alive (tiered.Cache.KeepFeed) for what is left of Bound since then. A
// consumer that stops, lags, or cannot invalidate renews nothing: the key
// runs out, and each node that follows the feed sees it at its next bus
// heartbeat and answers from its loaders, uncached, until the consumer has
// caught up again. A change made outside the application is therefore
// served stale at most Bound plus twice the nodes' Heartbeat (plus the
// broadcast's own delay) after its commit. Only durations are compared,
// each on one clock: the consumer's, then Redis's time to live. With
// synchronous_commit off a commit may reach the flushed WAL up to
// wal_writer_delay (200 ms by default) after it returned: add that to the
// bound.
//
// # With the application's own invalidations
//
// The consumer adds to, and does not replace, the invalidations the
// application or the GORM plugin make after their COMMIT: those keep
// read-your-writes (G3) on the writing node, since the log arrives later;
// the log's catch what they miss (other writers, a crash after COMMIT).
// Both invalidating the same dependencies costs one more script, no
// correctness.
package pgcdc
