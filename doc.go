// Package matroska is the typed front door of Matroska for Go, a
// multi-tier cache with dependency tracking for horizontally scaled
// services: an in-process L1 (Ristretto) in front of a shared Redis L2,
// kept coherent across nodes by invalidations broadcast over Redis pub/sub.
//
// A read-through call declares what its value depends on:
//
//	list, err := matroska.GetOrLoad(ctx, cache, "articles:published",
//		func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
//			arts, err := db.PublishedArticles(ctx)
//			for _, a := range arts {
//				rec.Depend(deps.Id("article", a.ID), deps.Id("author", a.AuthorID))
//			}
//			return arts, err
//		}, matroska.TTL(time.Minute))
//
// and a write, after its database commit, invalidates what it changed:
//
//	err := cache.Invalidate(ctx, deps.Id("author", 7))
//
// Every entry that depends on author 7 is then gone from this node's L1 and
// from Redis when Invalidate returns, and from every other node's L1 as soon
// as the bus message reaches it. A load that started before the
// invalidation and ends after it is not stored anywhere.
//
// GetOrLoad calls nested inside a loader are recorded by the outer one: the
// outer entry depends on the inner entry (its key, as a deps.Key) and on
// everything the inner entry depends on, whether the inner call hit or
// loaded, so invalidating an inner entry invalidates the entries containing
// it.
//
// On a hot path, pass the loader as a value with GetOrLoadWith: a small
// struct with a Load method is copied to the heap only on a miss, so an L1
// hit allocates nothing, where a closure capturing per-call variables is
// allocated by Go on every call.
//
// Options beyond the TTL: Lease (one loader per key across nodes),
// RefreshAfter (refresh in the background while serving), StaleIfError
// (serve the last value for a while when the loader fails).
//
// Values served from L1 are shared between callers and must be treated as
// read-only: mutating a slice or map returned by GetOrLoad mutates the
// cached copy, so copy it before changing it.
//
// The cache itself is package [github.com/matroska-go/matroska/tiered];
// dependencies are package [github.com/matroska-go/matroska/deps]; list
// conditions are package [github.com/matroska-go/matroska/scopes].
package matroska
