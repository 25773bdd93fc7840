package tiered

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/seam"
	"github.com/matroska-go/matroska/local"
	"github.com/matroska-go/matroska/remote"
)

// Cache is the composed cache of one node: an in-process L1 in front of a
// shared Redis L2, kept coherent across nodes by the invalidation bus.
//
// Values handed out from L1 are shared between callers: treat them as
// read-only. A Cache is safe for concurrent use. Close it when done.
type Cache struct {
	cfg    Config
	origin string
	codec  string // the name entries record for cfg.Codec (see NamedCodec)

	l1  *local.Cache
	l2  *remote.Store // nil in one-process mode
	bus *bus.Bus      // nil in one-process mode

	writeMu sync.Mutex             // orders one-process writes: see applyLocal
	epoch   atomic.Pointer[string] // the Redis epoch the bus last synced to
	key     *bus.Key               // signs the messages this node publishes itself (holds); nil: unsigned

	// held is the epoch under a hold: an invalidation Redis refused (see
	// hold), nil when none. While the epoch is current, neither tier is
	// served.
	held atomic.Pointer[string]

	feeds feedWatch // Config.Feeds: while one is behind, neither tier is served

	applyHook atomic.Pointer[func(seq uint64)] // tests only: see export_test.go
	seam      *seam.Hooks                      // the module's own tests only (package chaos)
	resetHook atomic.Pointer[func()]           // tests only: see export_test.go

	// own is this node's latest invalidation (Invalidate, Set): L1 is not
	// served until the bus has applied it. See wrote.
	own atomic.Pointer[Mark]

	flights   flights
	deadlines *deadlines // bound each Redis call to RedisTimeout
	ahead     ahead      // the lease, refresh-ahead, stale-if-error: see lease.go, refresh.go
	breaker   breaker
	n         counters
	closed    atomic.Bool

	warnedCodec atomic.Bool // a codec mismatch was logged (once per node)
	combine     combiner    // this node's concurrent invalidations, sent together: see combine.go
	echoes      echoes      // this node's invalidations awaiting their broadcast: see Observer.Propagated
}

// New returns a cache configured by cfg. With cfg.Redis set it checks that
// Redis answers (PING), subscribes to the bus and waits for it to sync, all
// within cfg.StartTimeout. If Redis does not answer or the bus does not sync
// in time, New returns an error wrapping ErrUnavailable and the cause (the
// dial error of a wrong address, say) and leaves nothing running; with
// cfg.StartDegraded it logs the cause and returns the cache, which answers
// from its loaders until Redis is back (G9). A client that does not honour
// context deadlines is refused (ErrConfig): see Config.Redis.
func New(cfg Config) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	l1, err := local.New(local.Config{MaxCost: cfg.L1MaxBytes, MaxTTL: cfg.L1MaxTTL, Clock: cfg.Clock})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c := &Cache{
		cfg:       cfg,
		origin:    cfg.NodeID,
		codec:     codecName(cfg.Codec),
		l1:        l1,
		deadlines: newDeadlines(cfg.RedisTimeout),
		combine:   combiner{on: cfg.CombineInvalidations},
		breaker: breaker{
			threshold: int64(cfg.BreakerThreshold),
			cooldown:  cfg.BreakerCooldown,
			now:       time.Now,
		},
	}
	if c.origin == "" {
		c.origin = randomID()
	}
	c.ahead.init()
	noEpoch := ""
	c.epoch.Store(&noEpoch)
	if cfg.Redis == nil {
		return c, nil
	}
	c.seam = seam.Of(cfg.Redis)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	answered := true
	if err := cfg.Redis.Ping(ctx).Err(); err != nil {
		if !cfg.StartDegraded {
			_ = c.Close()
			return nil, fmt.Errorf("%w: no answer at start (Config.StartDegraded starts without it): %w", ErrUnavailable, err)
		}
		answered = false
		cfg.Logger.Warn("matroska: redis does not answer at start; starting degraded (loaders answer, L1 off) until it does", "err", err)
	}
	var key *bus.Key
	if cfg.MessageKey != nil {
		if key, err = bus.NewKey(cfg.MessageKey); err != nil {
			l1.Close()
			return nil, fmt.Errorf("%w: MessageKey: %w", ErrConfig, err)
		}
	}
	rcfg := remote.Config{
		Redis:            cfg.Redis,
		Namespace:        cfg.Namespace,
		TombstoneHorizon: cfg.TombstoneHorizon,
		LogLength:        cfg.LogLength,
		Cluster:          c.seam != nil && c.seam.Cluster,
	}
	if key != nil {
		rcfg.Signer = key
	}
	c.key = key
	c.l2, err = remote.New(rcfg)
	if err != nil {
		l1.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if answered {
		// Best effort: a Redis that refuses SCRIPT LOAD (an ACL) is sent
		// each script on first use instead.
		if err := c.l2.Preload(ctx); err != nil {
			cfg.Logger.Debug("matroska: scripts not preloaded; each is sent on first use", "err", err)
		}
	}
	c.feeds.init(cfg.Feeds, 2*cfg.Heartbeat)
	c.bus, err = bus.Start(bus.Config{
		Redis:       cfg.Redis,
		Channel:     c.l2.Channel(),
		Sharded:     c.l2.Cluster(),
		Source:      busSource{s: c.l2, breaker: &c.breaker, held: &c.held, feeds: &c.feeds},
		Handler:     busHandler{c},
		TrustWindow: cfg.TrustWindow,
		Heartbeat:   cfg.Heartbeat,
		Key:         key,
		Logger:      cfg.Logger,
	})
	if err != nil {
		l1.Close()
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if !answered {
		return c, nil
	}
	if err := c.bus.WaitTrusted(ctx); err != nil {
		if !cfg.StartDegraded {
			_ = c.Close()
			return nil, fmt.Errorf("%w: the invalidation bus did not sync within StartTimeout %v (see the log for why): %w", ErrUnavailable, cfg.StartTimeout, err)
		}
		cfg.Logger.Warn("matroska: bus not synced at start; L1 stays off until it is", "err", err)
	}
	return c, nil
}

// contextTimeouts reports whether the client honours context deadlines, so
// that RedisTimeout bounds each call (go-redis ignores them otherwise, and
// waits its own ReadTimeout, 3 seconds by default, on a server that does not
// answer).
func contextTimeouts(rdb redis.UniversalClient) bool {
	switch c := rdb.(type) {
	case *redis.Client:
		return c.Options().ContextTimeoutEnabled
	case *redis.ClusterClient:
		return c.Options().ContextTimeoutEnabled
	}
	return true // a client type we cannot inspect: assume so
}

// Ready reports whether this node works as designed, for a readiness
// probe: nil when Redis answers a PING (within RedisTimeout) and the
// invalidation bus is in sync, so that the node serves its L1. Otherwise
// the error says what is wrong, each cause with its sentinel:
// ErrUnavailable (with Redis's error) when Redis does not answer or the
// circuit breaker is open; ErrNotSynced when the bus is not in sync;
// ErrRefused when Redis refused an invalidation and the node holds its
// tiers until Redis takes writes again. A node that is not ready still
// answers every call, from its loaders. A one-process cache (no Redis) is
// always ready; a closed one returns ErrClosed.
func (c *Cache) Ready(ctx context.Context) error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if c.l2 == nil {
		return nil
	}
	var errs []error
	rctx, cancel := c.deadlines.bound(ctx)
	err := c.cfg.Redis.Ping(rctx).Err()
	cancel()
	switch {
	case err != nil:
		errs = append(errs, fmt.Errorf("%w: PING: %w", ErrUnavailable, err))
	case !c.breaker.isClosed():
		errs = append(errs, fmt.Errorf("%w: circuit breaker open after failed calls", ErrUnavailable))
	}
	if b := c.feeds.behind.Load(); b != nil {
		errs = append(errs, fmt.Errorf("%w: feed(s) %s behind; serving from the loaders until they keep up", ErrNotSynced, strings.Join(*b, ", ")))
	} else if c.isHeld() {
		errs = append(errs, fmt.Errorf("%w: an invalidation was refused; serving from the loaders until Redis takes writes", ErrRefused))
	}
	if !c.bus.Trusted() {
		errs = append(errs, fmt.Errorf("%w: L1 is off until it is", ErrNotSynced))
	}
	return errors.Join(errs...)
}

// Close stops the bus and releases L1. It does not close the Redis client,
// which belongs to the caller. A second Close returns ErrClosed.
func (c *Cache) Close() error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Swap(true) {
		return ErrClosed
	}
	c.ahead.close()
	var err error
	if c.bus != nil {
		err = c.bus.Close()
	}
	c.l1.Close()
	c.deadlines.close()
	return err
}

// NodeID is the name of this node on the bus.
func (c *Cache) NodeID() string {
	if c == nil {
		return ""
	}
	return c.origin
}

// Mark returns the current point of the invalidation sequence. Take it
// before reading a value from its source and pass it to Set with AtMark:
// Set then refuses the value if an invalidation of its dependencies came in
// between.
func (c *Cache) Mark(ctx context.Context) (Mark, error) {
	if c == nil {
		return Mark{}, ErrNilCache
	}
	if c.closed.Load() {
		return Mark{}, ErrClosed
	}
	if c.l2 == nil {
		return Mark{seq: c.l1.Applied()}, nil
	}
	st, err := c.l2.StateAfter(ctx, c.seen())
	if err != nil {
		return Mark{}, c.redisFailed(err)
	}
	return Mark{epoch: st.Epoch, seq: st.Seq}, nil
}

// Set stores value under key with the dependencies given by Deps, replacing
// any previous value on every node: it is a write, so other nodes drop
// their copies of key, and entries that contain key (nested entries) are
// invalidated. With AtMark it refuses (ErrStale) a value that an
// invalidation overtook. This node's L1 holds the value decoded from its
// encoding into the value's type, as the other nodes read it; a value whose
// encoding does not decode is ErrEncode.
func (c *Cache) Set(ctx context.Context, key string, value any, opts ...Option) error {
	if err := c.checkKey(key); err != nil {
		return err
	}
	ctx, end := c.observe(ctx, Op{Kind: OpSet, Key: key, Keys: 1})
	err := c.set(ctx, key, value, opts)
	end(Outcome{Err: err})
	return err
}

func (c *Cache) set(ctx context.Context, key string, value any, opts []Option) error {
	o := c.applyOptions(opts)
	if err := o.check(); err != nil {
		return err
	}
	payload, err := c.encode(value)
	if err != nil {
		return err
	}
	if value, err = c.decoded(value, payload, nil); err != nil { // L1 holds what other nodes read
		return err
	}
	ttl := c.jitter(o.ttl, o.noJitter)
	keyDep := []deps.Dep{deps.Key(key)}
	gen := c.l1.Generation()
	if c.l2 == nil {
		c.writeMu.Lock()
		if o.mark != nil && c.l1.Stale(o.mark.seq, append(o.deps, keyDep...)) {
			c.writeMu.Unlock()
			return ErrStale
		}
		s := c.applyLocal(keyDep)
		c.writeMu.Unlock()
		c.fillL1(key, deps.Key(key), local.Item{Value: value, Deps: o.deps, Mark: s, Grace: o.stale}, gen, ttl, payload)
		return nil
	}
	if !c.breaker.allow() {
		c.dropLocal(keyDep)
		return fmt.Errorf("%w: circuit breaker open", ErrUnavailable)
	}
	var mark *remote.State
	if o.mark != nil {
		mark = &remote.State{Seq: o.mark.seq, Epoch: o.mark.epoch}
	}
	env := remote.Envelope{Deps: o.deps, Payload: payload, Codec: c.codec}
	start := time.Now()
	env.Fresh, _ = entryTimes(start, ttl, false, 0)
	rctx, cancel := c.deadlines.bound(ctx)
	st, res, err := c.l2.Set(rctx, key, env, l2TTL(ttl, false, &o), mark, c.origin)
	cancel()
	if errors.Is(err, remote.ErrFull) && st.Epoch != "" {
		// Out of memory: the value was not stored, but the old one was
		// invalidated at st (see remote.Store.Set).
		c.breaker.success()
		c.invalidated(keyDep, st, start)
		return c.refusedWrite(err)
	}
	if err != nil && !c.unfinished(err) {
		return c.writeFailed(ctx, keyDep, err)
	}
	c.breaker.success()
	if res != remote.Stored {
		return ErrStale
	}
	c.invalidated(keyDep, st, start)
	if c.l1Trusted() && st.Epoch == *c.epoch.Load() {
		c.fillL1(key, deps.Key(key), local.Item{Value: value, Deps: o.deps, Mark: st.Seq, Grace: o.stale}, gen, ttl, payload)
	}
	return nil
}

// Delete removes key on every node and invalidates the entries that contain
// it: it is Invalidate(ctx, deps.Key(key)).
func (c *Cache) Delete(ctx context.Context, key string) error {
	if err := c.checkKey(key); err != nil {
		return err
	}
	return c.Invalidate(ctx, deps.Key(key))
}

// Invalidate removes every entry that depends on any of ds, in L1 and L2 of
// every node: when it returns, this node and Redis no longer serve them
// (G3), and other nodes drop them as the bus message reaches them (G5). A
// load that started before Invalidate and ends after it is not stored (G1).
// Call it after the database commit of the write. With no dependencies it
// does nothing.
//
// Invalidations of one node that come while another of its invalidations
// is in flight wait for it and then go to Redis together, as one
// invalidation of all their dependencies: under load a node makes one
// script call and one bus message per round trip, not one per call
// (Stats.InvalidationsCombined counts the calls that went with others).
func (c *Cache) Invalidate(ctx context.Context, ds ...deps.Dep) error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if err := checkDeps(ds); err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	ctx, end := c.observe(ctx, Op{Kind: OpInvalidate, Keys: len(ds)})
	err := c.invalidate(ctx, ds)
	end(Outcome{Err: err})
	return err
}

func (c *Cache) invalidate(ctx context.Context, ds []deps.Dep) error {
	if c.l2 == nil {
		c.writeMu.Lock()
		c.applyLocal(ds)
		c.writeMu.Unlock()
		c.n.sent.Add(1)
		return nil
	}
	if !c.breaker.allow() {
		c.dropLocal(ds)
		return fmt.Errorf("%w: circuit breaker open", ErrUnavailable)
	}
	return c.invalidateRemote(ctx, ds)
}

// wrote records this node's invalidation st. L1 has dropped the entries of
// the invalidated dependencies, but it may still hold entries that earlier
// invalidations by other nodes (numbered before st) made stale, which the
// bus has not applied yet: a list that another node's write changed, which
// this node's write changes again. So L1 is not served until the bus has
// applied st and with it every invalidation before it (servable): a read
// that starts after Invalidate returns reflects every invalidation up to
// it (G3).
//
// st in another epoch than the bus's means that Redis was flushed or
// restarted and the bus has not noticed yet: L1's entries carry marks of the
// old epoch that st.Seq cannot be compared with, so L1 is emptied now (the
// bus resets it again when it notices, and fills wait for that).
func (c *Cache) wrote(st remote.State) {
	if st.Epoch != *c.epoch.Load() {
		c.l1.Reset(c.l1.Applied())
		c.n.flushes.Add(1)
		return
	}
	m := &Mark{epoch: st.Epoch, seq: st.Seq}
	for {
		old := c.own.Load()
		if old != nil && old.epoch == m.epoch && old.seq >= m.seq {
			return
		}
		if c.own.CompareAndSwap(old, m) {
			return
		}
	}
}

// seen is the newest state of Redis this node has applied: its epoch and
// L1's applied sequence, taken together (not across a reset: then it is
// zero, which claims nothing). Redis's sequence is never below it in the
// same epoch unless Redis lost history (G11): reads and Mark hand it to
// Redis, which then starts a new epoch.
func (c *Cache) seen() remote.State {
	e := c.epoch.Load()
	seq := c.l1.Applied()
	if e != c.epoch.Load() || *e == resetting || *e == "" {
		return remote.State{}
	}
	return remote.State{Epoch: *e, Seq: seq}
}

// servable reports whether L1 may answer now: it is trusted, and the bus has
// applied this node's latest invalidation (see wrote). An invalidation of
// another epoch than the bus's is ignored: the bus has reset L1 since.
func (c *Cache) servable() bool {
	if !c.l1Trusted() {
		return false
	}
	m := c.own.Load()
	return m == nil || m.seq <= c.l1.Applied() || m.epoch != *c.epoch.Load()
}

// applyLocal is an invalidation in one-process mode, where L1's applied
// sequence is the sequence: the next number, applied to L1. The caller holds
// writeMu, so that numbers are unique and a Set's staleness check and its
// own invalidation are one step. A load reads its start mark with Applied,
// which moves only after the tombstones are in place: a load that read the
// previous number is refused by them.
func (c *Cache) applyLocal(ds []deps.Dep) uint64 {
	s := c.l1.Applied() + 1
	c.l1.Invalidate(s, ds)
	c.l1.Advance(s)
	return s
}

// invalidated is this node's part of its invalidation of ds, which Redis
// applied at st (the call began at start): L1 drops the entries at once,
// and is not served until the bus has applied it (see wrote).
func (c *Cache) invalidated(ds []deps.Dep, st remote.State, start time.Time) {
	c.n.sent.Add(1)
	c.l1.Invalidate(st.Seq, ds)
	c.wrote(st)
	c.sent(st.Seq, start)
}

// writeFailed is a write of ds (an invalidation, a Set) whose outcome in
// Redis is unknown or that Redis refused: L1 drops the entries anyway, and
// a refusal holds every node (see hold). It returns the caller's error.
func (c *Cache) writeFailed(ctx context.Context, ds []deps.Dep, err error) error {
	c.dropLocal(ds)
	if errors.Is(err, remote.ErrRefused) {
		c.hold(ctx)
	}
	return c.redisFailed(err)
}

// dropLocal drops the local entries of ds when the invalidation's outcome in
// Redis is unknown. The tombstone one past the applied sequence refuses
// fills of values read before this moment.
func (c *Cache) dropLocal(ds []deps.Dep) {
	c.l1.Invalidate(c.l1.Applied()+1, ds)
}

// unfinished reports whether err is remote.ErrUnfinished: an invalidation
// in phases that took effect (its number, tombstones and broadcast are in
// Redis, and the entries it has not deleted yet read as misses) but whose
// clean-up was cut short, by the caller's context or a failed call. Its
// State is valid and the write succeeded: what is left is deleted by the
// next Invalidate or Set of any node after remote.Config.SweepAfter.
func (c *Cache) unfinished(err error) bool {
	if !errors.Is(err, remote.ErrUnfinished) {
		return false
	}
	c.n.unfinished.Add(1)
	c.cfg.Logger.Warn("matroska: invalidation in effect, clean-up left to a later write", "err", err)
	return true
}

// redisFailed counts a failed Redis call and wraps its error.
func (c *Cache) redisFailed(err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if errors.Is(err, remote.ErrRefused) {
		return c.refusedWrite(err)
	}
	c.breaker.failure()
	return fmt.Errorf("%w: %w", ErrUnavailable, err)
}

// refusedWrite wraps err, a write Redis refused (G12), for the caller. Redis
// answers, so the breaker is not tripped; it is logged, since the operator
// must act (free memory, fix persistence, follow the failover).
func (c *Cache) refusedWrite(err error) error {
	c.breaker.success()
	c.cfg.Logger.Warn("matroska: redis refused a write", "err", err)
	return fmt.Errorf("%w: %w", ErrRefused, err)
}

// l1Trusted reports whether L1 may serve and be filled now: always in
// one-process mode; otherwise while the bus is synced, Redis answers and
// no hold is on.
func (c *Cache) l1Trusted() bool {
	return c.bus == nil || (c.bus.Trusted() && c.breaker.isClosed() && !c.isHeld())
}

// hold handles an invalidation that Redis refused without changing
// anything (a read-only replica, failing persistence, too few replicas):
// entries it should have deleted are still in Redis, and other nodes still
// hold them in L1. The node tells every node (a hold on the bus: a publish
// needs no write) and holds itself: while the epoch under hold is current,
// no node serves L1 or Redis, loads are answered uncached, and each bus
// heartbeat asks Redis for a new epoch, which succeeds once Redis takes
// writes again and makes every older entry a miss (see busSource.State).
// The caller still gets its error and should retry.
func (c *Cache) hold(ctx context.Context) {
	e := c.epoch.Load()
	if *e == "" || *e == resetting {
		return
	}
	c.held.Store(e)
	m := bus.Message{Epoch: *e, Origin: c.origin, Hold: true}
	payload := m.AppendEncode(nil)
	if c.key != nil {
		payload = c.key.Sign(payload)
	}
	if err := c.l2.Publish(context.WithoutCancel(ctx), payload); err != nil {
		c.cfg.Logger.Warn("matroska: could not tell the other nodes of a refused invalidation", "err", err)
	}
}

// isHeld reports whether the node serves neither tier: a hold is on for
// the current epoch (see hold), or a feed it follows is behind (see
// Config.Feeds).
func (c *Cache) isHeld() bool {
	if c.feeds.behind.Load() != nil {
		return true // a feed is behind: see Config.Feeds
	}
	h := c.held.Load()
	return h != nil && *h == *c.epoch.Load()
}

func (c *Cache) checkKey(key string) error {
	if c == nil {
		return ErrNilCache
	}
	if c.closed.Load() {
		return ErrClosed
	}
	if key == "" {
		return ErrEmptyKey
	}
	if len(key) > c.cfg.MaxKeyLen {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrKeyTooLong, len(key), c.cfg.MaxKeyLen)
	}
	return nil
}

func checkDeps(ds []deps.Dep) error {
	for i, d := range ds {
		if d.IsZero() {
			return fmt.Errorf("%w: dependency %d is the zero deps.Dep (built with an empty type or name?)", ErrInvalidDep, i)
		}
	}
	return nil
}

func (c *Cache) encode(v any) ([]byte, error) {
	b, err := c.cfg.Codec.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	if len(b) > c.cfg.MaxValueSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrValueTooLarge, len(b), c.cfg.MaxValueSize)
	}
	return b, nil
}

// jitter shortens ttl by a random part of at most Config.Jitter.
func (c *Cache) jitter(ttl time.Duration, off bool) time.Duration {
	if off || c.cfg.Jitter == 0 || ttl <= 0 {
		return ttl
	}
	cut := time.Duration(rand.Float64() * c.cfg.Jitter * float64(ttl))
	return ttl - cut
}

// entryOverhead is the L1 cost of an entry beyond its encoded value: the
// item, its index entries, Ristretto's bookkeeping.
const entryOverhead = 160

// fillL1 fills L1 and reports whether the fill was accepted.
func (c *Cache) fillL1(key string, self deps.Dep, it local.Item, gen uint64, ttl time.Duration, payload []byte) bool {
	if !c.l1.FillKeyed(key, self, it, gen, ttl, fillCost(key, payload, it.Deps)) {
		c.n.refusedFills.Add(1)
		return false
	}
	// The next call on this node hits the entry at once: L1 stages it
	// until the clock's goroutine hands it to Ristretto (see local.Fill).
	return true
}

// fillCost is the cost in L1 of an entry: its key, its encoded value and
// its dependencies, with an overhead for each.
func fillCost(key string, payload []byte, ds []deps.Dep) int64 {
	cost := int64(len(key) + len(payload) + entryOverhead)
	for _, d := range ds {
		cost += int64(len(d.String()) + 48)
	}
	return cost
}

func randomID() string {
	var b [8]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}
