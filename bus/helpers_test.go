package bus_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/faultproxy"
	"github.com/matroska-go/matroska/internal/poll"
	"github.com/matroska-go/matroska/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	ns      = "t"
	channel = ns + ":inv"
	// Short timings so that the fault tests run in well under a second each.
	testWindow = 300 * time.Millisecond
	testBeat   = 50 * time.Millisecond
)

func bg() context.Context { return context.Background() }

// source is the test double of the L2 store: the same keys as package remote
// (N:seq, N:epoch, the N:log stream), kept by the test itself on a real
// Redis. Its fail switch makes every call fail, as an unreachable Redis
// would.
type source struct {
	rdb  *redis.Client
	fail atomic.Bool
	key  *bus.Key // signs the published messages when set
}

var errSourceDown = errors.New("test source: down")

func (s *source) State(ctx context.Context, _ bus.State) (bus.State, error) {
	if s.fail.Load() {
		return bus.State{}, errSourceDown
	}
	return s.state(ctx)
}

func (s *source) state(ctx context.Context) (bus.State, error) {
	for {
		vals, err := s.rdb.MGet(ctx, ns+":seq", ns+":epoch").Result()
		if err != nil {
			return bus.State{}, err
		}
		var st bus.State
		if v, ok := vals[0].(string); ok {
			if st.Seq, err = strconv.ParseUint(v, 10, 64); err != nil {
				return bus.State{}, err
			}
		}
		if v, ok := vals[1].(string); ok {
			st.Epoch = v
			return st, nil
		}
		// No epoch yet (first use, or Redis restarted empty): create one.
		var b [8]byte
		_, _ = rand.Read(b[:])
		if err := s.rdb.SetNX(ctx, ns+":epoch", hex.EncodeToString(b[:]), 0).Err(); err != nil {
			return bus.State{}, err
		}
	}
}

func (s *source) Log(ctx context.Context, after, upto uint64) ([]bus.Message, bool, error) {
	if s.fail.Load() {
		return nil, false, errSourceDown
	}
	xs, err := s.rdb.XRange(ctx, ns+":log", fmt.Sprintf("%d-1", after+1), fmt.Sprintf("%d-1", upto)).Result()
	if err != nil {
		return nil, false, err
	}
	msgs := make([]bus.Message, 0, len(xs))
	for _, x := range xs {
		seqStr, _, _ := strings.Cut(x.ID, "-")
		seq, err := strconv.ParseUint(seqStr, 10, 64)
		if err != nil {
			return nil, false, err
		}
		m := bus.Message{Seq: seq, Epoch: x.Values["e"].(string), Origin: x.Values["o"].(string)}
		for _, line := range strings.Split(x.Values["d"].(string), "\n") {
			d, err := deps.Parse(line)
			if err != nil {
				return nil, false, err
			}
			m.Deps = append(m.Deps, d)
		}
		msgs = append(msgs, m)
	}
	complete := uint64(len(msgs)) == upto-after
	for i, m := range msgs {
		complete = complete && m.Seq == after+1+uint64(i)
	}
	return msgs, complete, nil
}

// step is one invalidation the test makes: INCR the sequence always, XADD it
// to the log and PUBLISH it on the channel when asked (leaving one out makes
// a lost message or a trimmed log).
type step struct {
	log, pub bool
	ref      bool // publish the message with its dependencies in the log (Message.InLog)
	deps     []deps.Dep
}

func both(ds ...deps.Dep) step    { return step{log: true, pub: true, deps: ds} }
func logOnly(ds ...deps.Dep) step { return step{log: true, deps: ds} }
func ref(ds ...deps.Dep) step     { return step{log: true, pub: true, ref: true, deps: ds} }

// emit makes the steps in one MULTI transaction, as the scripts of package
// remote would (atomically, in sequence order), and returns their messages.
// The test is the only writer, so the sequence read first is the one the
// INCRs continue.
func (s *source) emit(t testing.TB, steps ...step) []bus.Message {
	t.Helper()
	st, err := s.state(bg())
	if err != nil {
		t.Fatalf("emit: state: %v", err)
	}
	pipe := s.rdb.TxPipeline()
	msgs := make([]bus.Message, len(steps))
	for i, sp := range steps {
		if len(sp.deps) == 0 {
			sp.deps = []deps.Dep{deps.Id("article", st.Seq+uint64(i)+1)}
		}
		m := bus.Message{Epoch: st.Epoch, Seq: st.Seq + uint64(i) + 1, Origin: "test", Deps: sp.deps}
		msgs[i] = m
		pipe.Incr(bg(), ns+":seq")
		if sp.log {
			ds := make([]string, len(m.Deps))
			for j, d := range m.Deps {
				ds[j] = d.String()
			}
			pipe.XAdd(bg(), &redis.XAddArgs{
				Stream: ns + ":log",
				ID:     fmt.Sprintf("%d-1", m.Seq),
				Values: []any{"e", m.Epoch, "o", m.Origin, "d", strings.Join(ds, "\n")},
			})
		}
		if sp.pub {
			pm := m
			if sp.ref {
				pm.Deps, pm.InLog = nil, true
			}
			payload := pm.AppendEncode(nil)
			if s.key != nil {
				payload = s.key.Sign(payload)
			}
			pipe.Publish(bg(), channel, payload)
		}
	}
	if _, err := pipe.Exec(bg()); err != nil {
		t.Fatalf("emit: %v", err)
	}
	return msgs
}

// event is one call the bus made to the handler.
type event struct {
	reset bool
	state bus.State   // of a Reset
	msg   bus.Message // of an Apply
}

// recorder is the test Handler. It records every call and checks the
// Handler contract as it goes: never two calls at once, Apply only after a
// Reset, in the current epoch, for exactly the next sequence number.
type recorder struct {
	mu      sync.Mutex
	busy    atomic.Bool
	events  []event
	started bool
	epoch   string
	last    uint64
	errs    []string
}

func (r *recorder) Apply(m bus.Message) {
	if !r.busy.CompareAndSwap(false, true) {
		r.fail("concurrent Handler call")
	}
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started || m.Epoch != r.epoch || m.Seq != r.last+1 {
		r.errs = append(r.errs, fmt.Sprintf("Apply(seq %d, epoch %q) after seq %d of epoch %q (started %v)",
			m.Seq, m.Epoch, r.last, r.epoch, r.started))
	}
	r.last = m.Seq
	r.events = append(r.events, event{msg: m})
}

func (r *recorder) Reset(s bus.State) {
	if !r.busy.CompareAndSwap(false, true) {
		r.fail("concurrent Handler call")
	}
	defer r.busy.Store(false)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.started, r.epoch, r.last = true, s.Epoch, s.Seq
	r.events = append(r.events, event{reset: true, state: s})
}

func (r *recorder) Hold(m bus.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, event{msg: m})
}

func (r *recorder) fail(msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
}

// applied returns the sequence numbers applied in epoch, in call order.
func (r *recorder) applied(epoch string) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var seqs []uint64
	for _, e := range r.events {
		if !e.reset && e.msg.Epoch == epoch {
			seqs = append(seqs, e.msg.Seq)
		}
	}
	return seqs
}

func (r *recorder) resets() []bus.State {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ss []bus.State
	for _, e := range r.events {
		if e.reset {
			ss = append(ss, e.state)
		}
	}
	return ss
}

// env is one bus on a private redis-server, optionally behind a fault proxy.
type env struct {
	srv   *redistest.Server
	rdb   *redis.Client // direct: the source and the test's own commands
	src   *source
	h     *recorder
	proxy *faultproxy.Proxy // nil unless withProxy
	bus   *bus.Bus
}

type envOption func(*envConfig)

type envConfig struct {
	proxy bool
	edit  func(*bus.Config)
}

// withProxy puts the bus's subscription (not the source) behind a fault proxy.
func withProxy() envOption { return func(c *envConfig) { c.proxy = true } }

func withConfig(edit func(*bus.Config)) envOption {
	return func(c *envConfig) { c.edit = edit }
}

// newEnv starts a server and a bus, waits until the bus is trusted, and
// checks the handler's record when the test ends.
func newEnv(t *testing.T, opts ...envOption) *env {
	t.Helper()
	var ec envConfig
	for _, o := range opts {
		o(&ec)
	}
	e := &env{srv: redistest.Start(t), h: &recorder{}}
	e.rdb = e.srv.Client(t)
	e.src = &source{rdb: e.rdb}
	busOpts := e.srv.Options()
	if ec.proxy {
		p, err := faultproxy.New(e.srv.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		e.proxy = p
		busOpts.Addr = p.Addr()
	}
	busRdb := redis.NewClient(busOpts)
	t.Cleanup(func() { _ = busRdb.Close() })
	cfg := bus.Config{
		Redis:       busRdb,
		Channel:     channel,
		Source:      e.src,
		Handler:     e.h,
		TrustWindow: testWindow,
		Heartbeat:   testBeat,
	}
	if ec.edit != nil {
		ec.edit(&cfg)
	}
	e.src.key = cfg.Key
	b, err := bus.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.bus = b
	t.Cleanup(func() {
		if err := b.Close(); err != nil && !errors.Is(err, bus.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
		e.h.mu.Lock()
		defer e.h.mu.Unlock()
		for _, msg := range e.h.errs {
			t.Errorf("handler contract broken: %s", msg)
		}
	})
	e.waitTrusted(t, 5*time.Second)
	return e
}

func (e *env) waitTrusted(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(bg(), d)
	defer cancel()
	if err := e.bus.WaitTrusted(ctx); err != nil {
		t.Fatalf("WaitTrusted: %v (stats %+v)", err, e.bus.Stats())
	}
}

// waitApplied waits until the handler has applied exactly want in epoch.
func (e *env) waitApplied(t *testing.T, epoch string, want ...uint64) {
	t.Helper()
	waitFor(t, 5*time.Second, fmt.Sprintf("applied %v", want), func() bool {
		return equal(e.h.applied(epoch), want)
	})
}

// waitFor polls cond until it holds or d has passed.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func seqs(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

// newServerOnly starts a server for tests that build their bus themselves.
func newServerOnly(t *testing.T) *redistest.Server { return redistest.Start(t) }

// syncBuffer is a bytes.Buffer safe for a logger writing from the bus's
// goroutine while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
