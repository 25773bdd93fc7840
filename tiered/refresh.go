package tiered

import (
	"context"
	"sync"
	"time"

	"github.com/matroska-go/matroska/local"
	"github.com/matroska-go/matroska/remote"
)

// Refresh-ahead (the RefreshAfter option) and stale-if-error (StaleIfError).
//
// Ages. The Redis envelope holds no write time: an entry's age is read from
// the remaining TTL that a read returns, against the TTL and StaleIfError
// of the call. A value entry is written for TTL + StaleIfError, so with
// remaining time R it is older than its TTL (expired, kept for errors only)
// when R <= StaleIfError, and its age is TTL + StaleIfError - R, exact when
// the TTL had no jitter (RefreshAfter turns jitter off). An L1 entry carries
// both deadlines, computed when it is filled: Get misses for it from its TTL
// on, local.Cache.GetStale returns it until the StaleIfError time has
// passed, and local.Cache.Due reports it due for a refresh, one comparison
// on the hit path. Not-found entries have neither.
//
// Refresh. A hit on a due entry returns it and starts a refresh in the
// background (startRefresh): one per key on this node at a time, run through
// the node's singleflight, so that a refresh and a miss of the same key are
// one load (G8). The refresh reads Redis first: an entry that is gone (an
// invalidation removed it, or it expired) is not refreshed (the next call
// loads it), and one that is no longer due was refreshed by another node
// (and now fills L1). With the lease on, the refresh takes the lease or
// waits for the node that holds it: one refresh per key across the nodes.
// It loads with the start mark of that read and puts: a put that an
// invalidation overtook is refused (G1), and the refresh is dropped
// (Stats.RefreshesRefused). A refresh that ends with nothing (its entry
// gone, a loader error, Redis failing) is not tried again on this node for
// LeaseTime; the entry is served meanwhile until it expires. Close cancels the refreshes' contexts and waits for them; each
// is bounded by LoadTimeout.
//
// Stale-if-error. When a load fails (an error other than ErrNotFound, or
// the wait for another node's load ends without an entry), the call returns
// the value kept past its TTL, read from Redis by the same load or, failing
// that, from L1, and no error (Stats.StaleServed). An invalidation deletes
// kept values like any other (G1, G3): a kept value is one that expired,
// never one that was invalidated. A stale value has no usable start mark,
// so an outer entry that consumes it is not cached.

// ahead is the state of the lease, refresh-ahead and stale-if-error.
type ahead struct {
	ctx    context.Context // cancelled by Close: ends refreshes, lease waits, renewals
	cancel context.CancelFunc
	wg     sync.WaitGroup // running refreshes

	mu         sync.Mutex
	refreshing map[string]time.Time // key -> zero while a refresh runs, else no retry before

	fills fillWaiters
	n     aheadCounters
}

func (a *ahead) init() {
	a.ctx, a.cancel = context.WithCancel(context.Background())
}

// close cancels the background work and waits for it. The caller has set
// Cache.closed, so no refresh starts after close has taken mu.
func (a *ahead) close() {
	// A barrier: startRefresh checks closed under mu, so once mu has been
	// taken here no refresh can start.
	a.mu.Lock()
	//lint:ignore SA2001 the empty critical section is the barrier above
	a.mu.Unlock()
	a.cancel()
	a.wg.Wait()
	a.fills.close()
}

// due reports whether it, an entry returned by peek, is due for a refresh
// (see RefreshAfter). One comparison for an entry without RefreshAfter.
func (c *Cache) due(it *local.Item) bool { return c != nil && c.l1.Due(it) }

// refreshAhead starts a background refresh of key with l and opts (those of
// the call that hit a due entry: an entry is due when its writer's
// RefreshAfter says so, and the refresh writes it with this call's
// options) unless one is running or failed less than LeaseTime ago; see
// RefreshAfter.
func (c *Cache) refreshAhead(key string, l anyLoader, opts []Option) {
	if c == nil || c.closed.Load() {
		return
	}
	o := c.applyOptions(opts)
	if o.check() != nil {
		return
	}
	c.startRefresh(key, &l, &o)
}

// startRefresh runs refresh in the background unless one of key is running
// or has failed recently.
func (c *Cache) startRefresh(key string, l *anyLoader, o *callOptions) {
	a := &c.ahead
	now := time.Now()
	a.mu.Lock()
	if c.closed.Load() {
		a.mu.Unlock()
		return
	}
	if t, ok := a.refreshing[key]; ok && (t.IsZero() || now.Before(t)) {
		a.mu.Unlock()
		return
	}
	if a.refreshing == nil {
		a.refreshing = map[string]time.Time{}
	}
	if len(a.refreshing) >= 1024 {
		for k, t := range a.refreshing {
			if !t.IsZero() && now.After(t) {
				delete(a.refreshing, k)
			}
		}
	}
	a.refreshing[key] = time.Time{}
	a.wg.Add(1)
	a.mu.Unlock()
	a.n.refreshes.Add(1)
	lv, ov := *l, *o
	go func() {
		defer a.wg.Done()
		ctx, cancel := context.WithTimeout(a.ctx, c.cfg.LoadTimeout)
		defer cancel()
		var res *result
		// The flight may be a miss's, not this refresh: the miss whose L2
		// read found the entry due and started this refresh, still running,
		// or any other. Its result refreshed nothing: run again once it has
		// ended (a few times at most, should misses keep coming).
		for range 3 {
			res, _, _ = c.flights.do(context.Background(), key, func() (*result, func() *result) {
				ld := c.newLoad(key, &lv, &ov, true)
				r := ld.refreshing(ctx)
				r.refresh = true
				return r, nil
			})
			if res.refresh {
				break
			}
		}
		failed := res.retry || !res.refresh // nothing refreshed: no new attempt for LeaseTime
		a.mu.Lock()
		if failed {
			a.refreshing[key] = time.Now().Add(c.cfg.LeaseTime)
		} else {
			delete(a.refreshing, key)
		}
		a.mu.Unlock()
	}()
}

// refreshing is a background refresh's way down the steps of a load (see
// miss.go): the read, which ends it when the entry is gone or no longer
// due; the lease (with the lease on); the loader, the put and the fill. Its
// result goes to callers of miss that joined the flight: a result with
// retry set makes them load anew.
func (ld *load) refreshing(ctx context.Context) *result {
	c := ld.c
	ld.mark, ld.known = Mark{seq: c.l1.Applied()}, true
	if c.l2 != nil {
		res, found, err := ld.read(ctx)
		switch {
		case err != nil, !found:
			return &result{retry: true, started: ld.start, err: ErrMiss}
		case !res.due:
			res.started = ld.start
			return res
		}
		if ld.o.lease {
			res, out, err := c.leaseOrWait(ctx, ld)
			switch out {
			case leaseLanded:
				res.started = ld.start
				return res
			case leaseGone:
				return &result{started: ld.start, err: ErrMiss, retry: true}
			case leaseAborted:
				return &result{retry: true, started: ld.start, err: err}
			}
			defer c.releaseLease(ld.held)
		}
	}
	res := ld.loadAndStore(ctx)
	if res.err != nil && !res.notFound {
		res.retry = true
	}
	return res
}

// timing reads the age of an L2 entry against what its writer chose: the L1
// time to live and grace of an entry filled from it, when it is due for a
// refresh (refreshIn <= 0: due now), and whether it is past its TTL (kept
// for errors only). An entry of layout 5 carries its Fresh and Due times
// (see entryTimes), read on this node's clock; for an older one, the age is
// read from its remaining time to live (env.TTL, 0 when unknown) against the
// call's TTL and StaleIfError, which then must be the writer's.
func (c *Cache) timing(env *remote.Envelope, o *callOptions) (soft, grace, refreshIn time.Duration, expired bool) {
	ttl := env.TTL
	if ttl <= 0 {
		return c.cfg.L1MaxTTL, 0, 0, false
	}
	if env.NotFound {
		return ttl, 0, 0, false
	}
	if !env.Fresh.IsZero() {
		now := time.Now()
		if soft = env.Fresh.Sub(now); soft <= 0 {
			return 0, 0, 0, true
		}
		soft = min(soft, ttl)
		if !env.Due.IsZero() {
			if refreshIn = env.Due.Sub(now); refreshIn <= 0 {
				refreshIn = -1
			}
		}
		return soft, ttl - soft, refreshIn, false
	}
	if ttl <= o.stale {
		return 0, 0, 0, true
	}
	soft, grace = ttl-o.stale, o.stale
	if o.refresh > 0 {
		age := o.ttl + o.stale - ttl
		refreshIn = o.refresh - age
		if refreshIn <= 0 {
			refreshIn = -1
		}
	}
	return soft, grace, refreshIn, false
}

// entryTimes are the Fresh and Due times (see remote.Envelope) of an entry
// written now with time to live ttl and RefreshAfter refresh (0: none): a
// negative entry has neither, and a refresh at or past the TTL is none.
func entryTimes(now time.Time, ttl time.Duration, notFound bool, refresh time.Duration) (fresh, due time.Time) {
	if notFound {
		return time.Time{}, time.Time{}
	}
	fresh = now.Add(ttl)
	if refresh > 0 && refresh < ttl {
		due = now.Add(refresh)
	}
	return fresh, due
}

// orStale answers a failed load (res) with the value of key kept for
// StaleIfError, from kept (read from Redis by the load) or from L1, if
// there is one.
func (c *Cache) orStale(key string, res *result, kept *result, o *callOptions) *result {
	if o.stale <= 0 {
		return res
	}
	if kept == nil && c.servable() {
		if it, ok := c.l1.GetStale(key); ok && !it.NotFound {
			kept = &result{val: it.Value, deps: it.Deps}
		}
	}
	if kept == nil || kept.notFound {
		return res
	}
	c.ahead.n.staleServed.Add(1)
	return &result{val: kept.val, deps: kept.deps, mark: kept.mark, known: false, started: res.started}
}

// l2TTL is the time to live of a put to Redis: the TTL plus the time a
// value is kept for StaleIfError.
func l2TTL(ttl time.Duration, notFound bool, o *callOptions) time.Duration {
	if notFound {
		return ttl
	}
	return ttl + o.stale
}

// aheadItem sets the refresh and grace times of an L1 item filled by a
// load whose entry lives ttl.
func aheadItem(it *local.Item, ttl time.Duration, o *callOptions) {
	if it.NotFound {
		return
	}
	if o.refresh < ttl {
		it.Refresh = o.refresh
	}
	it.Grace = o.stale
}
