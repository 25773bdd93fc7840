package tiered

import (
	"context"
	"fmt"

	"github.com/matroska-go/matroska/local"
)

// The typed read path: GetOrLoad, GetOrLoadWith and Get, which package
// matroska re-exports. An L1 hit is answered here, without allocating; a
// miss goes down the pipeline of miss.go.

// LoadFunc loads the value of a key on a miss and records its
// dependencies in rec. Returning ErrNotFound caches a negative entry. It
// should return when ctx ends: ctx carries Config.LoadTimeout, and Close
// cancels the contexts of background refreshes and waits for them.
type LoadFunc[T any] func(ctx context.Context, rec *Recorder) (T, error)

// Load calls f: a LoadFunc is a Loader.
func (f LoadFunc[T]) Load(ctx context.Context, rec *Recorder) (T, error) { return f(ctx, rec) }

// Loader is a loader as a value: GetOrLoadWith takes one. A small struct
// holding what the load needs (a database handle, an id) costs nothing on
// an L1 hit, where a LoadFunc closure that captures per-call variables is
// allocated by Go at every call, hit or miss (it is handed to the shared
// load, which outlives the call): see GetOrLoadWith.
type Loader[T any] interface {
	Load(ctx context.Context, rec *Recorder) (T, error)
}

// GetOrLoad returns the value of key: from this node's L1, else from Redis,
// else from load, whose result is then stored in both tiers with the
// dependencies it recorded.
//
//   - A key holds values of one type: a key that holds a value of another
//     type than T returns ErrTypeMismatch (it is not reloaded as a T).
//   - One load per key runs at a time on this node; concurrent callers wait
//     for it and share its result. A caller whose ctx ends stops waiting
//     and gets ctx.Err(); the load goes on for the others (it runs on a
//     context detached from callers' cancellation, bounded by
//     Config.LoadTimeout). The Redis read that starts a load runs on the
//     first caller's goroutine, bounded by its ctx and by RedisTimeout; if
//     that ctx ends during the read, the load reads again for the others
//     (and go-redis closes the connection the cut read was on).
//   - A loader error is returned to every waiter and never cached; a loader
//     panic becomes a *PanicError (wrapping ErrLoaderPanic) for every
//     waiter.
//   - A loader returning ErrNotFound stores a negative entry: later calls
//     return ErrNotFound until it expires or a dependency is invalidated.
//   - A load overtaken by an invalidation of one of its dependencies is
//     returned but not stored (G1).
//   - When Redis is down or slow, the loader answers and nothing is cached
//     (G9).
//   - A loaded value is returned, and kept in L1, as its encoding decodes
//     (one decoding on a miss), so every node serves the same value: a
//     field that the Codec drops (unexported, json:"-") is dropped on this
//     node too.
//   - A value that cannot be cached (too large, not encodable, an encoding
//     that does not decode, a zero dependency) is returned along with an
//     error saying why.
//
// The value may be shared with other callers: treat it as read-only.
//
// With RefreshAfter, a hit on an entry older than the soft TTL returns it
// and refreshes it in the background; with StaleIfError, a failed load
// returns the last value if it expired (and was not invalidated) less than
// that long ago; with Lease, one node at a time loads a cold key.
func GetOrLoad[T any](ctx context.Context, c *Cache, key string, load LoadFunc[T], opts ...Option) (T, error) {
	if it, hit := c.peek(key); hit {
		if v, ok, err := fromItem[T](ctx, c, key, it); ok {
			if c.due(it) {
				refreshAhead(c, key, load, opts)
			}
			return v, err
		}
	}
	return getOrLoadMiss(ctx, c, key, load, opts)
}

// GetOrLoadWith is GetOrLoad with the loader as a value of type L, such as
//
//	type articleLoader struct {
//		db *sql.DB
//		id int
//	}
//
//	func (l articleLoader) Load(ctx context.Context, rec *tiered.Recorder) (Article, error) {
//		rec.Depend(deps.Id("article", l.id))
//		return queryArticle(ctx, l.db, l.id)
//	}
//
//	a, err := tiered.GetOrLoadWith(ctx, cache, key, articleLoader{db, id})
//
// L is passed by value and copied to the heap only when it is needed (a
// miss, a refresh): an L1 hit allocates nothing. Use a struct (not a
// pointer to one, not an interface) for that.
func GetOrLoadWith[T any, L Loader[T]](ctx context.Context, c *Cache, key string, l L, opts ...Option) (T, error) {
	if it, hit := c.peek(key); hit {
		if v, ok, err := fromItem[T](ctx, c, key, it); ok {
			if c.due(it) {
				refreshAheadWith[T](c, key, l, opts)
			}
			return v, err
		}
	}
	return getOrLoadWithMiss[T](ctx, c, key, l, opts)
}

// Get returns the value of key from L1 or Redis without loading it:
// ErrMiss when no tier has it, ErrNotFound for a negative entry,
// ErrTypeMismatch when it holds a value of another type than T.
func Get[T any](ctx context.Context, c *Cache, key string) (T, error) {
	if it, hit := c.peek(key); hit {
		if v, ok, err := fromItem[T](ctx, c, key, it); ok {
			return v, err
		}
	}
	return typed[T](c.get(ctx, key, decoder[T](c)))
}

// getOrLoadWithMiss and refreshAheadWith take l by value: the method value
// l.Load, which escapes, copies it here, not in GetOrLoadWith.
func getOrLoadWithMiss[T any, L Loader[T]](ctx context.Context, c *Cache, key string, l L, opts []Option) (T, error) {
	return getOrLoadMiss(ctx, c, key, l.Load, opts)
}

func refreshAheadWith[T any, L Loader[T]](c *Cache, key string, l L, opts []Option) {
	refreshAhead(c, key, l.Load, opts)
}

// refreshAhead starts the background refresh of a due entry (see
// RefreshAfter). It is a function of its own so that the loader it builds
// is allocated here, not on the hit path.
func refreshAhead[T any](c *Cache, key string, load LoadFunc[T], opts []Option) {
	c.refreshAhead(key, untyped(c, load), opts)
}

func getOrLoadMiss[T any](ctx context.Context, c *Cache, key string, load LoadFunc[T], opts []Option) (T, error) {
	v, err := c.miss(ctx, key, untyped(c, load), opts)
	return typed[T](v, err)
}

// untyped is load as the load pipeline runs it: the value as an any, and
// Redis's payloads decoded into a T.
func untyped[T any](c *Cache, load LoadFunc[T]) anyLoader {
	return anyLoader{
		load: func(ctx context.Context, rec *Recorder) (any, error) {
			return load(ctx, rec)
		},
		decode: decoder[T](c),
	}
}

// fromItem answers from it, key's L1 entry: with its value of type T,
// ErrNotFound for a negative entry, or ErrTypeMismatch for a value of
// another type (another call site uses key for another type: loading and
// storing the caller's type would only evict the other's, on every call).
func fromItem[T any](ctx context.Context, c *Cache, key string, it *local.Item) (v T, ok bool, err error) {
	if it.NotFound {
		c.consumed(ctx, key, it)
		return v, true, ErrNotFound
	}
	if v, ok = it.Value.(T); !ok {
		return v, true, mismatch[T](key, it.Value)
	}
	c.consumed(ctx, key, it)
	return v, true, nil
}

// mismatch is the error of a key that holds have where a T was asked for. It
// is a function of its own so that fromItem's v does not escape to the heap.
//
//go:noinline
func mismatch[T any](key string, have any) error {
	var want T
	return fmt.Errorf("%w: key %q holds %T, want %T", ErrTypeMismatch, key, have, want)
}

func decoder[T any](c *Cache) func([]byte) (any, error) {
	var codec Codec
	if c != nil { // a nil Cache answers ErrNilCache before decoding
		codec = c.cfg.Codec
	}
	return func(b []byte) (any, error) {
		var v T
		if err := codec.Unmarshal(b, &v); err != nil {
			return nil, err
		}
		return v, nil
	}
}

// typed converts an untyped result, keeping an error that comes with a value.
func typed[T any](v any, err error) (T, error) {
	if v == nil {
		var zero T
		return zero, err
	}
	t, ok := v.(T)
	if !ok {
		var zero T
		return zero, fmt.Errorf("%w: have %T, want %T", ErrTypeMismatch, v, zero)
	}
	return t, err
}
