package tiered

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// windowShare is the share of RedisTimeout during which the calls whose
// context cannot end share one deadline (the window, at least minWindow):
// such a call is bounded by RedisTimeout plus at most the window, a
// sixteenth more. A window of a fixed millisecond made a new context (a
// timer and its allocations) for nearly every call of a node that reads
// less often than once a millisecond, about 1µs of its L2 hit.
const (
	windowShare = 16
	minWindow   = time.Millisecond
)

// deadlines hands out the contexts that bound Redis calls to RedisTimeout.
// A call whose context can end (a request's) gets a context of its own,
// context.WithTimeout, so that the caller's cancellation reaches it. A call
// whose context cannot end (context.Background, context.WithoutCancel)
// shares a context with the calls of the same window, whose deadline is
// RedisTimeout after the window's end: such a call pays no timer and no
// allocation of its own (about 3% of an L2 hit on a small machine,
// BenchmarkL2HitVsRaw), and it is bounded all the same.
type deadlines struct {
	timeout time.Duration
	window  time.Duration // max(timeout/windowShare, minWindow)
	base    time.Time     // the monotonic origin of until

	cur atomic.Pointer[sharedDeadline] // the current window's, or nil

	mu     sync.Mutex
	live   []*sharedDeadline // in deadline order; those whose deadline has not passed, and maybe a few that have
	closed bool
}

// sharedDeadline is one window's context.
type sharedDeadline struct {
	ctx    context.Context
	cancel context.CancelFunc
	until  time.Duration // the window's end, since deadlines.base
}

func newDeadlines(timeout time.Duration) *deadlines {
	return &deadlines{timeout: timeout, window: max(timeout/windowShare, minWindow), base: time.Now()}
}

// bound returns the context of one Redis call made for a caller's ctx, and
// the function that releases it.
func (d *deadlines) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || ctx.Done() != nil {
		return context.WithTimeout(ctx, d.timeout)
	}
	now := time.Since(d.base)
	s := d.cur.Load()
	if s == nil || now >= s.until {
		if s = d.renew(now); s == nil {
			return context.WithTimeout(ctx, d.timeout) // closed
		}
	}
	if ctx == context.Background() || ctx == context.TODO() {
		return s.ctx, noCancel
	}
	return withValues{s.ctx, ctx}, noCancel
}

// renew returns the context of the window that holds now, making it if
// needed; nil once closed.
func (d *deadlines) renew(now time.Duration) *sharedDeadline {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	if s := d.cur.Load(); s != nil && now < s.until {
		return s // another call made it meanwhile
	}
	for len(d.live) > 0 && d.live[0].ctx.Err() != nil {
		d.live[0] = nil
		d.live = d.live[1:] // its timer has fired and released it
	}
	until := (now/d.window + 1) * d.window
	ctx, cancel := context.WithDeadline(context.Background(), d.base.Add(until+d.timeout))
	s := &sharedDeadline{ctx: ctx, cancel: cancel, until: until}
	d.live = append(d.live, s)
	d.cur.Store(s)
	return s
}

// close releases every window's context (and stops its timer); later calls
// get contexts of their own.
func (d *deadlines) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.cur.Store(nil)
	for _, s := range d.live {
		s.cancel()
	}
	d.live = nil
}

func noCancel() {}

// withValues is a shared deadline's context carrying a caller's values
// (for go-redis hooks, such as tracing). Its deadline, Done and Err are the
// shared context's: the caller's context cannot end.
type withValues struct {
	context.Context
	values context.Context
}

func (w withValues) Value(key any) any { return w.values.Value(key) }
