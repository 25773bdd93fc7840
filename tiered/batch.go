package tiered

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/remote"
)

// The batch read-through: GetOrLoadMany. Every key of a batch takes the
// steps of the miss path (miss.go) as a single call would, the keys of the
// batch together: L1 first; the L2 misses in one round trip to Redis; what
// is still missing in one call of the batch loader; the puts in one round
// trip (standalone Redis: an MGET, then a pipeline; Redis Cluster: one
// round trip per key, concurrently). A key whose flight is already running
// on this node (a single call's, another batch's) joins that flight. There
// is no cross-node lease for a batch: each node loads what it misses.

// BatchFunc loads the values of the keys of a batch that neither tier
// holds, in one call (keys are distinct and in the caller's order), and
// records each key's dependencies in rec.For(key). A key missing from the
// returned map is not found: it is cached as a negative entry, as a
// single loader's ErrNotFound. An error fails every key of the call and is
// never cached, unless it is a KeyErrors: then only the keys it names fail
// (those with ErrNotFound are not found), and the others are answered and
// cached. ctx is detached from the caller's cancellation and bounded by
// Config.LoadTimeout. A GetOrLoad called inside a BatchFunc is not
// recorded into the batch: record its key with rec.For(key).Depend.
type BatchFunc[T any] func(ctx context.Context, keys []string, rec *BatchRecorder) (map[string]T, error)

// BatchRecorder holds a Recorder for each key a BatchFunc loads.
type BatchRecorder struct {
	recs map[string]*Recorder
}

// For returns the Recorder of key: its dependencies, its TTL, NoCache. For
// a key that is not in the call it returns nil, whose methods do nothing.
func (b *BatchRecorder) For(key string) *Recorder {
	if b == nil {
		return nil
	}
	return b.recs[key]
}

// KeyErrors are the errors of some keys of a batch, by key. A BatchFunc
// returns one to fail those keys only; GetOrLoadMany returns one for the
// keys it could not answer. errors.Is and errors.As look into each.
type KeyErrors map[string]error

// Error lists the keys and their errors, in key order (the first five).
func (e KeyErrors) Error() string {
	keys := make([]string, 0, len(e))
	for k := range e {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "matroska: %d key(s) failed", len(keys))
	for i, k := range keys {
		if i == 5 {
			b.WriteString("; ...")
			break
		}
		fmt.Fprintf(&b, "; %q: %v", k, e[k])
	}
	return b.String()
}

// Unwrap returns the keys' errors.
func (e KeyErrors) Unwrap() []error {
	errs := make([]error, 0, len(e))
	for _, err := range e {
		errs = append(errs, err)
	}
	return errs
}

// GetOrLoadMany returns the values of keys: from this node's L1, else from
// Redis, else from one call of load for all the keys still missing, whose
// results are then stored in both tiers, each with its own dependencies.
// Each key behaves as a GetOrLoad of it would (one load per key at a time on
// this node, G1, G3, negative entries, ErrTypeMismatch, the options), but
// a batch of n cold keys costs two round trips to Redis and one loader
// call, not n of each.
//
// The map holds the keys that have a value; a key that is not found (a
// negative entry, or missing from the loader's map) is not in it and is no
// error. The error is nil, or a KeyErrors with the keys that failed (a
// loader error, ErrTypeMismatch, an invalid key...); a value that could not
// be cached (too large, not encodable) is in the map and its key in the
// error too. Duplicate keys are read once. The caller waits for the load
// of the keys it started even when ctx ends (LoadTimeout bounds it); it
// stops waiting for the loads of other callers that it joined.
func GetOrLoadMany[T any](ctx context.Context, c *Cache, keys []string, load BatchFunc[T], opts ...Option) (map[string]T, error) {
	if c == nil {
		return nil, ErrNilCache
	}
	out := make(map[string]T, len(keys))
	errs := KeyErrors{}
	var missing []string
	for _, k := range dedupeKeys(keys) {
		if it, hit := c.peek(k); hit {
			if v, ok, err := fromItem[T](ctx, c, k, it); ok {
				switch {
				case err == nil:
					out[k] = v
				case !errors.Is(err, ErrNotFound):
					errs[k] = err
				}
				continue
			}
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		answers := c.missMany(ctx, missing, untypedBatch(c, load), opts)
		for _, k := range missing {
			a := answers[k]
			if a.val != nil {
				v, err := typed[T](a.val, nil)
				if err != nil {
					errs[k] = err
					continue
				}
				out[k] = v
			}
			if a.err != nil && !errors.Is(a.err, ErrNotFound) {
				errs[k] = a.err
			}
		}
	}
	if len(errs) > 0 {
		return out, errs
	}
	return out, nil
}

// anyBatchLoader is a batch load as missMany runs it.
type anyBatchLoader struct {
	load   func(ctx context.Context, keys []string, rec *BatchRecorder) (map[string]any, error)
	decode func(payload []byte) (any, error)
}

func untypedBatch[T any](c *Cache, load BatchFunc[T]) anyBatchLoader {
	return anyBatchLoader{
		load: func(ctx context.Context, keys []string, rec *BatchRecorder) (map[string]any, error) {
			vals, err := load(ctx, keys, rec)
			out := make(map[string]any, len(vals))
			for k, v := range vals {
				out[k] = v
			}
			return out, err
		},
		decode: decoder[T](c),
	}
}

// single is bl as the loader of key alone.
func (bl anyBatchLoader) single(key string) anyLoader {
	return anyLoader{
		load: func(ctx context.Context, rec *Recorder) (any, error) {
			vals, err := bl.load(ctx, []string{key}, &BatchRecorder{recs: map[string]*Recorder{key: rec}})
			var kerrs KeyErrors
			if errors.As(err, &kerrs) {
				err = kerrs[key]
			}
			if err != nil {
				return nil, err
			}
			v, ok := vals[key]
			if !ok {
				return nil, ErrNotFound
			}
			return v, nil
		},
		decode: bl.decode,
	}
}

// answer is one key's answer in a batch: a value or nil, and an error
// (ErrNotFound for a negative entry).
type answer struct {
	val any
	err error
}

// missMany answers the keys of a batch that L1 did not: each joins the
// flight of its key in progress, or the batch takes the flight and loads
// it with the others (loadMany).
func (c *Cache) missMany(ctx context.Context, keys []string, bl anyBatchLoader, opts []Option) map[string]answer {
	out := make(map[string]answer, len(keys))
	o := c.applyOptions(opts)
	if err := o.check(); err != nil {
		for _, k := range keys {
			out[k] = answer{err: err}
		}
		return out
	}
	type joined struct {
		key  string
		f    *flight
		done chan struct{}
	}
	var own []string
	var flights []*flight
	var joins []joined
	came := time.Now()
	for _, k := range keys {
		if err := c.checkKey(k); err != nil {
			out[k] = answer{err: err}
			continue
		}
		c.n.l1Misses.Add(1)
		f, mine, done := c.flights.claim(k)
		if mine {
			own, flights = append(own, k), append(flights, f)
		} else {
			joins = append(joins, joined{k, f, done})
		}
	}
	if len(own) > 0 {
		results := c.endAll(own, flights, func() map[string]*result { return c.loadMany(ctx, own, bl, &o) })
		for _, k := range own {
			out[k] = c.answered(ctx, k, results[k])
		}
	}
	for _, j := range joins {
		res, err := j.f.wait(ctx, j.done)
		if err != nil {
			out[j.key] = answer{err: err}
			continue
		}
		c.n.shared.Add(1)
		// As in miss: a result that predates an invalidation this node
		// applied before the batch came, or a refresh with nothing to
		// give, is loaded again, on its own.
		if res.retry || (res.started.Before(came) && c.overtaken(j.key, res)) {
			c.n.rejoined.Add(1)
			v, err := c.miss(ctx, j.key, bl.single(j.key), opts)
			out[j.key] = answer{v, err}
			continue
		}
		out[j.key] = c.answered(ctx, j.key, res)
	}
	return out
}

// answered records res, key's result, into the Recorder of ctx's load (a
// batch inside a loader) and returns it as an answer.
func (c *Cache) answered(ctx context.Context, key string, res *result) answer {
	if rec := recorderFrom(ctx); rec != nil {
		rec.consumed(key, res.deps, res.mark, res.known)
	}
	return answer{res.val, res.err}
}

// endAll runs load, the work of the flights of keys that the batch owns,
// and ends each flight with its key's result; a key without one (load
// panicked) ends with an error, and the panic goes on.
func (c *Cache) endAll(keys []string, flights []*flight, load func() map[string]*result) (results map[string]*result) {
	defer func() {
		p := recover()
		for i, k := range keys {
			res := results[k]
			if res == nil {
				res = &result{err: fmt.Errorf("matroska: panic in the batch load of %q: %v", k, p)}
			}
			c.flights.end(k, flights[i], res)
		}
		if p != nil {
			panic(p)
		}
	}()
	return load()
}

// loadMany is the load of the keys of a batch that it owns: their reads,
// one loader call for those that Redis does not hold, their puts and fills.
// It returns a result for every key.
func (c *Cache) loadMany(ctx context.Context, keys []string, bl anyBatchLoader, o *callOptions) map[string]*result {
	results := make(map[string]*result, len(keys))
	lds := make(map[string]*load, len(keys))
	for _, k := range keys {
		ld := c.newLoad(k, &anyLoader{decode: bl.decode}, o, false)
		lds[k] = &ld
	}
	end := ignoreOutcome
	if c.l2 != nil {
		_, end = c.observe(ctx, Op{Kind: OpRead, Key: keys[0], Keys: len(keys)})
	}
	failed := c.readMany(ctx, keys, lds, results)
	end(Outcome{Err: readError(keys, failed), Found: len(results)})
	var missing []string
	for _, k := range keys {
		if results[k] == nil {
			missing = append(missing, k)
		}
	}
	if len(missing) == 0 {
		return results
	}
	// The loader and the puts run detached from the caller, as a single
	// load's rest does.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	defer cancel()
	brec := &BatchRecorder{recs: make(map[string]*Recorder, len(missing))}
	for _, k := range missing {
		brec.recs[k] = &Recorder{mark: lds[k].mark}
	}
	c.n.loads.Add(1)
	octx, end := c.observe(lctx, Op{Kind: OpLoad, Key: missing[0], Keys: len(missing)})
	vals, err := callBatch(octx, brec, bl.load, missing)
	end(Outcome{Err: err, Found: len(vals)})
	var kerrs KeyErrors
	if err != nil && !errors.As(err, &kerrs) {
		for _, k := range missing {
			results[k] = lds[k].failed(err)
		}
		return results
	}
	var items []remote.PutItem
	type pending struct {
		ld      *load
		res     *result
		payload []byte
		ttl     time.Duration
	}
	var puts []pending
	for _, k := range missing {
		ld := lds[k]
		ld.known = !failed[k] && (c.l2 == nil || ld.mark.epoch != "")
		if failed[k] {
			c.n.degraded.Add(1)
		}
		kerr := kerrs[k]
		if kerr != nil && !errors.Is(kerr, ErrNotFound) {
			results[k] = ld.failed(kerr)
			continue
		}
		v, found := vals[k]
		var lerr error
		if !found || kerr != nil {
			v, lerr = nil, ErrNotFound
		}
		res, payload, ttl, cache := ld.outcome(v, lerr, brec.recs[k])
		results[k] = res
		switch {
		case !cache:
		case c.l2 == nil:
			ld.fill(res, payload, ttl)
		default:
			items = append(items, ld.putItem(res, payload, ttl))
			puts = append(puts, pending{ld, res, payload, ttl})
		}
	}
	if len(items) == 0 {
		return results
	}
	useL1 := c.l1Trusted()
	rctx, cancel := c.deadlines.bound(lctx)
	verdicts, errs := c.l2.PutMany(rctx, items)
	cancel()
	for i, p := range puts {
		if p.ld.landed(p.res, verdicts[i], errs[i], useL1) {
			p.ld.fill(p.res, p.payload, p.ttl)
		}
	}
	return results
}

// readMany is step 1 for the keys of a batch: it sets results[key] for each
// key found in Redis (and fills L1), and, for the others, the load's start
// mark, kept value or codec mismatch; failed reports the keys whose read
// failed (Redis down or slow: they are loaded, answered uncached). On a
// standalone Redis, with L1 trusted, it reads every key in one MGET and
// vouches for each entry as readRedis does; the keys it cannot vouch for,
// and every key on a Cluster or with L1 untrusted, are read with the
// checked read of a single call, at most 16 at a time.
func (c *Cache) readMany(ctx context.Context, keys []string, lds map[string]*load, results map[string]*result) (failed map[string]bool) {
	failed = map[string]bool{}
	one := func(ctx context.Context, k string) {
		ld := lds[k]
		res, found, err := ld.read(ctx)
		if err != nil {
			failed[k] = true
		} else if found {
			results[k] = ld.hit(res)
		}
	}
	if c.l2 == nil {
		for _, k := range keys {
			one(ctx, k)
		}
		return failed
	}
	recheck := keys
	useL1 := c.l1Trusted()
	if useL1 && !c.l2.Cluster() && c.breaker.allow() && !c.isHeld() {
		recheck = c.readUnchecked(ctx, keys, lds, results, failed)
	}
	if len(recheck) == 0 {
		return failed
	}
	// The checked reads write to results and failed from their own
	// goroutines: collect, then apply.
	type read struct {
		res    *result
		found  bool
		failed bool
	}
	reads := make([]read, len(recheck))
	g := new(errgroup.Group)
	g.SetLimit(16)
	for i, k := range recheck {
		g.Go(func() error {
			res, found, err := lds[k].read(ctx)
			reads[i] = read{res, found, err != nil}
			return nil
		})
	}
	_ = g.Wait()
	for i, k := range recheck {
		switch r := reads[i]; {
		case r.failed:
			failed[k] = true
		case r.found:
			results[k] = lds[k].hit(r.res)
		}
	}
	return failed
}

// readUnchecked reads keys in one MGET (see readMany) and returns the keys
// that need the checked read.
func (c *Cache) readUnchecked(ctx context.Context, keys []string, lds map[string]*load, results map[string]*result, failed map[string]bool) (recheck []string) {
	seen := c.seen()
	rctx, cancel := c.deadlines.bound(ctx)
	st, reads, err := c.l2.ReadManyUnchecked(rctx, keys)
	cancel()
	if err != nil {
		if !ended(ctx) {
			_ = c.redisFailed(err)
		}
		for _, k := range keys {
			failed[k] = true
		}
		return nil
	}
	c.breaker.success()
	if wentBack(st, seen) {
		// History went back: not even a miss's start mark is valid.
		c.n.checkedReads.Add(uint64(len(keys)))
		return keys
	}
	mark := Mark{epoch: st.Epoch, seq: st.Seq}
	for i, k := range keys {
		r, ld := reads[i], lds[k]
		if !r.Found && !r.Recheck {
			c.n.l2Misses.Add(1)
			ld.mark = mark
			continue
		}
		self := deps.Key(k)
		if r.Recheck || !c.vouches(st, seen, &r.Envelope, self) {
			c.n.checkedReads.Add(1)
			recheck = append(recheck, k)
			continue
		}
		ld.mark = mark
		res, found := c.entryResult(k, self, st, &r.Envelope, ld.l.decode, ld.gen, &ld.o, true)
		switch {
		case found:
			results[k] = ld.hit(res)
		case res != nil && res.mismatch != nil:
			ld.mismatch = res.mismatch
		case res != nil:
			ld.kept = res
		}
	}
	return recheck
}

// callBatch runs load and turns a panic into a *PanicError.
func callBatch(ctx context.Context, rec *BatchRecorder, load func(context.Context, []string, *BatchRecorder) (map[string]any, error), keys []string) (vals map[string]any, err error) {
	defer func() {
		if p := recover(); p != nil {
			vals, err = nil, &PanicError{Value: p, Stack: debug.Stack()}
		}
	}()
	return load(ctx, keys, rec)
}

// dedupeKeys returns keys without repeats, in their first order.
func dedupeKeys(keys []string) []string {
	seen := make(map[string]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		if _, dup := seen[k]; !dup {
			seen[k] = struct{}{}
			out = append(out, k)
		}
	}
	return out
}

// readError is the error of a batch's read for an Observer: nil, or how
// many of the keys' reads failed.
func readError(keys []string, failed map[string]bool) error {
	if len(failed) == 0 {
		return nil
	}
	return fmt.Errorf("%w: the reads of %d of %d keys failed", ErrUnavailable, len(failed), len(keys))
}
