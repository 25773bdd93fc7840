// Package chaos proves the cache's guarantees under network and server
// faults. It holds the history checker ([Check]) and, in its tests, the
// harness and one test per fault.
//
// # The harness
//
// Each scenario runs twice, as subtests "standalone" and "cluster": on a
// private redis-server, and on a private Redis Cluster of 3 masters
// (internal/redistest), where the nodes speak the cluster protocol of
// package remote and the bus listens on a shard channel. It starts N
// in-process nodes (tiered.Cache, 5 by default). Every node talks to Redis
// through fault-injecting TCP proxies of its own (internal/faultproxy):
// some for its commands, others for its subscriptions, so that a fault can
// hit the bus alone. On Cluster a node has one proxy of each kind per
// Redis server, and its cluster client's dialer maps each server's address
// (as the cluster announces it) to that proxy; a fault acts on all of a
// node's proxies of a kind. A fault on Redis itself (FLUSHALL, a restart,
// maxmemory) acts on every master. TestChaos_ClusterFailover runs on
// Cluster only, with a replica per master. Nodes run with short timings
// (TrustWindow 300ms, Heartbeat 50ms, RedisTimeout 200ms) so that
// scenarios finish fast.
//
// A simulated database holds versioned rows, each in one of a few
// categories or deleted. Three kinds of keys are read through GetOrLoad:
// a row (its loader depends on deps.Id; a deleted row is ErrNotFound), the
// list of rows of a category (it depends on the category's
// deps.Condition, on deps.All and on the deps.Id of every row in it; its
// version is the category's, bumped by every change of the list), and a
// page built by a loader that nests the list's GetOrLoad (so start marks
// and dependencies compose). Writers change a random row (update in place,
// move to another category, delete, re-create), commit under the database
// lock, then call Invalidate on a random node with the row's id and, for a
// membership change, the conditions of the categories left and joined (or,
// one time in ten, deps.All); they retry Invalidate until it succeeds.
// Readers call GetOrLoad for random keys on random nodes. The history
// records every write (key, version, commit time, time Invalidate
// returned, node) and every read (key, version or not-found, start, end,
// node).
//
// # What is checked
//
//   - No stale read: [Check] with a bound of TrustWindow plus 200ms of
//     scheduling slack for other nodes, and zero for the node that
//     invalidated (read-your-writes). See [Check] for the exact rule.
//   - No lost update: once the workload has stopped and every node has
//     caught up, every key read on every node returns the database's final
//     version.
//   - No failed call, and no goroutine left (goleak) after each scenario.
//   - What the fault must have caused (a reconnection, a silence, flushes,
//     an open breaker), so that a scenario whose fault did not take effect
//     fails instead of passing vacuously.
//
// Each scenario prints one line of figures: operations, reads, writes,
// stale reads, lost updates, errors, refused puts, L1 flushes, log replays,
// propagation p50/p99/max (from the Invalidate call to the apply on each
// other node, measured through the internal seam), loader calls, and the
// random seed.
//
// # Running
//
//	go test -race ./chaos                               # CI size
//	go test -race ./chaos -chaos.ops=20000 -v           # larger
//	go test -race ./chaos -run NodePaused -chaos.seed=42 # one scenario, one seed
//
// -chaos.ops sets every scenario's operations on both topologies (1500 by
// default on standalone, 750 on Cluster, where operations take more round
// trips; the burst scenario's 10k writes, 2k on Cluster by default, come on
// top); -chaos.nodes sets the number of nodes. A subtest that fails for a
// known gap of the cache skips, saying which; -chaos.known runs it:
//
//	go test -race ./chaos -run 'ClusterFailover|/cluster' -chaos.known -v
package chaos
