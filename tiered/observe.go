package tiered

import (
	"context"
	"sync"
	"time"
)

// An Observer follows the work a cache does beyond its L1: each read of
// Redis, each loader call, each invalidation. It is how tracing plugs in
// (contrib/otel makes spans of them) without the cache importing a tracing
// library. Set it in Config.Observer.
//
// The cache calls it on the goroutine that does the work; it must be safe
// for concurrent use. An L1 hit calls nothing: with no Observer, or one
// that records nothing, the hit path costs what it costs without.
type Observer interface {
	// Begin is called when op begins, and end once when it ends. The
	// context Begin returns is the one a load's loader receives (so that
	// the loader's own spans are children of the load's); for other
	// operations it is not used further.
	Begin(ctx context.Context, op Op) (_ context.Context, end func(Outcome))

	// Propagated is called when this node's bus delivers one of the
	// node's own invalidations, d after the invalidation began: the time
	// from an invalidation to its broadcast's arrival, the path every
	// node's invalidations take to the other nodes (measured on this
	// node's own, so that no two clocks are compared).
	Propagated(d time.Duration)
}

// OpKind is the kind of an Op.
type OpKind uint8

// The operations an Observer sees.
const (
	// OpRead is a read of Redis after an L1 miss (one round trip for a
	// GetOrLoadMany's keys: Keys says how many).
	OpRead OpKind = iota + 1
	// OpLoad is a call of the loader after a miss in both tiers (one call
	// of a BatchFunc for Keys keys), or a background refresh's.
	OpLoad
	// OpInvalidate is an Invalidate or a Delete (Keys: the number of
	// dependencies).
	OpInvalidate
	// OpSet is a Set.
	OpSet
)

// String returns the operation's name: "read", "load", "invalidate", "set".
func (k OpKind) String() string {
	switch k {
	case OpRead:
		return "read"
	case OpLoad:
		return "load"
	case OpInvalidate:
		return "invalidate"
	case OpSet:
		return "set"
	}
	return "unknown"
}

// Op is an operation an Observer sees begin.
type Op struct {
	Kind OpKind
	// Key is the key read, loaded or set: of a batch, its first key; of an
	// invalidation, "".
	Key string
	// Keys is the number of keys a read or a load covers (1 but for a
	// batch), or of dependencies an invalidation names.
	Keys int
	// Refresh reports a background refresh's load (RefreshAfter).
	Refresh bool
}

// Outcome is how an operation ended.
type Outcome struct {
	// Err is the operation's error: Redis failing (a read, an
	// invalidation, a set), the loader's error (ErrNotFound for a key not
	// found). Nil for a read that found nothing.
	Err error
	// Found is the number of keys a read found in Redis, or a load
	// returned a value for.
	Found int
}

// observe begins op with the Config's Observer; without one it returns ctx
// and a func that does nothing, and costs nothing.
func (c *Cache) observe(ctx context.Context, op Op) (context.Context, func(Outcome)) {
	if c.cfg.Observer == nil {
		return ctx, ignoreOutcome
	}
	ctx, end := c.cfg.Observer.Begin(ctx, op)
	if end == nil {
		end = ignoreOutcome
	}
	return ctx, end
}

func ignoreOutcome(Outcome) {}

// echoes pairs this node's invalidations with their delivery by the bus,
// for Observer.Propagated. The bus may deliver an invalidation before its
// reply reaches the caller (the two come on different connections), so
// either side may come first: the second computes the time.
type echoes struct {
	mu    sync.Mutex
	began map[uint64]time.Time // sequence of a replied invalidation → its start, until delivered
	came  map[uint64]time.Time // sequence delivered before its reply → the delivery's time
}

// maxEchoes bounds both maps: an invalidation whose delivery never comes
// (a reset skipped it) is forgotten when the map fills.
const maxEchoes = 1024

// sent records that this node's invalidation seq, begun at start, was
// answered by Redis.
func (c *Cache) sent(seq uint64, start time.Time) {
	if c.cfg.Observer == nil || seq == 0 {
		return
	}
	if came, ok := c.echoes.meet(&c.echoes.began, &c.echoes.came, seq, start); ok {
		c.cfg.Observer.Propagated(came.Sub(start))
	}
}

// delivered records that the bus delivered this node's invalidation seq.
func (c *Cache) delivered(seq uint64) {
	if c.cfg.Observer == nil {
		return
	}
	now := time.Now()
	if start, ok := c.echoes.meet(&c.echoes.came, &c.echoes.began, seq, now); ok {
		c.cfg.Observer.Propagated(now.Sub(start))
	}
}

// meet is one side of seq's pairing: the other side's time if it came
// first (and is taken from other), or false after at is kept in *mine for
// the other side.
func (e *echoes) meet(mine, other *map[uint64]time.Time, seq uint64, at time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if t, ok := (*other)[seq]; ok {
		delete(*other, seq)
		return t, true
	}
	*mine = put(*mine, seq, at)
	return time.Time{}, false
}

func put(m map[uint64]time.Time, seq uint64, t time.Time) map[uint64]time.Time {
	if m == nil || len(m) >= maxEchoes {
		m = make(map[uint64]time.Time)
	}
	m[seq] = t
	return m
}
