package tiered

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
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
}

// Peek returns key's L1 entry when L1 may be trusted now. It is the hot
// path of GetOrLoad: it allocates and copies nothing. The entry is shared:
// treat it as read-only. A caller that answers with the entry calls
// Consumed, which counts the L1 hit; one that cannot (its value is of
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

// Consumed records that a call was answered with it, key's L1 entry found
// by Peek: an L1 hit in Stats, and, when ctx belongs to a loader, that the
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

// Miss is GetOrLoad without types after an L1 miss (or a value of another
// type in L1): L2, then the loader, with one load per key at a time on this
// node. It returns the value (of the type l's Decode and Load return),
// ErrNotFound for a negative entry, or the loader's error. A value that
// could not be cached because of bad input is returned together with the
// error that says why (ErrValueTooLarge, ErrEncode, ErrInvalidDep).
//
// The caller has looked in L1 with Peek first: Miss is a function of its
// own so that the arguments it hands to the shared load escape here, not on
// the caller's hit path.
func (c *Cache) miss(ctx context.Context, key string, l anyLoader, opts []Option) (any, error) {
	if err := c.checkKey(key); err != nil {
		return nil, err
	}
	c.n.l1Misses.Add(1)
	o := c.applyOptions(opts)
	if err := o.check(); err != nil {
		return nil, err
	}
	came := time.Now()
	for joined := 0; ; joined++ {
		res, shared, err := c.flights.do(ctx, key, func() (*result, func() *result) {
			return c.load(ctx, key, &l, &o)
		})
		if err != nil {
			return nil, err
		}
		if res.retry && joined < 3 {
			continue // joined a background refresh that had nothing to give
		}
		if shared {
			c.n.shared.Add(1)
			// A load started before this caller came may have been
			// overtaken by an invalidation that returned (or reached
			// this node) before it came: its result would break
			// read-your-writes (G3). The next load starts after this one
			// ended, so after this caller came: one more is enough.
			if joined == 0 && res.started.Before(came) && c.overtaken(key, res) {
				c.n.rejoined.Add(1)
				continue
			}
		}
		if rec := recorderFrom(ctx); rec != nil {
			rec.consumed(key, res.deps, res.mark, res.known)
		}
		return res.val, res.err
	}
}

// overtaken reports whether res, read at its start mark, predates an
// invalidation of one of its dependencies (or of key) that this node has
// already applied. A value without a start mark (Redis was unreachable or
// slow) cannot be checked and counts as overtaken; a loader error does not.
func (c *Cache) overtaken(key string, res *result) bool {
	if res.err != nil && !res.notFound {
		return false
	}
	if !res.known {
		return true
	}
	if c.l2 != nil && res.mark.epoch != *c.epoch.Load() {
		return true
	}
	ds := append(res.deps[:len(res.deps):len(res.deps)], deps.Key(key))
	return c.l1.Stale(res.mark.seq, ds)
}

// Get returns key's value from L1 or L2 without loading: ErrMiss when it is
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
	res = &result{notFound: env.NotFound, deps: env.Deps, mark: mark, known: st.Epoch != ""}
	if env.NotFound {
		res.err = ErrNotFound
	} else if res.val, err = decode(env.Payload); err != nil {
		// The entry does not decode into the caller's type: a codec or type
		// change. Treat it as a miss; the load that follows replaces it.
		c.n.corrupt.Add(1)
		c.n.l2Misses.Add(1)
		c.cfg.Logger.Warn("matroska: entry does not decode; reloading", "key", key, "err", err)
		return nil, false, mark, nil
	}
	ttl, grace, refreshIn, expired := c.timing(env.TTL, env.NotFound, o)
	if expired {
		c.n.l2Misses.Add(1)
		return res, false, mark, nil
	}
	res.due = refreshIn < 0
	c.n.l2Hits.Add(1)
	if useL1 && res.known && st.Epoch == *c.epoch.Load() {
		it := local.Item{Value: res.val, NotFound: env.NotFound, Deps: env.Deps, Mark: st.Seq, Grace: grace, Refresh: refreshIn}
		if refreshIn < 0 {
			it.Refresh = time.Nanosecond // due now: every hit asks, startRefresh runs one
		}
		c.fillL1(key, self, it, gen, ttl, env.Payload)
	}
	return res, true, mark, nil
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
	case st.Epoch == seen.Epoch && st.Seq < seen.Seq:
		// History went back: not even a miss's start mark is valid.
	case !ok:
		return st, env, ok, err
	case st.Epoch == seen.Epoch && c.l1.Unchanged(env.Mark, st.Seq, env.Deps, self) &&
		seen.Epoch == *c.epoch.Load(): // no reset to another epoch in between
		return st, env, ok, nil
	}
	c.n.checkedReads.Add(1)
	return c.l2.ReadAfter(ctx, key, seen)
}

// load is one shared load, in two steps (see flights). The first, on the
// goroutine of the caller that started the flight, reads L2, bounded by
// RedisTimeout and by the caller's ctx: a hit ends the flight. The rest
// runs detached from the caller (one that gives up does not cancel it for
// the others, and its result still fills the cache), bounded by
// LoadTimeout: (with the lease on) the lease or the wait for another node's
// entry (see lease.go), then the loader, then the put, with the start mark
// of the first step's read, so that a miss stays two round trips.
func (c *Cache) load(ctx context.Context, key string, l *anyLoader, o *callOptions) (*result, func() *result) {
	start := time.Now()
	gen := c.l1.Generation()
	res, found, mark, err := c.readL2(ctx, key, l.decode, gen, o)
	switch {
	case err != nil && ended(ctx):
		// The caller gave up during the read: the flight reads again
		// without it, for the callers that joined.
		return nil, c.readAgain(ctx, key, *l, *o)
	case found:
		return c.afterRead(ctx, key, l, o, start, gen, res, found, mark, err), nil
	}
	return nil, c.afterMiss(ctx, key, *l, *o, start, gen, res, mark, err)
}

// readAgain is the rest of a load whose caller gave up during its L2 read:
// the read again, and what follows it. It takes the loader and the options
// by value, as afterMiss does, so that they move to the heap here and not
// in load, whose L2 hit keeps them on the caller's stack.
func (c *Cache) readAgain(ctx context.Context, key string, l anyLoader, o callOptions) func() *result {
	return c.detached(ctx, func(ctx context.Context) *result {
		start, gen := time.Now(), c.l1.Generation()
		res, found, mark, err := c.readL2(ctx, key, l.decode, gen, &o)
		return c.afterRead(ctx, key, &l, &o, start, gen, res, found, mark, err)
	})
}

// afterMiss is the rest of a load whose L2 read found nothing (see
// loadMissing).
func (c *Cache) afterMiss(ctx context.Context, key string, l anyLoader, o callOptions, start time.Time, gen uint64, res *result, mark Mark, err error) func() *result {
	return c.detached(ctx, func(ctx context.Context) *result {
		return c.loadMissing(ctx, key, &l, &o, start, gen, res, mark, err)
	})
}

// ended reports whether ctx has ended or reached its deadline. A call that
// failed because its context's deadline passed can return before the
// context's timer has fired (the socket's deadline is the same time), so
// Err alone may still be nil then.
func ended(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// endError is the error of a call whose ctx has ended (see ended).
func endError(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// detached returns run as the rest of a flight: on a context detached from
// the caller's ctx (its values kept), bounded by LoadTimeout.
func (c *Cache) detached(ctx context.Context, run func(context.Context) *result) func() *result {
	return func() *result {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
		defer cancel()
		return run(lctx)
	}
}

// afterRead ends a load after its L2 read, started at start with L1
// generation gen: with the entry the read found, or with the lease, the
// loader and the put, at the read's start mark (see loadMissing).
func (c *Cache) afterRead(ctx context.Context, key string, l *anyLoader, o *callOptions, start time.Time, gen uint64, res *result, found bool, mark Mark, err error) *result {
	if found {
		res.started = start
		if res.due {
			c.startRefresh(key, l, o)
		}
		return res
	}
	return c.loadMissing(ctx, key, l, o, start, gen, res, mark, err)
}

// loadMissing is the rest of a load whose L2 read found nothing (or
// failed: err): the lease, the loader and the put, with the read's start
// mark.
func (c *Cache) loadMissing(ctx context.Context, key string, l *anyLoader, o *callOptions, start time.Time, gen uint64, res *result, mark Mark, err error) *result {
	kept := res // a value kept for StaleIfError, or nil
	if err == nil && c.l2 != nil && o.lease {
		r, out, mk, held, lerr := c.leaseOrWait(ctx, key, l, o, gen, mark, false)
		if r != nil && out != leaseLanded {
			kept = r
		}
		switch out {
		case leaseLanded:
			r.started = start
			return r
		case leaseAborted:
			return c.orStale(key, &result{err: lerr, started: start}, kept, o)
		case leaseHeld:
			defer c.releaseLease(held)
		}
		mark = mk
	}
	known := err == nil && (c.l2 == nil || mark.epoch != "")
	if err != nil {
		c.n.degraded.Add(1)
	}
	return c.loadPut(ctx, key, l, o, mark, known, gen, start, kept, false)
}

// loadPut runs the loader with start mark mark and stores its result unless
// an invalidation overtook it (G1). A loader error is answered with kept
// (or L1's kept value) when StaleIfError allows. refresh counts the outcome
// as a background refresh's.
func (c *Cache) loadPut(ctx context.Context, key string, l *anyLoader, o *callOptions, mark Mark, known bool, gen uint64, start time.Time, kept *result, refresh bool) *result {
	rec := &Recorder{mark: mark}
	c.n.loads.Add(1)
	v, err := callLoader(withRecorder(ctx, rec), rec, l.load)
	if err != nil && !errors.Is(err, ErrNotFound) {
		c.n.loadErrors.Add(1)
		if refresh {
			return &result{err: err, started: start}
		}
		return c.orStale(key, &result{err: err, started: start}, kept, o)
	}
	ds, m, invalid, unknown := rec.result(o.deps)
	res := &result{val: v, deps: ds, mark: m, known: known && !unknown, started: start}
	ttl := o.ttl
	if err != nil {
		res.val, res.err, res.notFound = nil, ErrNotFound, true
		ttl = o.negTTL
	}
	if invalid {
		res.err = fmt.Errorf("%w: the loader recorded a zero deps.Dep (built with an empty type or name?); the value was not cached", ErrInvalidDep)
		return res
	}
	if !res.known {
		return res // no start mark (Redis unreachable): nothing proves the value fresh
	}
	if time.Since(start) > c.cfg.TombstoneHorizon/2 {
		// Tombstones of invalidations during the load may have expired.
		c.n.refusedPuts.Add(1)
		if refresh {
			c.ahead.n.refreshRefused.Add(1)
		}
		return res
	}
	var payload []byte
	if !res.notFound {
		if payload, err = c.encode(v); err != nil {
			res.err = err
			return res
		}
		// Callers and L1 get the value as other nodes will read it.
		if v, err = c.decoded(v, payload, l.decode); err != nil {
			res.err = err
			return res
		}
		res.val = v
	}
	ttl = c.jitter(ttl, o.noJitter || o.refresh > 0)
	if c.l2 != nil {
		useL1 := c.l1Trusted()
		rctx, cancel := c.deadlines.bound(ctx)
		env := remote.Envelope{NotFound: res.notFound, Deps: ds, Payload: payload}
		put, err := c.l2.Put(rctx, key, env, l2TTL(ttl, res.notFound, o), remote.State{Seq: m.seq, Epoch: m.epoch})
		cancel()
		switch {
		case errors.Is(err, remote.ErrRefused):
			// Redis is up but refuses writes (G12): answer uncached,
			// without counting a failure against the breaker.
			c.breaker.success()
			c.n.refusedWrites.Add(1)
			return res
		case err != nil:
			_ = c.redisFailed(err)
			return res
		case put != remote.Stored:
			c.breaker.success()
			c.n.refusedPuts.Add(1)
			if refresh {
				c.ahead.n.refreshRefused.Add(1)
			}
			return res
		}
		if refresh {
			c.ahead.n.refreshStored.Add(1)
		}
		c.breaker.success()
		if !useL1 || m.epoch != *c.epoch.Load() {
			return res
		}
	}
	it := local.Item{Value: v, NotFound: res.notFound, Deps: ds, Mark: m.seq}
	aheadItem(&it, o)
	if !c.fillL1(key, deps.Key(key), it, gen, ttl, payload) && refresh && c.l2 == nil {
		c.ahead.n.refreshRefused.Add(1)
	} else if refresh && c.l2 == nil {
		c.ahead.n.refreshStored.Add(1)
	}
	return res
}

// callLoader runs load and turns a panic into a *PanicError, so that every
// waiter receives it and the process lives.
func callLoader(ctx context.Context, rec *Recorder, load func(context.Context, *Recorder) (any, error)) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, err = nil, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return load(ctx, rec)
}
