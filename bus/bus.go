package bus

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Bus receives one namespace's invalidations and drives a [Handler] with
// them. Create it with [Start]; stop it with [Bus.Close].
type Bus struct {
	cfg Config

	// trusted is the hot-path flag read by Trusted. Writes happen under mu
	// (so that trustCh and closed stay in step with it).
	trusted atomic.Bool

	// until is when trust runs out unless renewed (time since t0): the
	// moment up to which every invalidation is known to be applied (see
	// renew), plus the trust window. Trusted checks it on every call, so a
	// bus goroutine that stops running (a paused process, a starved
	// goroutine) cannot leave the node trusting an L1 it no longer keeps.
	until atomic.Int64
	t0    time.Time // monotonic base of until

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	done   chan struct{} // closed when the receive goroutine has exited

	mu       sync.Mutex
	ps       *redis.PubSub // guarded by mu: the current subscription, closed by Close
	closed   bool          // guarded by mu
	trustCh  chan struct{} // guarded by mu: closed while trusted, replaced when trust is lost
	closedCh chan struct{} // closed by Close

	n counters

	// The fields below belong to the receive goroutine (run and the methods
	// it calls); nothing else touches them.
	stateAt    time.Duration // when the last state read began (time since t0)
	started    bool          // a first Reset has happened
	epoch      string        // current epoch
	last       uint64        // last sequence applied (or reset to)
	subscribed bool          // the current connection's subscription is confirmed
	synced     bool          // caught up with a state read after that confirmation
	lastHeard  time.Time     // when the subscription last gave a sign of life
	pending    uint64        // state seq seen at the previous heartbeat while behind, or 0
	confirms   uint64        // subscription confirmations received
	errStreak  int           // consecutive receive errors (for backoff)
}

// Start validates cfg and starts the bus's receive goroutine. It does not
// wait for Redis: the bus is untrusted until its subscription is confirmed
// and caught up (see [Bus.WaitTrusted]), and keeps retrying while Redis is
// unreachable.
func Start(cfg Config) (*Bus, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg:      cfg,
		ctx:      ctx,
		cancel:   cancel,
		done:     make(chan struct{}),
		trustCh:  make(chan struct{}),
		closedCh: make(chan struct{}),
		t0:       time.Now(),
	}
	b.n.epoch.Store(new(string))
	go b.run()
	return b, nil
}

// Trusted reports whether the bus is subscribed, caught up, and has heard
// from its subscription within the trust window: while it is true, every
// invalidation up to the propagation delay has been applied, and L1 may be
// served. Trust also runs out by itself a trust window after the last
// proof that everything published before was applied (the pong of a ping,
// or a catch-up with a state read), even if the receive goroutine is not
// running to notice. It costs two atomic loads and a read of the monotonic
// clock.
func (b *Bus) Trusted() bool {
	return b.trusted.Load() && int64(time.Since(b.t0)) < b.until.Load()
}

// renew records that every invalidation published before at (time since
// t0) has been applied: trust lasts until at plus the trust window.
func (b *Bus) renew(at time.Duration) {
	u := int64(at + b.cfg.TrustWindow)
	for {
		old := b.until.Load()
		if u <= old || b.until.CompareAndSwap(old, u) {
			return
		}
	}
}

// WaitTrusted blocks until the bus is trusted, ctx is done (its error is
// returned) or the bus is closed ([ErrClosed]).
func (b *Bus) WaitTrusted(ctx context.Context) error {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return ErrClosed
		}
		if b.trusted.Load() {
			b.mu.Unlock()
			return nil
		}
		ch := b.trustCh
		b.mu.Unlock()
		select {
		case <-ch:
		case <-b.closedCh:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the receive goroutine and closes the subscription; when it
// returns, no goroutine of the bus is left and the Handler and the Source
// are not called again. A second Close returns [ErrClosed].
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return ErrClosed
	}
	b.closed = true
	close(b.closedCh)
	b.trusted.Store(false)
	ps := b.ps
	b.ps = nil
	b.mu.Unlock()

	// Cancel first so that a dial or Source call in progress returns, then
	// close the subscription so that a blocked receive returns.
	b.cancel()
	if ps != nil {
		_ = ps.Close()
	}
	<-b.done
	return nil
}

// setTrusted changes the trust flag. It is called by the receive goroutine;
// once the bus is closed it stays untrusted.
func (b *Bus) setTrusted(v bool) {
	if b.trusted.Load() == v {
		return // only the receive goroutine stores true, so no lock needed to skip
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.trusted.Load() == v {
		return
	}
	b.trusted.Store(v)
	if v {
		close(b.trustCh)
		return
	}
	b.trustCh = make(chan struct{})
	b.n.untrusted.Add(1)
}

// updateTrust sets the trust flag from the receive goroutine's state.
func (b *Bus) updateTrust() { b.setTrusted(b.subscribed && b.synced) }
