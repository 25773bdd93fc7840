package tiered

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/local"
	"github.com/matroska-go/matroska/remote"
)

// anyLoader is a read-through load as the miss path runs it, built by the
// typed functions (typed.go).
type anyLoader struct {
	// load computes the value on a miss. It runs once per key per node at
	// a time, on a context detached from the callers' cancellation and
	// bounded by Config.LoadTimeout. It records the value's dependencies
	// in rec. Returning ErrNotFound stores a negative entry; any other error
	// is returned to every waiter and never cached.
	load func(ctx context.Context, rec *Recorder) (any, error)

	// decode turns a payload from Redis into a value of the caller's type.
	decode func(payload []byte) (any, error)
}

// result is what one load or L2 read produced, shared by every waiter.
type result struct {
	val      any
	err      error
	notFound bool
	deps     []deps.Dep
	mark     Mark
	known    bool      // mark is a real start mark: the value can be nested into a cacheable entry
	started  time.Time // when the load (or L2 read) began
	due      bool      // an L2 entry due for a refresh (RefreshAfter)
	retry    bool      // a background refresh ended without a value for callers that joined it
	refresh  bool      // the result of a background refresh (not of a miss's load)
	mismatch error     // a read met another codec's entry (ErrCodecMismatch): not found, no value
}

// peek returns key's L1 entry when L1 may be trusted now. It is the hot
// path of GetOrLoad: it allocates and copies nothing. The entry is shared:
// treat it as read-only. A caller that answers with the entry calls
// consumed, which counts the L1 hit; one that cannot (its value is of
// another type than the caller's) does not, so Stats count only the hits
// that answered.
func (c *Cache) peek(key string) (*local.Item, bool) {
	if c == nil || !c.servable() {
		return nil, false
	}
	return c.l1.Get(key)
}

// InL1 reports whether this node's L1 answers key now: it holds the entry
// and may serve it (the bus is in sync). It is a look for tests, demos and
// diagnostics: it counts nothing in Stats and never reads Redis.
func (c *Cache) InL1(key string) bool {
	_, ok := c.peek(key)
	return ok
}

// fromL1 answers from L1 when it holds key: the value, or ErrNotFound for
// a negative entry.
func (c *Cache) fromL1(ctx context.Context, key string) (any, bool, error) {
	it, ok := c.peek(key)
	if !ok {
		return nil, false, nil
	}
	c.consumed(ctx, key, it)
	if it.NotFound {
		return nil, true, ErrNotFound
	}
	return it.Value, true, nil
}

// consumed records that a call was answered with it, key's L1 entry found
// by peek: an L1 hit in Stats, and, when ctx belongs to a loader, that the
// load used the entry: the outer entry then depends on key and on
// everything key depends on, and its start mark is at most this node's
// applied sequence.
func (c *Cache) consumed(ctx context.Context, key string, it *local.Item) {
	if c == nil {
		return
	}
	c.n.l1Hits.Add(1)
	rec := recorderFrom(ctx)
	if rec == nil {
		return
	}
	// An L1 value is known fresh up to the sequence this node has applied
	// (every earlier invalidation of its deps would have removed it) and up
	// to the mark it was read at.
	if c.l2 == nil { // one process: no epoch
		rec.consumed(key, it.Deps, Mark{seq: max(c.l1.Applied(), it.Mark)}, true)
		return
	}
	seen := c.seen()
	rec.consumed(key, it.Deps, Mark{epoch: seen.Epoch, seq: max(seen.Seq, it.Mark)}, seen.Epoch != "")
}

// get returns key's value from L1 or L2 without loading: ErrMiss when it is
// in neither, ErrNotFound for a negative entry.
func (c *Cache) get(ctx context.Context, key string, decode func([]byte) (any, error)) (any, error) {
	if err := c.checkKey(key); err != nil {
		return nil, err
	}
	if v, ok, err := c.fromL1(ctx, key); ok {
		return v, err
	}
	c.n.l1Misses.Add(1)
	o := c.applyOptions(nil)
	res, found, _, err := c.readL2(ctx, key, decode, c.l1.Generation(), &o)
	if err != nil {
		return nil, err
	}
	if !found {
		if res != nil && res.mismatch != nil {
			return nil, res.mismatch
		}
		return nil, ErrMiss
	}
	if rec := recorderFrom(ctx); rec != nil {
		rec.consumed(key, res.deps, res.mark, res.known)
	}
	return res.val, res.err
}

// readL2 reads key from Redis. found reports an entry (a value or a
// negative entry); otherwise mark is the start mark for a load. gen is the
// L1 generation taken before the read: a reset in between refuses the fill.
// An entry past its TTL and kept for StaleIfError (see refresh.go) is not
// found; it is returned in res, for a load that fails.
func (c *Cache) readL2(ctx context.Context, key string, decode func([]byte) (any, error), gen uint64, o *callOptions) (res *result, found bool, mark Mark, err error) {
	if c.l2 == nil {
		return nil, false, Mark{seq: c.l1.Applied()}, nil
	}
	if !c.breaker.allow() {
		return nil, false, Mark{}, fmt.Errorf("%w: circuit breaker open", ErrUnavailable)
	}
	if c.isHeld() {
		// Redis may hold entries that a refused invalidation should have
		// deleted (see Cache.hold): a miss, with no start mark, so that
		// the load is answered uncached.
		c.n.l2Misses.Add(1)
		return nil, false, Mark{}, nil
	}
	useL1 := c.l1Trusted()
	self := deps.Key(key)
	rctx, cancel := c.deadlines.bound(ctx)
	st, env, ok, err := c.readRedis(rctx, key, self, useL1)
	cancel()
	if err != nil && !errors.Is(err, remote.ErrCorrupt) {
		if ended(ctx) {
			return nil, false, Mark{}, endError(ctx) // the caller's end, not Redis's failure
		}
		return nil, false, Mark{}, c.redisFailed(err)
	}
	c.breaker.success()
	if err != nil {
		c.n.corrupt.Add(1)
		c.cfg.Logger.Warn("matroska: corrupt entry in redis deleted", "key", key, "err", err)
	}
	mark = Mark{epoch: st.Epoch, seq: st.Seq}
	if !ok {
		c.n.l2Misses.Add(1)
		return nil, false, mark, nil
	}
	res, found = c.entryResult(key, self, st, &env, decode, gen, o, useL1)
	return res, found, mark, nil
}

// entryResult is the result of key's entry env, read from Redis at st:
// found, or not (another codec's: res.mismatch; past its TTL and kept for
// StaleIfError: res; not decodable: nil). A found entry fills L1 when
// useL1 (L1 was trusted before the read) and st is of the current epoch.
func (c *Cache) entryResult(key string, self deps.Dep, st remote.State, env *remote.Envelope, decode func([]byte) (any, error), gen uint64, o *callOptions, useL1 bool) (res *result, found bool) {
	res, found, fill, filled := c.entryOf(key, self, st, env, decode, o, useL1)
	if filled && !c.l1.FillKeyed(fill.Key, fill.Self, fill.Item, gen, fill.TTL, fill.Cost) {
		c.n.refusedFills.Add(1)
	}
	return res, found
}

// entryOf is entryResult without the fill of L1: it returns the fill to
// make, if any (filled).
func (c *Cache) entryOf(key string, self deps.Dep, st remote.State, env *remote.Envelope, decode func([]byte) (any, error), o *callOptions, useL1 bool) (res *result, found bool, fill local.Filling, filled bool) {
	mark := Mark{epoch: st.Epoch, seq: st.Seq}
	if !env.NotFound && env.Codec != c.codec && env.Codec != "" && c.codec != "" {
		// Another codec's bytes: a miss, with the error for the load's
		// callers (the load's put replaces the entry).
		c.n.codecMismatch.Add(1)
		c.n.l2Misses.Add(1)
		err := fmt.Errorf("%w: Redis holds %q in codec %q, this node uses %q", ErrCodecMismatch, key, env.Codec, c.codec)
		if c.warnedCodec.CompareAndSwap(false, true) {
			c.cfg.Logger.Warn("matroska: nodes of one namespace use different codecs", "namespace", c.cfg.Namespace, "err", err)
		}
		return &result{mismatch: err}, false, fill, false
	}
	res = &result{notFound: env.NotFound, deps: env.Deps, mark: mark, known: st.Epoch != ""}
	if env.NotFound {
		res.err = ErrNotFound
	} else {
		var err error
		if res.val, err = decode(env.Payload); err != nil {
			// The entry does not decode into the caller's type: a codec or
			// type change. Treat it as a miss; the load that follows
			// replaces it.
			c.n.corrupt.Add(1)
			c.n.l2Misses.Add(1)
			c.cfg.Logger.Warn("matroska: entry does not decode; reloading", "key", key, "err", err)
			return nil, false, fill, false
		}
	}
	ttl, grace, refreshIn, expired := c.timing(env, o)
	if expired {
		c.n.l2Misses.Add(1)
		return res, false, fill, false
	}
	res.due = refreshIn < 0
	c.n.l2Hits.Add(1)
	if useL1 && res.known && st.Epoch == *c.epoch.Load() {
		it := local.Item{Value: res.val, NotFound: env.NotFound, Deps: env.Deps, Mark: st.Seq, Grace: grace, Refresh: refreshIn}
		if refreshIn < 0 {
			it.Refresh = time.Nanosecond // due now: every hit asks, startRefresh runs one
		}
		fill = local.Filling{Key: key, Self: self, Item: it, TTL: ttl, Cost: fillCost(key, env.Payload, env.Deps)}
		filled = true
	}
	return res, true, fill, filled
}

// readRedis reads key from Redis in one round trip when it can. A node
// whose L1 is trusted has applied every invalidation up to its
// [local.Cache.Applied]: it reads the entry with plain commands and checks
// it against those (the entry's mark against the tombstones of its
// dependencies), which needs no script and no look at the index. When it
// cannot tell (the read saw a sequence it has not applied yet, or the entry
// is older than what it remembers), or the entry was overtaken (its index
// was lost: an invalidation missed it), it reads again with the script that
// checks the entry against its index in Redis and drops it if that is gone
// (G2).
//
// Every read hands Redis the state this node has applied (seen): a Redis
// whose sequence is below it in the same epoch has lost history, so the
// plain read's answer is not served and the script starts a new epoch, in
// which every older entry is a miss (G11). seen is taken before the read:
// the bus may apply a newer invalidation while it is under way.
func (c *Cache) readRedis(ctx context.Context, key string, self deps.Dep, trusted bool) (remote.State, remote.Envelope, bool, error) {
	seen := c.seen()
	if !trusted || c.l2.Cluster() {
		return c.l2.ReadAfter(ctx, key, seen)
	}
	st, env, ok, err := c.l2.ReadUnchecked(ctx, key)
	switch {
	case err != nil:
		return st, env, ok, err
	case wentBack(st, seen):
		// History went back: not even a miss's start mark is valid.
	case !ok:
		return st, env, ok, err
	case c.vouches(st, seen, &env, self):
		return st, env, ok, nil
	}
	c.n.checkedReads.Add(1)
	return c.l2.ReadAfter(ctx, key, seen)
}

// wentBack reports whether a plain read at st found Redis's sequence below
// seen, what this node had applied before the read, in the same epoch:
// Redis lost history (see readRedis).
func wentBack(st, seen remote.State) bool {
	return st.Epoch == seen.Epoch && st.Seq < seen.Seq
}

// vouches reports whether this node can serve env, key's entry found by a
// plain read at st, from the invalidations it applied (seen, taken before
// the read): none of env's dependencies, nor self (deps.Key(key)), was
// invalidated after env's mark and up to st, and no reset to another epoch
// came in between (see readRedis).
func (c *Cache) vouches(st, seen remote.State, env *remote.Envelope, self deps.Dep) bool {
	return st.Epoch == seen.Epoch && c.l1.Unchanged(env.Mark, st.Seq, env.Deps, self) &&
		seen.Epoch == *c.epoch.Load()
}
