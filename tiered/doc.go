// Package tiered is the composed cache of one node: an L1 ([local]) in
// front of a shared Redis L2 ([remote]), kept coherent with the other nodes
// by the invalidation bus ([bus]). [New] builds it; [GetOrLoad],
// [GetOrLoadWith], [GetOrLoadMany] and [Get] read through it with the
// caller's type (package matroska re-exports them, so that most programs
// need one import); [Cache] offers the rest: [Cache.Set], [Cache.Delete],
// [Cache.Invalidate], [Cache.Mark], [Cache.Stats], [Cache.Ready] and
// [Cache.Close].
//
// It owns the protocol between the tiers: start marks (a value is fresh up
// to the sequence read before it), their composition through nested loads
// ([Recorder]), when L1 may be served and filled (the bus is synced and
// Redis answers), the per-key singleflight of loads, the circuit breaker,
// and the one-process mode (no Redis: L1 and an in-process sequence, same
// API). It never reaches into Redis keys or Lua scripts (package remote),
// Ristretto (package local) or the subscription (package bus): it only
// wires them.
//
// # Ordering arguments
//
//   - A load takes L1's generation before its Redis read, and its start
//     mark from that read: a reset of L1 (an epoch change, a gap the log
//     could not fill) between the two refuses the fill.
//   - L1 drops, on an invalidation at sequence s, only entries read before
//     s (mark < s). So the invalidating node applies its own invalidation
//     before Invalidate returns (G3) and again when the bus delivers it,
//     with no effect the second time, and a value read after s survives
//     both.
//   - An L1 hit consumed by a loader carries the node's applied sequence as
//     its mark: an invalidation the node has not applied yet still refuses
//     the outer put in Redis (DESIGN section 4, "start marks compose").
package tiered
