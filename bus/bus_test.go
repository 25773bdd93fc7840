package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
)

func TestFirstStartResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	st, err := e.src.State(bg(), bus.State{})
	if err != nil {
		t.Fatal(err)
	}
	if rs := e.h.resets(); len(rs) != 1 || rs[0] != st {
		t.Fatalf("resets = %+v, want one Reset(%+v)", rs, st)
	}
	if s := e.bus.Stats(); !s.Trusted || s.Epoch != st.Epoch || s.Seq != 0 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestAppliesInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var sent []bus.Message
	for i := 0; i < 20; i++ {
		sent = append(sent, e.src.emit(t, both(deps.Id("article", i), deps.Tag("home")))...)
	}
	epoch := sent[0].Epoch
	e.waitApplied(t, epoch, seqs(1, 20)...)
	e.h.mu.Lock()
	for i, ev := range e.h.events[1:] {
		if ev.msg.Origin != "test" || len(ev.msg.Deps) != 2 || ev.msg.Deps[0] != sent[i].Deps[0] || ev.msg.Deps[1] != deps.Tag("home") {
			t.Errorf("applied %+v, sent %+v", ev.msg, sent[i])
		}
	}
	e.h.mu.Unlock()
	s := e.bus.Stats()
	if s.Received != 20 || s.Applied != 20 || s.Replayed != 0 || s.Gaps != 0 || s.Resets != 1 || s.Seq != 20 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestDuplicatesIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.src.emit(t, both())[0]
	e.waitApplied(t, m.Epoch, 1)
	payload := m.AppendEncode(nil)
	for i := 0; i < 2; i++ {
		if err := e.rdb.Publish(bg(), channel, payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.src.emit(t, both())
	// The channel keeps order: once seq 2 is applied both copies were seen.
	e.waitApplied(t, m.Epoch, 1, 2)
	if s := e.bus.Stats(); s.Duplicates != 2 || s.Applied != 2 || s.Received != 4 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestGapReplayedFromLog(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.src.emit(t, both())[0]
	e.waitApplied(t, m.Epoch, 1)
	// Seq 2 is in the log but never reaches the channel; seq 3 does.
	e.src.emit(t, logOnly(deps.Tag("two")), both(), logOnly(), both())
	e.waitApplied(t, m.Epoch, 1, 2, 3, 4, 5)
	e.h.mu.Lock()
	if got := e.h.events[2].msg.Deps; len(got) != 1 || got[0] != deps.Tag("two") {
		t.Errorf("seq 2 replayed with deps %v", got)
	}
	e.h.mu.Unlock()
	if s := e.bus.Stats(); s.Gaps != 2 || s.Replayed != 2 || s.Resets != 1 || !s.Trusted {
		t.Fatalf("stats = %+v", s)
	}
}

// A message that carries its dependencies in the log is applied with the
// logged ones, in order, without counting a gap or a replay; one whose
// log entry is gone makes the bus reset, as a gap the log does not cover.
func TestMessageWithDependenciesInLog(t *testing.T) {
	t.Parallel()
	for _, signed := range []bool{false, true} {
		t.Run(fmt.Sprint("signed ", signed), func(t *testing.T) {
			var opts []envOption
			if signed {
				key, err := bus.NewKey([]byte("k"))
				if err != nil {
					t.Fatal(err)
				}
				opts = append(opts, withConfig(func(c *bus.Config) { c.Key = key }))
			}
			e := newEnv(t, opts...)
			m := e.src.emit(t, both(), ref(deps.Tag("big"), deps.Id("row", 1)), both())
			e.waitApplied(t, m[0].Epoch, 1, 2, 3)
			e.h.mu.Lock()
			got := e.h.events[2].msg
			e.h.mu.Unlock()
			if got.InLog || len(got.Deps) != 2 || got.Deps[0] != deps.Tag("big") || got.Deps[1] != deps.Id("row", 1) {
				t.Errorf("seq 2 applied as %+v", got)
			}
			if s := e.bus.Stats(); s.Fetched != 1 || s.Gaps != 0 || s.Replayed != 0 || s.Resets != 1 || s.Malformed != 0 || s.Forged != 0 || !s.Trusted {
				t.Fatalf("stats = %+v", s)
			}

			// The log no longer holds seq 4: the bus resets to the state.
			e.src.emit(t, step{pub: true, ref: true})
			waitFor(t, 5*time.Second, "a reset", func() bool { return len(e.h.resets()) == 2 })
			if rs := e.h.resets(); rs[1].Seq != 4 {
				t.Fatalf("reset to %+v, want seq 4", rs[1])
			}
			e.src.emit(t, both())
			e.waitApplied(t, m[0].Epoch, 1, 2, 3, 5)
			if s := e.bus.Stats(); s.Fetched != 1 || s.Resets != 2 || !s.Trusted {
				t.Fatalf("stats = %+v", s)
			}
		})
	}
}

func TestGapBeyondLogResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.src.emit(t, both())[0]
	e.waitApplied(t, m.Epoch, 1)
	// Seq 2 is neither published nor logged (trimmed away): the bus cannot
	// catch up and must reset to the state, which already covers seq 3.
	e.src.emit(t, step{}, both())
	waitFor(t, 5*time.Second, "second reset", func() bool { return len(e.h.resets()) == 2 })
	if rs := e.h.resets(); rs[1] != (bus.State{Seq: 3, Epoch: m.Epoch}) {
		t.Fatalf("reset to %+v, want seq 3", rs[1])
	}
	e.src.emit(t, both())
	e.waitApplied(t, m.Epoch, 1, 4)
	if s := e.bus.Stats(); s.Gaps != 1 || s.Resets != 2 || s.Replayed != 0 || s.Seq != 4 || !s.Trusted {
		t.Fatalf("stats = %+v", s)
	}
}

func TestEpochChangeResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, old, 1)
	// Redis loses everything (as a restart without persistence would); the
	// next invalidation starts a new epoch at seq 1.
	if err := e.rdb.FlushAll(bg()).Err(); err != nil {
		t.Fatal(err)
	}
	m := e.src.emit(t, both())[0]
	if m.Epoch == old || m.Seq != 1 {
		t.Fatalf("new message %+v", m)
	}
	waitFor(t, 5*time.Second, "reset to the new epoch", func() bool {
		rs := e.h.resets()
		return rs[len(rs)-1].Epoch == m.Epoch
	})
	e.src.emit(t, both())
	e.waitApplied(t, m.Epoch, 2)
	if s := e.bus.Stats(); s.Resets != 2 || s.Epoch != m.Epoch || s.Seq != 2 || !s.Trusted {
		t.Fatalf("stats = %+v", s)
	}
}

func TestSequenceBackwardsResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	epoch := e.src.emit(t, both(), both(), both())[0].Epoch
	e.waitApplied(t, epoch, 1, 2, 3)
	// A failover to a replica that missed writes: same epoch, lower seq.
	if err := e.rdb.Set(bg(), ns+":seq", 1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "reset to seq 1", func() bool {
		rs := e.h.resets()
		return len(rs) == 2 && rs[1] == bus.State{Seq: 1, Epoch: epoch}
	})
	// The subscription may be on a server that no longer holds the
	// history (a demoted master): it is replaced, and trusted again once
	// the new one is confirmed.
	waitFor(t, 5*time.Second, "a new subscription, trusted", func() bool {
		s := e.bus.Stats()
		return s.Reconnects >= 1 && s.Trusted
	})
}

func TestMessageOfOldEpochIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	stale := bus.Message{Epoch: "old", Seq: 2, Origin: "x", Deps: []deps.Dep{deps.Tag("x")}}
	if err := e.rdb.Publish(bg(), channel, stale.AppendEncode(nil)).Err(); err != nil {
		t.Fatal(err)
	}
	e.src.emit(t, both())
	e.waitApplied(t, epoch, 1, 2)
	if s := e.bus.Stats(); s.StaleEpoch != 1 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestMalformedDropped(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	e := newEnv(t, withConfig(func(c *bus.Config) {
		c.MaxMessageSize = 200
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}))
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	big := bus.Message{Epoch: epoch, Seq: 2, Origin: "test", Deps: []deps.Dep{deps.Tag(strings.Repeat("x", 300))}}
	bad := [][]byte{
		[]byte("garbage"),
		[]byte("M1\n" + epoch + "\n2\ntest\n"), // no dependency
		[]byte("M1\n" + epoch + "\n02\ntest\ntag:x"),
		[]byte("M1\n" + epoch + "\n2\ntest\nnot-a-dep"),
		big.AppendEncode(nil),
		{},
	}
	for _, p := range bad {
		if err := e.rdb.Publish(bg(), channel, p).Err(); err != nil {
			t.Fatal(err)
		}
	}
	e.src.emit(t, both())
	e.waitApplied(t, epoch, 1, 2)
	if s := e.bus.Stats(); s.Malformed != uint64(len(bad)) || s.Applied != 2 || s.Resets != 1 || !s.Trusted {
		t.Fatalf("stats = %+v", s)
	}
	if n := strings.Count(logs.String(), "dropped malformed message"); n != len(bad) {
		t.Fatalf("%d debug records of dropped messages, want %d:\n%s", n, len(bad), logs.String())
	}
}

func TestDelayedChannelStaysExact(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withProxy())
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	// Messages now reach the bus more than two heartbeats late (but pongs
	// well within the trust window): the heartbeats replay them from the
	// log first, and the late copies are duplicates.
	e.proxy.Delay(3 * testBeat)
	for i := 0; i < 5; i++ {
		e.src.emit(t, both())
	}
	e.waitApplied(t, epoch, seqs(1, 6)...)
	waitFor(t, 5*time.Second, "the late copies", func() bool {
		s := e.bus.Stats()
		return s.Duplicates+s.Applied-s.Replayed == 6
	})
	s := e.bus.Stats()
	t.Logf("with the channel %v late: %+v", 3*testBeat, s)
	if s.Silences != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestLostMessageReplayedWithinTwoHeartbeats(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	m := e.src.emit(t, both())[0]
	e.waitApplied(t, m.Epoch, 1)
	// Published to the log but never to the channel, and nothing follows:
	// only the heartbeats' state checks can find it.
	start := time.Now()
	e.src.emit(t, logOnly())
	e.waitApplied(t, m.Epoch, 1, 2)
	took := time.Since(start)
	t.Logf("lost message replayed after %v (heartbeat %v)", took, testBeat)
	if took > 2*testBeat+150*time.Millisecond {
		t.Errorf("replay took %v, want about two heartbeats", took)
	}
	s := e.bus.Stats()
	if s.Lost != 1 || s.Replayed != 1 || s.Gaps != 0 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
	e.waitTrusted(t, time.Second)
}

func TestConnectionKilledCatchesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	if err := e.rdb.ClientKillByFilter(bg(), "TYPE", "pubsub").Err(); err != nil {
		t.Fatal(err)
	}
	e.src.emit(t, both(), both(), both())
	waitFor(t, 5*time.Second, "a reconnection", func() bool { return e.bus.Stats().Reconnects >= 1 })
	e.waitTrusted(t, 5*time.Second)
	e.waitApplied(t, epoch, 1, 2, 3, 4)
	if s := e.bus.Stats(); s.Untrusted < 1 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestCutConnectionReplaysWhatWasMissed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withProxy())
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	e.proxy.Refuse(true)
	e.proxy.CutAll()
	waitFor(t, time.Second, "untrusted after the cut", func() bool { return !e.bus.Trusted() })
	// Published while the bus has no subscription: only the log has them.
	e.src.emit(t, both(), both(), both())
	e.proxy.Refuse(false)
	e.waitTrusted(t, 5*time.Second)
	e.waitApplied(t, epoch, 1, 2, 3, 4)
	if s := e.bus.Stats(); s.Replayed != 3 || s.Reconnects < 1 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
	e.src.emit(t, both())
	e.waitApplied(t, epoch, 1, 2, 3, 4, 5)
}

func TestBlackHoleDetected(t *testing.T) {
	t.Parallel()
	e := newEnv(t, withProxy())
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)

	start := time.Now()
	e.proxy.Freeze()
	limit := testWindow + testBeat + 200*time.Millisecond
	waitFor(t, limit, "untrusted after a black hole", func() bool { return !e.bus.Trusted() })
	took := time.Since(start)
	t.Logf("black hole to untrusted: %v (trust window %v, heartbeat %v)", took, testWindow, testBeat)
	if took < testWindow-testBeat-20*time.Millisecond {
		t.Errorf("untrusted after only %v: before the trust window could have passed", took)
	}

	// Missed while frozen: the channel's copies are held by the proxy on
	// a connection the bus abandons.
	e.src.emit(t, both(), both())
	// Stay frozen across a forced reconnection (whose dial is black-holed too).
	waitFor(t, 5*time.Second, "a forced reconnection", func() bool { return e.bus.Stats().Silences >= 1 })
	if e.bus.Trusted() {
		t.Fatal("trusted while frozen")
	}
	start = time.Now()
	e.proxy.Thaw()
	e.waitTrusted(t, 5*time.Second)
	t.Logf("thaw to trusted: %v", time.Since(start))
	e.waitApplied(t, epoch, 1, 2, 3)
	if s := e.bus.Stats(); s.Reconnects < 1 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
	e.src.emit(t, both())
	e.waitApplied(t, epoch, 1, 2, 3, 4)
}

func TestSourceErrorsRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	e.src.fail.Store(true)
	waitFor(t, time.Second, "untrusted while the source fails", func() bool { return !e.bus.Trusted() })
	// A gap while the source fails cannot be replayed yet...
	e.src.emit(t, logOnly(), both())
	waitFor(t, time.Second, "the gap seen", func() bool { return e.bus.Stats().Gaps == 1 })
	e.src.fail.Store(false)
	// ...and is on the next heartbeat.
	e.waitTrusted(t, 2*time.Second)
	e.waitApplied(t, epoch, 1, 2, 3)
	if s := e.bus.Stats(); s.SourceErrs == 0 || s.Resets != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestStartsWhileSourceFails(t *testing.T) {
	t.Parallel()
	srv := newServerOnly(t)
	src := &source{rdb: srv.Client(t)}
	src.fail.Store(true)
	h := &recorder{}
	b, err := bus.Start(bus.Config{Redis: srv.Client(t), Channel: channel, Source: src, Handler: h,
		TrustWindow: testWindow, Heartbeat: testBeat})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(bg(), 3*testBeat)
	defer cancel()
	if err := b.WaitTrusted(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTrusted with a failing source: %v", err)
	}
	src.fail.Store(false)
	ctx2, cancel2 := context.WithTimeout(bg(), 2*time.Second)
	defer cancel2()
	if err := b.WaitTrusted(ctx2); err != nil {
		t.Fatal(err)
	}
	if len(h.resets()) != 1 {
		t.Fatalf("resets = %v", h.resets())
	}
}

func TestRedisRestartedResets(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, old, 1)
	e.srv.Kill()
	waitFor(t, time.Second, "untrusted while Redis is down", func() bool { return !e.bus.Trusted() })
	e.srv.Restart(t)
	e.waitTrusted(t, 5*time.Second)
	s := e.bus.Stats()
	if s.Epoch == old || s.Seq != 0 || s.Resets != 2 || s.Reconnects < 1 {
		t.Fatalf("stats = %+v", s)
	}
	m := e.src.emit(t, both())[0]
	e.waitApplied(t, m.Epoch, 1)
}

func TestUnreachableRedis(t *testing.T) {
	t.Parallel()
	srv := newServerOnly(t)
	addr := srv.Addr()
	srv.Kill() // nothing listens there any more
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	defer rdb.Close()
	b, err := bus.Start(bus.Config{Redis: rdb, Channel: channel, Source: &source{rdb: rdb}, Handler: &recorder{},
		TrustWindow: testWindow, Heartbeat: testBeat})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(bg(), 2*testWindow)
	defer cancel()
	if err := b.WaitTrusted(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitTrusted: %v", err)
	}
	if b.Trusted() {
		t.Fatal("trusted without Redis")
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if err := e.bus.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.bus.Close(); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
	if e.bus.Trusted() {
		t.Fatal("trusted after Close")
	}
	if err := e.bus.WaitTrusted(bg()); !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("WaitTrusted after Close: %v", err)
	}
	// Nothing reaches the handler after Close.
	n := len(e.h.resets())
	e.src.emit(t, both())
	if s := e.bus.Stats(); s.Received != 0 || len(e.h.resets()) != n {
		t.Fatalf("stats after Close = %+v", s)
	}
	// The subscription is gone from the server.
	waitFor(t, time.Second, "no subscriber left", func() bool {
		subs, err := e.rdb.PubSubNumSub(bg(), channel).Result()
		return err == nil && subs[channel] == 0
	})
}

func TestWaitTrustedUnblockedByClose(t *testing.T) {
	t.Parallel()
	srv := newServerOnly(t)
	src := &source{rdb: srv.Client(t)}
	src.fail.Store(true)
	b, err := bus.Start(bus.Config{Redis: srv.Client(t), Channel: channel, Source: src, Handler: &recorder{},
		TrustWindow: testWindow, Heartbeat: testBeat})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- b.WaitTrusted(bg()) }()
	_ = b.Close()
	if err := <-errc; !errors.Is(err, bus.ErrClosed) {
		t.Fatalf("WaitTrusted: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	ok := bus.Config{Redis: rdb, Channel: "c", Source: &source{}, Handler: &recorder{}}
	for _, tc := range []struct {
		name string
		edit func(*bus.Config)
	}{
		{"no redis", func(c *bus.Config) { c.Redis = nil }},
		{"no channel", func(c *bus.Config) { c.Channel = "" }},
		{"no source", func(c *bus.Config) { c.Source = nil }},
		{"no handler", func(c *bus.Config) { c.Handler = nil }},
		{"negative window", func(c *bus.Config) { c.TrustWindow = -1 }},
		{"negative heartbeat", func(c *bus.Config) { c.Heartbeat = -1 }},
		{"heartbeat not shorter", func(c *bus.Config) { c.TrustWindow, c.Heartbeat = time.Second, time.Second }},
		{"heartbeat over default window", func(c *bus.Config) { c.Heartbeat = 3 * time.Second }},
		{"negative size", func(c *bus.Config) { c.MaxMessageSize = -1 }},
	} {
		cfg := ok
		tc.edit(&cfg)
		if b, err := bus.Start(cfg); err == nil || !strings.HasPrefix(err.Error(), "bus: ") {
			if b != nil {
				_ = b.Close()
			}
			t.Errorf("%s: Start error %v", tc.name, err)
		}
	}
}

// TestErrorReplyOnSubscriptionResubscribes: Redis answers the bus's ping
// with an error (as it does with LOADING while it reloads its data after a
// restart; here ACL forbids PING) on a connection that stays up and keeps
// the subscription. Nothing will confirm that subscription again, so the
// bus must replace it, and trust L1 again once Redis answers pings.
func TestErrorReplyOnSubscriptionResubscribes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	epoch := e.src.emit(t, both())[0].Epoch
	e.waitApplied(t, epoch, 1)
	acl := func(rule string) {
		t.Helper()
		if err := e.rdb.Do(bg(), "ACL", "SETUSER", "default", rule).Err(); err != nil {
			t.Fatal(err)
		}
	}
	acl("-ping")
	t.Cleanup(func() { _ = e.rdb.Do(bg(), "ACL", "SETUSER", "default", "+ping").Err() })
	waitFor(t, time.Second, "untrusted after an error reply", func() bool { return !e.bus.Trusted() })
	acl("+ping")
	e.waitTrusted(t, 2*time.Second)
	e.src.emit(t, both())
	e.waitApplied(t, epoch, 1, 2)
}
