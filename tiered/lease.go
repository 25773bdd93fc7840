package tiered

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// The cross-node load lease (G8; Config.Lease, the Lease option).
//
// A load that misses in both tiers takes the lease of its key in Redis
// (remote.Store.AcquireLease) before it runs the loader. The per-node
// singleflight is in front, so each node makes one attempt per key. The
// holder re-reads Redis (an entry may have landed between its miss and its
// lease), loads with the start mark of that read, puts (refused as ever if
// an invalidation overtook the mark, G1), fills L1, and then releases the
// lease and announces the key on the fill channel, whatever became of the
// put: waiters read Redis again and either find the entry or take the lease
// in turn, so a refused put (or a loader error) costs them one more load,
// never a stale value or a wait for the lease time. While its loader runs,
// the holder renews the lease every LeaseTime/3: a live holder keeps it for
// as long as its load takes, and a holder that died (or lost Redis, or was
// closed) loses it LeaseTime after its last renewal, when a waiter takes it
// over.
//
// A waiter registers for the key's announcement before it tries the lease
// (so an announcement between a failed try and the wait is not missed) and
// then waits for the announcement, for LeasePoll (a lost announcement), or
// for the holder's lease to run out, whichever comes first; then it reads
// Redis and tries again. The wait ends with the load's context (bounded by
// LoadTimeout) and with Close. Announcements reach the node through one
// subscription, started by the first wait and kept until Close; while it is
// down, polling alone wakes waiters. When Redis fails (or the breaker is
// open) there is no lease: the node loads on its own (G9).

// fillWaiters dispatches fill announcements to the loads of this node that
// wait for them.
type fillWaiters struct {
	mu      sync.Mutex
	waiting map[string]chan struct{} // closed when the key is announced
	ps      *redis.PubSub            // nil until subscribed
	done    chan struct{}            // closed when the dispatch goroutine ends
	closed  bool
	retryAt time.Time // no new subscription attempt before this time
}

// register returns a channel closed when key is next announced, or nil when
// announcements cannot be received now (the waiter then polls).
func (f *fillWaiters) register(c *Cache, key string) chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed || !f.subscribedLocked(c) {
		return nil
	}
	ch := f.waiting[key]
	if ch == nil {
		ch = make(chan struct{})
		if f.waiting == nil {
			f.waiting = map[string]chan struct{}{}
		}
		f.waiting[key] = ch
	}
	return ch
}

// subscribedLocked starts the subscription on first use and reports whether
// it is up. It waits for Redis's confirmation (at most RedisTimeout), so
// that an announcement made after register returns is received.
func (f *fillWaiters) subscribedLocked(c *Cache) bool {
	if f.ps != nil {
		return true
	}
	if time.Now().Before(f.retryAt) {
		return false
	}
	ctx, cancel := c.deadlines.bound(context.Background())
	defer cancel()
	var ps *redis.PubSub
	if c.l2.Cluster() {
		ps = c.cfg.Redis.SSubscribe(ctx, c.l2.FillChannel())
	} else {
		ps = c.cfg.Redis.Subscribe(ctx, c.l2.FillChannel())
	}
	if _, err := ps.Receive(ctx); err != nil {
		_ = ps.Close()
		f.retryAt = time.Now().Add(time.Second)
		c.cfg.Logger.Debug("matroska: fill announcements unavailable; waiters poll", "err", err)
		return false
	}
	f.ps = ps
	f.done = make(chan struct{})
	go f.dispatch(ps.Channel(), f.done)
	return true
}

// dispatch wakes the waiters of each announced key until the subscription
// is closed. go-redis reconnects and resubscribes on its own after a lost
// connection; announcements made meanwhile are lost, which polling covers.
func (f *fillWaiters) dispatch(msgs <-chan *redis.Message, done chan struct{}) {
	defer close(done)
	for m := range msgs {
		f.mu.Lock()
		if ch := f.waiting[m.Payload]; ch != nil {
			close(ch)
			delete(f.waiting, m.Payload)
		}
		f.mu.Unlock()
	}
}

// cancel drops the registration ch of key if it is still waiting.
func (f *fillWaiters) cancel(key string, ch chan struct{}) {
	if ch == nil {
		return
	}
	f.mu.Lock()
	if f.waiting[key] == ch {
		delete(f.waiting, key)
	}
	f.mu.Unlock()
}

// close ends the subscription and waits for the dispatch goroutine.
func (f *fillWaiters) close() {
	f.mu.Lock()
	f.closed = true
	ps, done := f.ps, f.done
	f.mu.Unlock()
	if ps != nil {
		_ = ps.Close()
		<-done
	}
}

// leaseOutcome is how leaseOrWait ended.
type leaseOutcome uint8

const (
	leaseLanded   leaseOutcome = iota + 1 // res is an entry that satisfies the caller
	leaseHeld                             // this node holds the lease: load with mark
	leaseGone                             // a refresh found its entry gone: nothing to do
	leaseDegraded                         // Redis failed: load without the lease, with mark
	leaseAborted                          // the load's context ended or the cache closed: err
	leaseBusy                             // another node holds the lease (tryLease only)
)

// heldLease is a lease this node holds, renewed until released.
type heldLease struct {
	key, token string
	stop       chan struct{}
	done       chan struct{}
}

// leaseOrWait is step 2 of ld (see miss.go): it takes the lease of ld's key
// or waits for another node's entry, reading Redis after each wait (each
// read sets ld's start mark). A refresh (ld.refresh) is satisfied by an
// entry that is not due, a miss by any entry: leaseLanded returns it. With
// leaseHeld, ld.held is the lease, to release when the load ends.
func (c *Cache) leaseOrWait(ctx context.Context, ld *load) (res *result, out leaseOutcome, err error) {
	key := ld.key
	token := randomID()
	a := &c.ahead
	waited, notified := false, false
	for {
		ch := a.fills.register(c, key)
		rctx, cancel := c.deadlines.bound(ctx)
		ok, left, err := c.l2.AcquireLease(rctx, key, token, c.cfg.LeaseTime)
		cancel()
		if err != nil {
			a.fills.cancel(key, ch)
			_ = c.redisFailed(err)
			return nil, leaseDegraded, nil
		}
		if ok {
			a.fills.cancel(key, ch)
			if waited && !notified {
				a.n.takeovers.Add(1)
			}
			res, out := c.leased(ctx, ld, token)
			return res, out, nil
		}
		if !waited {
			a.n.leaseWaits.Add(1)
		}
		waited = true
		wait := min(left, c.cfg.LeasePoll)
		if wait <= 0 {
			wait = time.Millisecond
		}
		woke, err := c.waitFill(ctx, ch, wait)
		a.fills.cancel(key, ch)
		if err != nil {
			return nil, leaseAborted, err
		}
		if woke {
			notified = true
			a.n.leaseNotified.Add(1)
		}
		r, found, err := ld.read(ctx)
		switch {
		case err != nil:
			return nil, leaseDegraded, nil
		case ld.satisfied(r, found):
			return r, leaseLanded, nil
		case !found && ld.refresh:
			return nil, leaseGone, nil
		}
	}
}

// leased goes on with ld once this node holds the lease of its key under
// token: it keeps the lease (ld.held, renewed until released) unless a read
// finds that the entry landed between the miss and the lease.
func (c *Cache) leased(ctx context.Context, ld *load, token string) (*result, leaseOutcome) {
	c.ahead.n.leases.Add(1)
	held := c.holdLease(ld.key, token)
	r, found, err := ld.read(ctx)
	switch {
	case err != nil:
		ld.held = held
		return nil, leaseHeld // load with the earlier mark
	case ld.satisfied(r, found):
		c.releaseLease(held)
		return r, leaseLanded
	case !found && ld.refresh:
		c.releaseLease(held)
		return nil, leaseGone
	}
	ld.held = held
	return nil, leaseHeld
}

// tryLease makes one attempt at the lease of ld's key: leaseBusy when
// another node holds it, leaseDegraded when Redis did not answer, else as
// leased.
func (c *Cache) tryLease(ctx context.Context, ld *load) (*result, leaseOutcome) {
	token := randomID()
	rctx, cancel := c.deadlines.bound(ctx)
	ok, _, err := c.l2.AcquireLease(rctx, ld.key, token, c.cfg.LeaseTime)
	cancel()
	switch {
	case err != nil:
		_ = c.redisFailed(err)
		return nil, leaseDegraded
	case !ok:
		return nil, leaseBusy
	}
	return c.leased(ctx, ld, token)
}

// satisfied reports whether an entry a read found (found) ends ld: any
// entry ends a miss; a refresh needs one that is not due.
func (ld *load) satisfied(r *result, found bool) bool { return found && (!ld.refresh || !r.due) }

// waitFill waits for ch to close (woke), for d, for ctx or for Close.
func (c *Cache) waitFill(ctx context.Context, ch chan struct{}, d time.Duration) (woke bool, err error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch: // a nil ch never fires
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	case <-c.ahead.ctx.Done():
		return false, ErrClosed
	}
}

// holdLease starts renewing the lease of key every LeaseTime/3 until
// releaseLease or Close.
func (c *Cache) holdLease(key, token string) *heldLease {
	h := &heldLease{key: key, token: token, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(max(c.cfg.LeaseTime/3, time.Millisecond))
		defer t.Stop()
		for {
			select {
			case <-t.C:
				ctx, cancel := c.deadlines.bound(context.Background())
				ok, err := c.l2.RenewLease(ctx, key, token, c.cfg.LeaseTime)
				cancel()
				if err != nil || !ok {
					return // lost: another node may take it over
				}
			case <-h.stop:
				return
			case <-c.ahead.ctx.Done():
				return // closed: the lease runs out and is taken over
			}
		}
	}()
	return h
}

// releaseLease stops renewing h, releases the lease and announces the key.
func (c *Cache) releaseLease(h *heldLease) {
	if h == nil {
		return
	}
	close(h.stop)
	<-h.done
	if c.ahead.ctx.Err() != nil {
		return // closed: a dead holder releases nothing
	}
	ctx, cancel := c.deadlines.bound(context.Background())
	defer cancel()
	if _, err := c.l2.ReleaseLease(ctx, h.key, h.token); err != nil {
		_ = c.redisFailed(err) // the lease runs out; waiters poll
	}
}

// aheadCounters are the Stats of the lease, refresh-ahead and stale-if-error.
type aheadCounters struct {
	leases, leaseWaits, leaseNotified, takeovers atomic.Uint64
	refreshes, refreshStored, refreshRefused     atomic.Uint64
	staleServed                                  atomic.Uint64
}
