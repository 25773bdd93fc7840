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

// The miss path. A call that misses L1 (typed.go) joins key's flight on
// this node, or starts one (miss, flight.go). A flight is one load, which
// goes down these steps, each a method of load below, in this order:
//
//  1. read:  key's entry and the start mark, in one round trip to Redis
//     (readL2, load.go). A hit ends the load and fills L1.
//  2. lease: with the lease on, take key's lease in Redis or wait for the
//     node that holds it (lease.go). Another node's entry ends the load.
//  3. call:  the loader, with a Recorder that starts at the start mark.
//  4. put:   the value in Redis, refused if an invalidation overtook the
//     start mark (G1).
//  5. fill:  L1, when the put landed and L1 may be trusted.
//
// Step 1 runs on the goroutine of the caller that started the flight; the
// rest runs detached from its cancellation, bounded by LoadTimeout, while
// the callers wait for it (or give up). A background refresh (RefreshAfter,
// refresh.go) takes the same steps, as a flight of its own. Without Redis
// (one-process mode) steps 1, 2 and 4 do nothing.

// miss answers an L1 miss (or a value of another type in L1) with key's
// flight: a value (of the type l's load and decode return), ErrNotFound
// for a negative entry, or the loader's error. A value that could not be
// cached because of bad input is returned together with the error that
// says why (ErrValueTooLarge, ErrEncode, ErrInvalidDep). It is a function
// of its own so that the arguments it hands to the flight escape here, not
// on the caller's hit path.
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
			ld := c.newLoad(key, &l, &o, false)
			return ld.first(ctx)
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

// load is one flight's way down the steps: what the call asked for (the
// loader and the options, as data), and what the steps learn on the way.
type load struct {
	c       *Cache
	key     string
	l       anyLoader
	o       callOptions
	refresh bool // a background refresh: only an entry that is not due satisfies it

	start    time.Time  // when the load began (result.started)
	gen      uint64     // L1's generation before the first read: a reset since refuses the fill
	mark     Mark       // the start mark: of the last read that answered
	known    bool       // mark is a real start mark (Redis answered it)
	kept     *result    // a value past its TTL, kept for StaleIfError, met by a read
	mismatch error      // a read met the entry in another codec: the callers get it with the value
	held     *heldLease // the lease this load holds (step 2), released at its end
}

func (c *Cache) newLoad(key string, l *anyLoader, o *callOptions, refresh bool) load {
	return load{c: c, key: key, l: *l, o: *o, refresh: refresh, start: time.Now(), gen: c.l1.Generation()}
}

// first is the flight's first step, on the caller's goroutine: the read
// (step 1). An entry ends the flight; otherwise the rest runs detached from
// the caller (a copy of the load moves to the heap here, on a miss only).
func (ld *load) first(ctx context.Context) (*result, func() *result) {
	res, found, err := ld.read(ctx)
	switch {
	case err != nil && ended(ctx):
		// The caller gave up during the read: the flight reads again
		// without it, for the callers that joined.
		rest := *ld
		return nil, rest.detached(ctx, rest.again)
	case found:
		return ld.hit(res), nil
	}
	rest := *ld
	return nil, rest.detached(ctx, func(ctx context.Context) *result { return rest.afterMiss(ctx, err) })
}

// again is the rest of a flight whose caller gave up during its read: the
// read again, and what follows it.
func (ld *load) again(ctx context.Context) *result {
	ld.start, ld.gen = time.Now(), ld.c.l1.Generation()
	res, found, err := ld.read(ctx)
	if found {
		return ld.hit(res)
	}
	return ld.afterMiss(ctx, err)
}

// detached returns run as the rest of a flight: on a context detached from
// the caller's ctx (its values kept), bounded by LoadTimeout.
func (ld *load) detached(ctx context.Context, run func(context.Context) *result) func() *result {
	return func() *result {
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ld.c.cfg.LoadTimeout)
		defer cancel()
		return run(lctx)
	}
}

// read is step 1: key's entry in Redis (see readL2), which also fills L1.
// An answer sets the start mark; a value past its TTL, kept for
// StaleIfError, is kept for a load that fails.
func (ld *load) read(ctx context.Context) (res *result, found bool, err error) {
	end := ignoreOutcome
	if ld.c.l2 != nil {
		_, end = ld.c.observe(ctx, Op{Kind: OpRead, Key: ld.key, Keys: 1})
	}
	res, found, mark, err := ld.c.readL2(ctx, ld.key, ld.l.decode, ld.gen, &ld.o)
	end(Outcome{Err: err, Found: b2i(found)})
	if err != nil {
		return nil, false, err // load with the start mark of an earlier read, if any
	}
	ld.mark = mark
	switch {
	case !found && res != nil && res.mismatch != nil:
		ld.mismatch = res.mismatch
		return nil, false, nil
	case !found && res != nil:
		ld.kept = res
	}
	return res, found, nil
}

// hit ends a miss's load with the entry its read found, and starts a
// refresh of an entry due for one.
func (ld *load) hit(res *result) *result {
	res.started = ld.start
	if res.due {
		ld.c.startRefresh(ld.key, &ld.l, &ld.o)
	}
	return res
}

// afterMiss is steps 2 to 5 of a miss's load, after a read that found
// nothing, or failed (err): then there is no lease, and the value is
// answered uncached (G9).
func (ld *load) afterMiss(ctx context.Context, err error) *result {
	c := ld.c
	if err != nil {
		c.n.degraded.Add(1)
	} else if c.l2 != nil && ld.o.lease {
		if res, done := ld.lease(ctx); done {
			return res
		}
		defer c.releaseLease(ld.held)
	}
	ld.known = err == nil && (c.l2 == nil || ld.mark.epoch != "")
	return ld.loadAndStore(ctx)
}

// lease is step 2 of a miss: done reports that it ended the load, with
// another node's entry or with the end of the wait (answered with a value
// kept for StaleIfError when there is one). Otherwise the load goes on with
// the start mark of its last read, holding the lease (ld.held) or, when
// Redis failed, without it.
func (ld *load) lease(ctx context.Context) (res *result, done bool) {
	res, out, err := ld.c.leaseOrWait(ctx, ld)
	switch out {
	case leaseLanded:
		res.started = ld.start
		return res, true
	case leaseAborted:
		return ld.c.orStale(ld.key, &result{err: err, started: ld.start}, ld.kept, &ld.o), true
	}
	return nil, false
}

// loadAndStore is steps 3 to 5: the loader, the put, the fill.
func (ld *load) loadAndStore(ctx context.Context) *result {
	res, payload, ttl, cache := ld.call(ctx)
	if !cache {
		return res
	}
	if ld.c.l2 != nil && !ld.put(ctx, res, payload, ttl) {
		return res
	}
	ld.fill(res, payload, ttl)
	return res
}

// call is step 3: the loader, at the start mark. It returns the result for
// the callers and, when it may be cached, its payload and time to live (see
// outcome). A loader error is answered with the value kept for
// StaleIfError (ld.kept, else L1's), when that allows.
func (ld *load) call(ctx context.Context) (res *result, payload []byte, ttl time.Duration, cache bool) {
	rec := &Recorder{mark: ld.mark}
	ld.c.n.loads.Add(1)
	ctx, end := ld.c.observe(ctx, Op{Kind: OpLoad, Key: ld.key, Keys: 1, Refresh: ld.refresh})
	v, err := callLoader(withRecorder(ctx, rec), rec, ld.l.load)
	end(Outcome{Err: err, Found: b2i(err == nil)})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return ld.failed(err), nil, 0, false
	}
	return ld.outcome(v, err, rec)
}

// failed is the result of a load whose loader returned err (not
// ErrNotFound): err, or the value kept for StaleIfError.
func (ld *load) failed(err error) *result {
	ld.c.n.loadErrors.Add(1)
	res := &result{err: err, started: ld.start}
	if ld.refresh {
		return res
	}
	return ld.c.orStale(ld.key, res, ld.kept, &ld.o)
}

// outcome is the result of a loader that returned v, or ErrNotFound (err),
// having recorded into rec; and, when it may be cached, its payload and
// time to live. Nothing is cached when the loader said so (NoCache), when
// the value has no start mark (Redis did not answer), took longer than half
// the tombstone horizon, or cannot be cached (a zero dependency, a TTL that
// is not positive, a value the codec refuses: res.err says why).
func (ld *load) outcome(v any, err error, rec *Recorder) (res *result, payload []byte, ttl time.Duration, cache bool) {
	c, o := ld.c, &ld.o
	ds, m, invalid, unknown := rec.result(o.deps)
	own, badTTL, noCache := rec.caching()
	res = &result{val: v, deps: ds, mark: m, known: ld.known && !unknown && !noCache, started: ld.start}
	ttl = o.ttl
	if err != nil {
		res.val, res.err, res.notFound = nil, ErrNotFound, true
		ttl = o.negTTL
	}
	if own > 0 {
		ttl = own
	}
	if ld.mismatch != nil && res.err == nil {
		res.err = ld.mismatch // the value goes with it, and replaces the entry
	}
	switch {
	case invalid:
		res.err = fmt.Errorf("%w: the loader recorded a zero deps.Dep (built with an empty type or name?); the value was not cached", ErrInvalidDep)
		return res, nil, 0, false
	case badTTL:
		res.err = fmt.Errorf("%w: the loader set TTL %v, which is not positive; the value was not cached", ErrInvalidTTL, own)
		return res, nil, 0, false
	case noCache:
		return res, nil, 0, false // the loader said so; known is false, so outer loads are not cached either
	case !res.known:
		return res, nil, 0, false // no start mark (Redis unreachable): nothing proves the value fresh
	case time.Since(ld.start) > c.cfg.TombstoneHorizon/2:
		// Tombstones of invalidations during the load may have expired.
		ld.refused()
		return res, nil, 0, false
	}
	if !res.notFound {
		if payload, err = c.encode(v); err != nil {
			res.err = err
			return res, nil, 0, false
		}
		// Callers and L1 get the value as other nodes will read it.
		if res.val, err = c.decoded(v, payload, ld.l.decode); err != nil {
			res.val, res.err = v, err
			return res, nil, 0, false
		}
	}
	return res, payload, c.jitter(ttl, o.noJitter || o.refresh > 0 || own > 0), true
}

// put is step 4: res in Redis, at its start mark. It reports whether L1
// may be filled (see landed).
func (ld *load) put(ctx context.Context, res *result, payload []byte, ttl time.Duration) bool {
	c := ld.c
	useL1 := c.l1Trusted()
	it := ld.putItem(res, payload, ttl)
	rctx, cancel := c.deadlines.bound(ctx)
	put, err := c.l2.Put(rctx, it.Key, it.Envelope, it.TTL, it.Mark)
	cancel()
	return ld.landed(res, put, err, useL1)
}

// putItem is what put stores.
func (ld *load) putItem(res *result, payload []byte, ttl time.Duration) remote.PutItem {
	env := remote.Envelope{NotFound: res.notFound, Deps: res.deps, Payload: payload, Codec: ld.c.codec}
	env.Fresh, env.Due = entryTimes(time.Now(), ttl, res.notFound, ld.o.refresh)
	return remote.PutItem{Key: ld.key, Envelope: env, TTL: l2TTL(ttl, res.notFound, &ld.o), Mark: remote.State{Seq: res.mark.seq, Epoch: res.mark.epoch}}
}

// landed counts how the put of res ended (Redis's verdict put, or err) and
// reports whether L1 may be filled: the put landed, L1 was trusted when it
// began (useL1) and the epoch is still the mark's.
func (ld *load) landed(res *result, put remote.PutResult, err error, useL1 bool) bool {
	c := ld.c
	switch {
	case errors.Is(err, remote.ErrRefused):
		// Redis is up but refuses writes (G12): answer uncached,
		// without counting a failure against the breaker.
		c.breaker.success()
		c.n.refusedWrites.Add(1)
		return false
	case err != nil:
		_ = c.redisFailed(err)
		return false
	case put != remote.Stored:
		c.breaker.success()
		ld.refused()
		return false
	}
	if ld.refresh {
		c.ahead.n.refreshStored.Add(1)
	}
	c.breaker.success()
	return useL1 && res.mark.epoch == *c.epoch.Load()
}

// fill is step 5: res in L1, with the refresh and grace times of the call.
func (ld *load) fill(res *result, payload []byte, ttl time.Duration) {
	c := ld.c
	it := local.Item{Value: res.val, NotFound: res.notFound, Deps: res.deps, Mark: res.mark.seq}
	aheadItem(&it, ttl, &ld.o)
	filled := c.fillL1(ld.key, deps.Key(ld.key), it, ld.gen, ttl, payload)
	if ld.refresh && c.l2 == nil { // with Redis, the put counted the refresh
		if filled {
			c.ahead.n.refreshStored.Add(1)
		} else {
			c.ahead.n.refreshRefused.Add(1)
		}
	}
}

// refused counts a value not stored because an invalidation (or the time
// its load took) overtook it (G1).
func (ld *load) refused() {
	ld.c.n.refusedPuts.Add(1)
	if ld.refresh {
		ld.c.ahead.n.refreshRefused.Add(1)
	}
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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
