package bus

import (
	"context"
	"errors"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// run is the receive goroutine: it owns the subscription and every call to
// the Handler and the Source. It drives the receive itself with
// ReceiveTimeout (rather than PubSub.Channel, whose health check is far
// slower than a trust window) so that one loop interleaves messages,
// heartbeats and the trust-window check.
func (b *Bus) run() {
	defer close(b.done)
	b.lastHeard = time.Now()
	ps := b.subscribe()
	if ps == nil {
		return
	}
	nextBeat := time.Now().Add(b.cfg.Heartbeat)
	for b.ctx.Err() == nil {
		now := time.Now()
		if !now.Before(nextBeat) {
			if b.heartbeat(ps) {
				// Redis's history is not the one this subscription was
				// following: it may be a connection to a server that has
				// lost its role (a demoted master that still publishes
				// until it is reconfigured). Subscribe afresh, which dials
				// whatever server the client resolves now, and catch up
				// there.
				b.connLost("another history", nil)
				if ps = b.subscribe(); ps == nil {
					return
				}
			}
			now = time.Now()
			nextBeat = now.Add(b.cfg.Heartbeat)
		}
		// Wake at the next heartbeat, or when the trust window runs out, so
		// that silence is noticed at once and not a heartbeat late.
		deadline := b.lastHeard.Add(b.cfg.TrustWindow)
		if nextBeat.Before(deadline) {
			deadline = nextBeat
		}
		msg, err := b.receive(ps, max(deadline.Sub(now), time.Millisecond))
		if b.ctx.Err() != nil {
			return
		}
		switch {
		case err == nil:
			b.errStreak = 0
			b.lastHeard = time.Now()
			if b.handle(msg) {
				// The server ended the subscription (a shard channel whose
				// slot moved to another master): subscribe afresh, which
				// finds the slot's new owner, and catch up there.
				b.connLost("unsubscribed", nil)
				if ps = b.subscribe(); ps == nil {
					return
				}
			}
		case isTimeout(err):
			// Nothing to read (or a dial that did not finish in time). Only
			// the clock can tell a half-open connection from a quiet one.
			b.errStreak = 0
			if time.Since(b.lastHeard) >= b.cfg.TrustWindow {
				if ps = b.silence(); ps == nil {
					return
				}
			}
		case isReply(err):
			// Redis answered with an error (LOADING while it reloads its
			// data after a restart, say, or CLUSTERDOWN) on a connection
			// that go-redis keeps: no confirmation will come on it, and the
			// pongs that follow would keep the silence check quiet. Replace
			// the subscription, whose confirmation makes the bus catch up.
			b.connLost("receive", err)
			b.backoff()
			if ps = b.subscribe(); ps == nil {
				return
			}
		default:
			// go-redis has already redialled and resubscribed if it could;
			// the confirmation will make the bus catch up.
			b.connLost("receive", err)
			b.backoff()
		}
	}
}

func (b *Bus) receive(ps *redis.PubSub, wait time.Duration) (any, error) {
	// The context bounds a redial inside ReceiveTimeout, not only the read.
	ctx, cancel := context.WithTimeout(b.ctx, wait)
	defer cancel()
	return ps.ReceiveTimeout(ctx, wait)
}

// subscribe replaces the subscription by a new one on a fresh connection. It
// returns nil if the bus is closed.
func (b *Bus) subscribe() *redis.PubSub {
	// No channel yet: no I/O. A sharded subscription (Redis Cluster) is
	// made on the master of the channel's slot when SSubscribe dials.
	ps := b.cfg.Redis.Subscribe(b.ctx)
	if b.cfg.Sharded {
		ps = b.cfg.Redis.SSubscribe(b.ctx)
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		_ = ps.Close()
		return nil
	}
	old := b.ps
	b.ps = ps
	b.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
	ctx, cancel := b.opContext()
	// An error (Redis down, a dial that timed out) is retried by the next
	// receive, which dials again and resubscribes.
	if b.cfg.Sharded {
		_ = ps.SSubscribe(ctx, b.cfg.Channel)
	} else {
		_ = ps.Subscribe(ctx, b.cfg.Channel)
	}
	cancel()
	return ps
}

// opContext bounds one call to Redis or the Source.
func (b *Bus) opContext() (context.Context, context.CancelFunc) {
	return context.WithTimeout(b.ctx, b.cfg.Heartbeat)
}

// handle handles one thing received on the subscription. It reports
// whether the server ended the subscription to the channel.
func (b *Bus) handle(msg any) (ended bool) {
	switch m := msg.(type) {
	case *redis.Message:
		b.onMessage(m)
	case *redis.Subscription:
		if m.Channel != b.cfg.Channel {
			return false
		}
		switch m.Kind {
		case "subscribe", "ssubscribe":
			b.onSubscribed()
		case "unsubscribe", "sunsubscribe":
			return true
		}
	case *redis.Pong:
		// A sign of life. The pong of our own ping also comes after every
		// message published before the ping was sent, all of which have
		// been applied by now (one connection, in order): trust lasts a
		// window from the ping.
		if sent, err := strconv.ParseInt(m.Payload, 10, 64); err == nil && b.synced {
			b.renew(time.Duration(sent))
		}
	}
	return false
}

func (b *Bus) onMessage(rm *redis.Message) {
	b.n.received.Add(1)
	if rm.Channel != b.cfg.Channel {
		b.drop(rm, "wrong channel", nil)
		return
	}
	if len(rm.Payload) > b.cfg.MaxMessageSize {
		b.drop(rm, "oversized", nil)
		return
	}
	payload, err := b.cfg.Key.verify(rm.Payload)
	if err != nil {
		b.n.forged.Add(1)
		b.cfg.Logger.Warn("bus: dropped a message not signed with the shared key",
			"channel", rm.Channel, "size", len(rm.Payload), "err", err)
		return
	}
	m, err := decode(payload)
	if err != nil {
		b.drop(rm, "undecodable", err)
		return
	}
	if m.Hold {
		b.n.holds.Add(1)
		if b.started && m.Epoch == b.epoch {
			b.cfg.Handler.Hold(m)
		}
		return
	}
	b.deliver(m)
}

func (b *Bus) drop(rm *redis.Message, why string, err error) {
	b.n.malformed.Add(1)
	b.cfg.Logger.Debug("bus: dropped malformed message",
		"channel", rm.Channel, "size", len(rm.Payload), "reason", why, "err", err)
}

// deliver applies a message received on the subscription, after whatever it
// takes to keep the order: an epoch check, a replay of a gap.
//
// Why a successful catch-up here makes the bus synced again: m came over the
// current subscription, so it was published after the subscription took
// effect, and so was every later sequence number (the scripts INCR and
// PUBLISH atomically, in sequence order); once everything up to m is
// applied, the channel delivers the rest.
func (b *Bus) deliver(m Message) {
	if !b.started || m.Epoch != b.epoch {
		st, ok := b.state()
		if !ok {
			return // untrusted; the next heartbeat catches up, the log holds m
		}
		if !b.started || st.Epoch != b.epoch || st.Seq < b.last {
			b.reset(st, "epoch changed")
			b.resynced()
		}
		if m.Epoch != b.epoch {
			b.n.staleEpoch.Add(1)
			b.cfg.Logger.Debug("bus: ignored message of another epoch",
				"epoch", m.Epoch, "seq", m.Seq, "current", b.epoch)
			return
		}
	}
	if m.Seq <= b.last {
		b.n.duplicates.Add(1)
		return
	}
	if m.Seq > b.last+1 {
		b.n.gaps.Add(1)
		b.distrust()
		if !b.catchUp(m.Seq - 1) {
			return
		}
		switch {
		case m.Epoch != b.epoch || m.Seq <= b.last:
			b.n.duplicates.Add(1) // covered by the reset
		case m.Seq == b.last+1:
			if !b.applyReceived(m) {
				return
			}
		default:
			return // a state older than m: stay unsynced, the next heartbeat retries
		}
		b.resynced()
		return
	}
	b.applyReceived(m)
}

// applyReceived applies m, the next message, received on the channel. A
// message that carries its dependencies in the log (Message.InLog) is read
// from there first: the publishing script appended it to the log in the
// same atomic step as it published it, so a log read made after the message
// arrived holds it unless the log was trimmed past it or lost since; then
// the bus resets, as for a gap the log does not cover. It returns false if
// the Source failed (the bus is then unsynced, and the next heartbeat
// catches up from the log).
func (b *Bus) applyReceived(m Message) bool {
	if !m.InLog {
		b.apply(m)
		return true
	}
	ctx, cancel := b.opContext()
	msgs, complete, err := b.cfg.Source.Log(ctx, m.Seq-1, m.Seq)
	cancel()
	if err != nil {
		b.sourceFailed("log", err)
		return false
	}
	if !complete || len(msgs) != 1 || msgs[0].Seq != m.Seq || msgs[0].Epoch != m.Epoch || msgs[0].InLog {
		st, ok := b.state()
		if !ok {
			return false
		}
		b.reset(st, "the log does not hold the dependencies of a message")
		return true
	}
	b.apply(msgs[0])
	b.n.fetched.Add(1)
	return true
}

// onSubscribed runs on every subscription confirmation, the first and each
// one after a reconnection. The state is read only now, after Redis has
// confirmed the subscription: every invalidation after the state is then
// delivered on the channel, and every one up to it is in the state's log.
func (b *Bus) onSubscribed() {
	b.confirms++
	if b.confirms > 1 {
		b.n.reconnects.Add(1)
	}
	b.subscribed = true
	b.synced = false
	b.pending = 0
	b.updateTrust()
	if st, ok := b.state(); ok {
		b.sync(st)
	}
}

// sync brings the bus up to st, read after the subscription was confirmed,
// and trusts it on success.
func (b *Bus) sync(st State) {
	switch {
	case !b.started:
		b.reset(st, "first start")
	case st.Epoch != b.epoch:
		b.reset(st, "epoch changed")
	case st.Seq < b.last:
		b.reset(st, "sequence went backwards")
	case st.Seq > b.last:
		if !b.catchUp(st.Seq) {
			return
		}
	}
	b.resynced()
}

// heartbeat pings the subscription (its pong is a sign of life) and compares
// the state with what was applied. A sequence number that the state showed
// at the previous heartbeat and that has still not arrived was lost while
// the connection looked fine: it is replayed from the log. It reports
// whether the state belongs to another history than the subscription
// followed (another epoch, or a sequence that went back): L1 is reset, and
// the caller replaces the subscription.
func (b *Bus) heartbeat(ps *redis.PubSub) (moved bool) {
	b.n.heartbeats.Add(1)
	ctx, cancel := b.opContext()
	err := ps.Ping(ctx, strconv.FormatInt(int64(time.Since(b.t0)), 10))
	cancel()
	if err != nil && b.ctx.Err() == nil && !isTimeout(err) {
		b.connLost("ping", err)
		return false
	}
	if !b.subscribed {
		return false // the confirmation will catch up
	}
	st, ok := b.state()
	if !ok {
		return false
	}
	switch {
	case !b.synced:
		b.sync(st) // an earlier Source call failed: retry
	case st.Epoch != b.epoch:
		b.reset(st, "epoch changed")
		return true
	case st.Seq < b.last:
		b.reset(st, "sequence went backwards")
		return true
	case b.pending > b.last:
		b.n.lost.Add(1)
		b.cfg.Logger.Info("bus: invalidations lost on a live subscription; replaying",
			"after", b.last, "upto", st.Seq)
		b.distrust()
		if b.catchUp(st.Seq) {
			b.resynced()
		}
	default:
		b.pending = 0
		if st.Seq > b.last {
			b.pending = st.Seq // may be in flight; lost if still missing next time
		}
	}
	return false
}

// silence handles a trust window without any sign of life: the connection
// may be half-open, which go-redis cannot notice, so it is replaced.
func (b *Bus) silence() *redis.PubSub {
	b.n.silences.Add(1)
	b.subscribed = false
	b.synced = false
	b.updateTrust()
	b.cfg.Logger.Info("bus: nothing heard within the trust window; reconnecting",
		"window", b.cfg.TrustWindow)
	b.lastHeard = time.Now() // the new connection gets a whole window
	return b.subscribe()
}

// catchUp applies (last, upto] from the log or, when the log does not hold
// all of it, resets to a fresh state. It returns false if the Source failed
// (the bus is then unsynced until a later heartbeat).
func (b *Bus) catchUp(upto uint64) bool {
	ctx, cancel := b.opContext()
	msgs, complete, err := b.cfg.Source.Log(ctx, b.last, upto)
	cancel()
	if err != nil {
		b.sourceFailed("log", err)
		return false
	}
	if complete && b.replay(msgs, upto) {
		return true
	}
	st, ok := b.state()
	if !ok {
		return false
	}
	b.reset(st, "the log does not cover the gap")
	return true
}

// replay applies the log's messages up to upto, and reports whether they
// were exactly the missing ones, in order, of the current epoch.
func (b *Bus) replay(msgs []Message, upto uint64) bool {
	for _, m := range msgs {
		if m.Seq > upto {
			break
		}
		if m.Seq <= b.last {
			continue
		}
		if m.Epoch != b.epoch || m.Seq != b.last+1 {
			return false
		}
		b.apply(m)
		b.n.replayed.Add(1)
	}
	return b.last == upto
}

func (b *Bus) apply(m Message) {
	b.cfg.Handler.Apply(m)
	b.last = m.Seq
	b.n.applied.Add(1)
	b.n.seq.Store(m.Seq)
}

func (b *Bus) reset(st State, why string) {
	b.cfg.Logger.Info("bus: reset", "reason", why,
		"from_epoch", b.epoch, "from_seq", b.last, "epoch", st.Epoch, "seq", st.Seq)
	b.cfg.Handler.Reset(st)
	if b.started && st.Epoch != b.epoch {
		b.n.epochs.Add(1)
	}
	b.started = true
	b.epoch = st.Epoch
	b.last = st.Seq
	b.pending = 0
	b.n.resets.Add(1)
	b.n.seq.Store(st.Seq)
	epoch := st.Epoch
	b.n.epoch.Store(&epoch)
}

// state reads the Source's state; on failure the bus is unsynced.
func (b *Bus) state() (State, bool) {
	ctx, cancel := b.opContext()
	b.stateAt = time.Since(b.t0)
	var seen State
	if b.started {
		seen = State{Epoch: b.epoch, Seq: b.last}
	}
	st, err := b.cfg.Source.State(ctx, seen)
	cancel()
	if err != nil {
		b.sourceFailed("state", err)
		return State{}, false
	}
	return st, true
}

func (b *Bus) sourceFailed(call string, err error) {
	b.distrust()
	if b.ctx.Err() != nil {
		return // closing
	}
	b.n.sourceErrs.Add(1)
	b.cfg.Logger.Debug("bus: source failed", "call", call, "err", err)
}

// distrust marks the bus as not caught up (until resynced).
func (b *Bus) distrust() {
	b.synced = false
	b.pending = 0
	b.updateTrust()
}

// resynced marks the bus as caught up with a state read, or a message
// received, after the current subscription was confirmed.
func (b *Bus) resynced() {
	if b.subscribed {
		b.synced = true
		// Caught up with a state read at stateAt, or with a message
		// published after one: everything before stateAt is applied.
		b.renew(b.stateAt)
	}
	b.updateTrust()
}

func (b *Bus) connLost(what string, err error) {
	b.errStreak++
	b.subscribed = false
	b.synced = false
	b.updateTrust()
	b.cfg.Logger.Debug("bus: subscription connection failed", "op", what, "err", err)
}

// backoff waits a little after a failed receive, so that a Redis that refuses
// connections does not spin the loop: 1ms doubling up to a heartbeat.
func (b *Bus) backoff() {
	d := min(time.Millisecond<<min(b.errStreak, 16), b.cfg.Heartbeat)
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-b.ctx.Done():
	}
}

func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// isReply reports whether err is an error reply of Redis (the connection
// works), not a failure of the connection.
func isReply(err error) bool {
	var re redis.Error
	return errors.As(err, &re)
}
