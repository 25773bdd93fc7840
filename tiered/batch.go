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
	"github.com/matroska-go/matroska/local"
	"github.com/matroska-go/matroska/remote"
)

// The batch read-through: GetOrLoadMany. Every key of a batch takes the
// steps of the miss path (miss.go) as a single call would, the keys of the
// batch together: L1 first; the L2 misses in one round trip to Redis; what
// is still missing in one call of the batch loader; the puts in one round
// trip (standalone Redis: an MGET, then a pipeline; Redis Cluster: one
// round trip per key, concurrently). A key whose flight is already running
// on this node (a single call's, another batch's) joins that flight. With
// the cross-node lease on, the keys that Redis does not hold take their
// leases (or wait for their holders) before the loader call, concurrently,
// a round trip each.

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

// add sets key's error, making e if it is nil.
func (e KeyErrors) add(key string, err error) KeyErrors {
	if e == nil {
		e = KeyErrors{}
	}
	e[key] = err
	return e
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
// this node, G1, G3, negative entries, ErrTypeMismatch, the options, one
// load per key across nodes with the Lease option), but a batch of n cold
// keys costs two round trips to Redis and one loader call, not n of each
// (with the lease, two more round trips per key, made concurrently).
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
	var errs KeyErrors // made by the first error
	var missing []string
	for _, k := range dedupeKeys(keys) {
		if it, hit := c.peek(k); hit {
			if v, ok, err := fromItem[T](ctx, c, k, it); ok {
				switch {
				case err == nil:
					out[k] = v
				case !errors.Is(err, ErrNotFound):
					errs = errs.add(k, err)
				}
				continue
			}
		}
		missing = append(missing, k)
	}
	if len(missing) > 0 {
		answers := c.missMany(ctx, missing, untypedBatch(c, load), opts)
		for i, k := range missing {
			a := answers[i]
			if a.val != nil {
				v, err := typed[T](a.val, nil)
				if err != nil {
					errs = errs.add(k, err)
					continue
				}
				out[k] = v
			}
			if a.err != nil && !errors.Is(a.err, ErrNotFound) {
				errs = errs.add(k, a.err)
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
// it with the others (loadMany). out[i] is keys[i]'s answer.
func (c *Cache) missMany(ctx context.Context, keys []string, bl anyBatchLoader, opts []Option) []answer {
	out := make([]answer, len(keys))
	o := c.applyOptions(opts)
	if err := o.check(); err != nil {
		for i := range keys {
			out[i] = answer{err: err}
		}
		return out
	}
	type joined struct {
		i    int // in keys
		f    *flight
		done chan struct{}
	}
	valid := make([]string, 0, len(keys))
	vat := make([]int, 0, len(keys)) // valid[j] is keys[vat[j]]
	for i, k := range keys {
		if err := c.checkKey(k); err != nil {
			out[i] = answer{err: err}
			continue
		}
		valid, vat = append(valid, k), append(vat, i)
	}
	c.n.l1Misses.Add(uint64(len(valid)))
	came := time.Now()
	fs, dones := c.flights.claimMany(valid)
	var own []string
	var at []int // own[j] is keys[at[j]]
	var flights []*flight
	var joins []joined
	for j, k := range valid {
		i := vat[j]
		if dones[j] == nil {
			own, at, flights = append(own, k), append(at, i), append(flights, fs[j])
		} else {
			joins = append(joins, joined{i, fs[j], dones[j]})
		}
	}
	if len(own) > 0 {
		results := c.endAll(own, flights, func() []*result { return c.loadMany(ctx, own, bl, &o) })
		for j, i := range at {
			out[i] = c.answered(ctx, own[j], results[j])
		}
	}
	for _, j := range joins {
		key := keys[j.i]
		res, err := j.f.wait(ctx, j.done)
		if err != nil {
			out[j.i] = answer{err: err}
			continue
		}
		c.n.shared.Add(1)
		// As in miss: a result that predates an invalidation this node
		// applied before the batch came, or a refresh with nothing to
		// give, is loaded again, on its own.
		if res.retry || (res.started.Before(came) && c.overtaken(key, res)) {
			c.n.rejoined.Add(1)
			v, err := c.miss(ctx, key, bl.single(key), opts)
			out[j.i] = answer{v, err}
			continue
		}
		out[j.i] = c.answered(ctx, key, res)
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
// and ends each flight with its key's result (results[i] is keys[i]'s); a
// key without one (load panicked) ends with an error, and the panic goes
// on.
func (c *Cache) endAll(keys []string, flights []*flight, load func() []*result) (results []*result) {
	defer func() {
		p := recover()
		ends := results
		if len(ends) != len(keys) {
			ends = make([]*result, len(keys))
		}
		for i, k := range keys {
			if ends[i] == nil {
				ends[i] = &result{err: fmt.Errorf("matroska: panic in the batch load of %q: %v", k, p)}
			}
		}
		c.flights.endMany(keys, flights, ends)
		if p != nil {
			panic(p)
		}
	}()
	return load()
}

// loadMany is the load of the keys of a batch that it owns: their reads,
// one loader call for those that Redis does not hold, their puts and fills.
// It returns a result for every key, in the order of keys.
func (c *Cache) loadMany(ctx context.Context, keys []string, bl anyBatchLoader, o *callOptions) []*result {
	results := make([]*result, len(keys))
	lds := make([]load, len(keys))
	l := anyLoader{decode: bl.decode}
	for i, k := range keys {
		lds[i] = c.newLoad(k, &l, o, false)
	}
	end := ignoreOutcome
	if c.l2 != nil {
		_, end = c.observe(ctx, Op{Kind: OpRead, Key: keys[0], Keys: len(keys)})
	}
	failed := c.readMany(ctx, lds, results)
	end(Outcome{Err: readError(failed), Found: found(results)})
	if found(results) == len(keys) {
		return results
	}
	// The lease, the loader and the puts run detached from the caller, as
	// a single load's rest does.
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.LoadTimeout)
	defer cancel()
	if c.l2 == nil || !o.lease {
		c.loadMissing(lctx, lds, results, failed, nil, bl)
		return results
	}
	// With the lease: the keys whose leases this node takes are loaded
	// together and released after their puts; then each key another node
	// holds is waited for, and loaded on its own if its holder's lease runs
	// out, as a single call's would be. A batch never waits for a lease
	// while it holds others: two nodes whose batches share keys would wait
	// for each other.
	held, busy := c.leaseMany(lctx, lds, results, failed)
	c.loadMissing(lctx, lds, results, failed, busy, bl)
	for _, h := range held {
		c.releaseLease(h)
	}
	g := new(errgroup.Group)
	g.SetLimit(16)
	for i := range busy {
		if !busy[i] {
			continue
		}
		g.Go(func() error {
			ld := &lds[i]
			ld.l = bl.single(ld.key)
			results[i] = ld.afterMiss(lctx, nil)
			return nil
		})
	}
	_ = g.Wait()
	return results
}

// loadMissing is steps 3 to 5 for the loads of a batch that have no result
// yet and are not skipped (skip[i], when skip is not nil): one call of the
// batch loader, the puts in one round trip, the fills.
func (c *Cache) loadMissing(lctx context.Context, lds []load, results []*result, failed []error, skip []bool, bl anyBatchLoader) {
	var missing []string
	var at []int // missing[j] is lds[at[j]].key
	for i := range lds {
		if results[i] == nil && (skip == nil || !skip[i]) {
			missing, at = append(missing, lds[i].key), append(at, i)
		}
	}
	if len(missing) == 0 {
		return
	}
	brec := &BatchRecorder{recs: make(map[string]*Recorder, len(missing))}
	for j, k := range missing {
		brec.recs[k] = &Recorder{mark: lds[at[j]].mark}
	}
	c.n.loads.Add(1)
	octx, endLoad := c.observe(lctx, Op{Kind: OpLoad, Key: missing[0], Keys: len(missing)})
	vals, err := callBatch(octx, brec, bl.load, missing)
	endLoad(Outcome{Err: err, Found: len(vals)})
	var kerrs KeyErrors
	if err != nil && !errors.As(err, &kerrs) {
		for _, i := range at {
			results[i] = lds[i].failed(err)
		}
		return
	}
	var items []remote.PutItem
	type pending struct {
		ld      *load
		res     *result
		payload []byte
		ttl     time.Duration
	}
	var puts []pending
	for j, k := range missing {
		i := at[j]
		ld := &lds[i]
		ld.known = failed[i] == nil && (c.l2 == nil || ld.mark.epoch != "")
		if failed[i] != nil {
			c.n.degraded.Add(1)
		}
		kerr := kerrs[k]
		if kerr != nil && !errors.Is(kerr, ErrNotFound) {
			results[i] = ld.failed(kerr)
			continue
		}
		v, found := vals[k]
		var lerr error
		if !found || kerr != nil {
			v, lerr = nil, ErrNotFound
		}
		res, payload, ttl, cache := ld.outcome(v, lerr, brec.recs[k])
		results[i] = res
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
		return
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
}

// leaseMany is step 2 for the keys of a batch that Redis did not hold,
// with the lease on: one attempt at each key's lease, at most 16 at a
// time (tryLease). A key whose entry landed meanwhile gets its result; a
// key another node holds is busy, for the caller to wait for once the
// batch's own loads are done (G8: one node loads each key); a key whose
// lease Redis did not answer is loaded without it, as a single call's. It
// returns the leases taken, to release once the batch's puts are done.
func (c *Cache) leaseMany(ctx context.Context, lds []load, results []*result, failed []error) (held []*heldLease, busy []bool) {
	busy = make([]bool, len(lds))
	g := new(errgroup.Group)
	g.SetLimit(16)
	for i := range lds {
		if results[i] != nil || failed[i] != nil {
			continue
		}
		g.Go(func() error {
			ld := &lds[i]
			switch res, out := c.tryLease(ctx, ld); out {
			case leaseLanded:
				res.started = ld.start
				results[i] = res
			case leaseBusy:
				busy[i] = true
			}
			return nil
		})
	}
	_ = g.Wait()
	for i := range lds {
		if lds[i].held != nil {
			held = append(held, lds[i].held)
		}
	}
	return held, busy
}

// found is the number of results set.
func found(results []*result) (n int) {
	for _, r := range results {
		if r != nil {
			n++
		}
	}
	return n
}

// readMany is step 1 for the loads of a batch: it sets results[i] for each
// load whose key it found in Redis (and fills L1), and, for the others, the
// load's start mark, kept value or codec mismatch; failed[i] is the error
// of a load whose read failed (Redis down or slow: it is loaded, answered
// uncached). On a standalone Redis, with L1 trusted, it reads every key in
// one MGET and vouches for each entry as readRedis does; the keys it cannot
// vouch for, and every key on a Cluster or with L1 untrusted, are read with
// the checked read of a single call, at most 16 at a time.
func (c *Cache) readMany(ctx context.Context, lds []load, results []*result) (failed []error) {
	failed = make([]error, len(lds))
	read := func(ctx context.Context, i int) {
		res, found, err := lds[i].read(ctx)
		switch {
		case err != nil:
			failed[i] = err
		case found:
			results[i] = lds[i].hit(res)
		}
	}
	if c.l2 == nil {
		for i := range lds {
			read(ctx, i)
		}
		return failed
	}
	var recheck []int
	if c.l1Trusted() && !c.l2.Cluster() && c.breaker.allow() && !c.isHeld() {
		recheck = c.readUnchecked(ctx, lds, results, failed)
	} else {
		recheck = make([]int, len(lds))
		for i := range recheck {
			recheck[i] = i
		}
	}
	// Each checked read writes its own index of results and failed.
	g := new(errgroup.Group)
	g.SetLimit(16)
	for _, i := range recheck {
		g.Go(func() error {
			read(ctx, i)
			return nil
		})
	}
	_ = g.Wait()
	return failed
}

// readUnchecked reads the keys of lds in one MGET (see readMany), fills L1
// with what it vouches for in one step, and returns the indices of the
// loads that need the checked read.
func (c *Cache) readUnchecked(ctx context.Context, lds []load, results []*result, failed []error) (recheck []int) {
	keys := make([]string, len(lds))
	for i := range lds {
		keys[i] = lds[i].key
	}
	seen := c.seen()
	rctx, cancel := c.deadlines.bound(ctx)
	st, reads, err := c.l2.ReadManyUnchecked(rctx, keys)
	cancel()
	if err != nil {
		if !ended(ctx) {
			err = c.redisFailed(err)
		}
		for i := range failed {
			failed[i] = err
		}
		return nil
	}
	c.breaker.success()
	all := func() []int {
		c.n.checkedReads.Add(uint64(len(keys)))
		idx := make([]int, len(keys))
		for i := range idx {
			idx[i] = i
		}
		return idx
	}
	if wentBack(st, seen) {
		return all() // history went back: not even a miss's start mark is valid
	}
	mark := Mark{epoch: st.Epoch, seq: st.Seq}
	fills := make([]local.Filling, 0, len(keys))
	var misses uint64
	for i, k := range keys {
		r, ld := &reads[i], &lds[i]
		if !r.Found && !r.Recheck {
			misses++
			ld.mark = mark
			continue
		}
		self := deps.Key(k)
		if r.Recheck || !c.vouches(st, seen, &r.Envelope, self) {
			c.n.checkedReads.Add(1)
			recheck = append(recheck, i)
			continue
		}
		ld.mark = mark
		res, found, fill, filled := c.entryOf(k, self, st, &r.Envelope, ld.l.decode, &ld.o, true)
		switch {
		case found:
			results[i] = ld.hit(res)
			if filled {
				fills = append(fills, fill)
			}
		case res != nil && res.mismatch != nil:
			ld.mismatch = res.mismatch
		case res != nil:
			ld.kept = res
		}
	}
	c.n.l2Misses.Add(misses)
	if len(fills) > 0 {
		c.n.refusedFills.Add(uint64(c.l1.FillMany(lds[0].gen, fills)))
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

// readError is the error of a batch's read for an Observer: nil, or the
// first failed read's error and how many failed.
func readError(failed []error) error {
	var first error
	n := 0
	for _, err := range failed {
		if err != nil {
			if first == nil {
				first = err
			}
			n++
		}
	}
	if first == nil {
		return nil
	}
	return fmt.Errorf("the reads of %d of %d keys failed: %w", n, len(failed), first)
}
