package tiered

import (
	"context"
	"sync"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// maxCombined bounds the dependencies of one combined invalidation, so that
// a crowd of callers does not make one script call (and one bus message)
// without limit: what is left waits for the next call.
const maxCombined = 1024

// maxQueueWait bounds how long an invalidation waits in the queue: past
// it, the caller leaves the queue and sends its invalidation itself, beside
// the one in flight. Without it, every invalidation of a node would wait
// for a long one in flight (a large invalidation in phases takes seconds;
// one on Redis Cluster, four round trips), and so would its broadcast:
// another node's write, committed after this one's, could take the
// earlier sequence number and be read back there without this one. Under
// load a call takes a round trip or so, well under it, and the queue still
// combines.
const maxQueueWait = time.Millisecond

// combiner turns this node's concurrent invalidations into fewer Redis
// calls (a group commit), when Config.CombineInvalidations is on; off, each
// call goes alone at once. An Invalidate that finds none in flight runs at
// once, alone: an idle node adds no wait. One that comes while another is in
// flight queues; when the one in flight returns, a goroutine sends everything
// queued as one invalidation of the union of their dependencies, then the
// next queue, until none is left. Under load, then, a node sends one script
// call and one bus message per round trip instead of one per caller, and
// every node of the fleet applies one message instead of many.
//
// It changes nothing that a caller can see: an invalidation of the union at
// one sequence number is what the callers' invalidations in any order would
// have done, and each caller returns only after the call that carried its
// dependencies did, with that call's outcome (G3 holds for each). A caller
// whose context ends while it is still queued is taken out of the queue and
// returns the context's error, its dependencies dropped from L1 as for any
// invalidation whose outcome is unknown. One still queued after
// maxQueueWait leaves the queue and sends its invalidation alone.
type combiner struct {
	on     bool // Config.CombineInvalidations; else every call goes alone
	mu     sync.Mutex
	flying bool          // an invalidation of this node is in flight
	queue  []*invocation // waiting for it to return
	wait   time.Duration // maxQueueWait, or a test's (0: maxQueueWait)
}

// invocation is one queued Invalidate.
type invocation struct {
	ctx  context.Context
	ds   []deps.Dep
	done chan struct{} // closed when err is set
	err  error
}

// invalidateRemote invalidates ds in Redis through the combiner.
func (c *Cache) invalidateRemote(ctx context.Context, ds []deps.Dep) error {
	m := &c.combine
	if !m.on {
		return c.sendInvalidation(ctx, ds)
	}
	m.mu.Lock()
	if !m.flying {
		m.flying = true
		m.mu.Unlock()
		err := c.sendInvalidation(ctx, ds)
		c.nextCombined()
		return err
	}
	inv := &invocation{ctx: ctx, ds: ds, done: make(chan struct{})}
	m.queue = append(m.queue, inv)
	d := m.wait
	m.mu.Unlock()
	if d == 0 {
		d = maxQueueWait
	}
	wait := time.NewTimer(d)
	defer wait.Stop()
	select {
	case <-inv.done:
		return inv.err
	case <-wait.C:
		if m.leave(inv) {
			return c.sendInvalidation(ctx, ds)
		}
		// Already taken: it goes with the others.
		select {
		case <-inv.done:
			return inv.err
		case <-ctx.Done():
		}
	case <-ctx.Done():
	}
	if !m.leave(inv) {
		// Already taken: its call may land. The outcome is unknown, as for
		// a call cut short by its context.
		select {
		case <-inv.done:
			return inv.err
		default:
		}
	}
	c.dropLocal(ds)
	return ctx.Err()
}

// leave takes inv out of the queue and reports whether it was still there
// (not yet taken by a combined call).
func (m *combiner) leave(inv *invocation) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, q := range m.queue {
		if q == inv {
			m.queue = append(m.queue[:i], m.queue[i+1:]...)
			return true
		}
	}
	return false
}

// nextCombined is called when this node's invalidation in flight returns:
// it sends what was queued meanwhile, on a goroutine of its own, or marks
// that none is in flight.
func (c *Cache) nextCombined() {
	m := &c.combine
	m.mu.Lock()
	if len(m.queue) == 0 {
		m.flying = false
		m.mu.Unlock()
		return
	}
	m.mu.Unlock()
	go c.sendCombined()
}

// sendCombined sends the queue, maxCombined dependencies at a time, until
// it is empty.
func (c *Cache) sendCombined() {
	m := &c.combine
	for {
		m.mu.Lock()
		n, size := 0, 0
		for n < len(m.queue) && (n == 0 || size+len(m.queue[n].ds) <= maxCombined) {
			size += len(m.queue[n].ds)
			n++
		}
		if n == 0 {
			m.flying = false
			m.mu.Unlock()
			return
		}
		group := make([]*invocation, n)
		copy(group, m.queue)
		m.queue = append(m.queue[:0], m.queue[n:]...)
		m.mu.Unlock()

		var union []deps.Dep
		if len(group) == 1 {
			union = group[0].ds
		} else {
			union = make([]deps.Dep, 0, size)
			for _, inv := range group {
				union = append(union, inv.ds...)
			}
			c.n.combined.Add(uint64(len(group) - 1))
		}
		// The first caller's values (a trace), without its cancellation:
		// the others wait for this call too.
		err := c.sendInvalidation(context.WithoutCancel(group[0].ctx), union)
		for _, inv := range group {
			inv.err = err
			close(inv.done)
		}
	}
}

// sendInvalidation is one invalidation of ds in Redis, and its effect on
// this node: L1 drops the entries at once, and is not served until the bus
// has applied it (see wrote). When the outcome is unknown, L1 drops them
// anyway.
func (c *Cache) sendInvalidation(ctx context.Context, ds []deps.Dep) error {
	start := time.Now()
	st, err := c.l2.Invalidate(ctx, ds, c.origin)
	if err != nil && !c.unfinished(err) {
		return c.writeFailed(ctx, ds, err)
	}
	c.breaker.success()
	c.invalidated(ds, st, start)
	return nil
}
