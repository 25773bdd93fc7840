// Package bus receives the invalidation broadcast of a namespace and hands
// each invalidation to a [Handler] exactly once, in sequence order.
//
// Invalidations are published on a Redis pub/sub channel ("<ns>:inv") by the
// Lua scripts of package remote, one [Message] per invalidation, numbered by
// the namespace's sequence within an epoch. Pub/sub is fire-and-forget, so
// the bus never relies on it alone: it learns the namespace's current
// [State] from a [Source] and replays what the channel did not deliver from
// the Source's log. A [Bus]:
//
//   - applies messages in sequence order and ignores duplicates;
//   - on a sequence gap replays the missing range from [Source.Log], or, when
//     the log no longer holds it, calls [Handler.Reset] with a fresh state;
//   - on every (re)subscription reads the state (after the subscription is
//     confirmed, so nothing slips between) and catches up the same way;
//   - calls [Handler.Reset] when the epoch changes or the sequence goes
//     backwards (Redis restarted empty, or a failover lost writes);
//   - pings the subscription every Config.Heartbeat and compares the state
//     with what it applied, so a half-open connection or a silently lost
//     message is noticed within Config.TrustWindow, and then forces a fresh
//     connection.
//
// [Bus.Trusted] tells the cache whether its L1 may be served: it is true only
// while the subscription is confirmed, caught up, and heard from within the
// trust window. It is a single atomic load.
//
// A message too large for the channel carries its dependencies in the log
// instead ([Message.InLog]): the bus reads them from [Source.Log] when it
// arrives, and applies them in its place in the order.
//
// Malformed messages (see [Decode]) are dropped and counted, never applied.
//
// This package knows nothing of the cache's tiers: it imports only package
// deps of the project. The composer (package tiered) wires a Source backed by
// the L2 store and a Handler backed by the L1 cache.
package bus
