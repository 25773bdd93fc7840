package tiered

import (
	"fmt"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// Option is a per-call setting of GetOrLoad and Set. Options are plain
// values (no closures), so passing them costs nothing on an L1 hit.
type Option struct {
	kind optionKind
	on   bool
	d    time.Duration
	deps []deps.Dep
	mark Mark
}

type optionKind uint8

const (
	optTTL optionKind = iota + 1
	optNegativeTTL
	optDeps
	optMark
	optNoJitter
	optLease
	optRefreshAfter
	optStaleIfError
)

// TTL sets the time to live of the entry (default Config.DefaultTTL).
func TTL(d time.Duration) Option { return Option{kind: optTTL, d: d} }

// NegativeTTL sets the time to live of a not-found entry (default
// Config.NegativeTTL).
func NegativeTTL(d time.Duration) Option { return Option{kind: optNegativeTTL, d: d} }

// Depend adds dependencies to the entry: for Set, its dependencies; for
// GetOrLoad, dependencies in addition to those the loader records (as
// [Recorder.Depend] would).
func Depend(ds ...deps.Dep) Option { return Option{kind: optDeps, deps: ds} }

// AtMark gives Set the start mark taken (with [Cache.Mark]) before the value
// was read from its source: if any of the value's dependencies was
// invalidated after the mark, Set stores nothing and returns ErrStale.
func AtMark(m Mark) Option { return Option{kind: optMark, mark: m} }

// NoJitter keeps the TTL exact instead of shortening it by a random part up
// to Config.Jitter.
func NoJitter() Option { return Option{kind: optNoJitter} }

// Lease turns the cross-node load lease on or off for this call, overriding
// Config.Lease. With the lease on, a miss in both tiers takes a lease in
// Redis before it calls the loader, so that one node in the cluster loads a
// cold key while the others wait for its entry (G8). See Config.Lease.
func Lease(on bool) Option { return Option{kind: optLease, on: on} }

// RefreshAfter sets a soft TTL d (0 < d < TTL): a hit on an entry older
// than d returns the entry and starts one refresh of it in the background
// (one per key on this node; one per key across the cluster with the
// lease on), which loads the value again and replaces the entry unless an
// invalidation overtook the refresh (G1). Not-found entries are not
// refreshed. An entry written with RefreshAfter gets its exact TTL (no
// jitter): refreshes spread the expiries instead. The entry carries the time
// it is due (see remote.Envelope.Due): a call that meets a due entry
// refreshes it, with its own options, whatever RefreshAfter it gave.
func RefreshAfter(d time.Duration) Option { return Option{kind: optRefreshAfter, d: d} }

// StaleIfError keeps a value d past its TTL (in Redis and in L1) for one
// use only: when a load of the key fails with an error other than
// ErrNotFound, the call returns the kept value and no error (counted in
// Stats.StaleServed). An invalidation removes the value at once, as any
// other: an invalidated value is never served. It overrides
// Config.StaleIfError, which Get and Set use. The entry carries the end of
// its TTL (see remote.Envelope.Fresh): a call that meets it past its TTL
// treats it as expired, whatever StaleIfError it gave, and serves it only
// for a load that fails, when its own StaleIfError allows.
func StaleIfError(d time.Duration) Option { return Option{kind: optStaleIfError, d: d} }

// check validates the options a caller gave.
func (o *callOptions) check() error {
	if o.ttl <= 0 {
		return fmt.Errorf("%w: TTL %v is not positive", ErrInvalidTTL, o.ttl)
	}
	if o.negTTL <= 0 {
		return fmt.Errorf("%w: NegativeTTL %v is not positive", ErrInvalidTTL, o.negTTL)
	}
	if o.refresh < 0 {
		return fmt.Errorf("%w: RefreshAfter %v is negative", ErrInvalidTTL, o.refresh)
	}
	if o.refresh >= o.ttl {
		return fmt.Errorf("%w: RefreshAfter %v is not below the TTL %v: the entry would expire before it is refreshed", ErrInvalidTTL, o.refresh, o.ttl)
	}
	if o.stale < 0 {
		return fmt.Errorf("%w: StaleIfError %v is negative", ErrInvalidTTL, o.stale)
	}
	return checkDeps(o.deps)
}

// callOptions is the applied form of a call's options.
type callOptions struct {
	ttl, negTTL time.Duration
	deps        []deps.Dep
	mark        *Mark
	noJitter    bool
	lease       bool          // take the cross-node lease on a miss (see lease.go)
	refresh     time.Duration // RefreshAfter; 0: off (see refresh.go)
	stale       time.Duration // StaleIfError; 0: off (see refresh.go)
}

func (c *Cache) applyOptions(opts []Option) callOptions {
	o := callOptions{ttl: c.cfg.DefaultTTL, negTTL: c.cfg.NegativeTTL, lease: c.cfg.Lease, stale: c.cfg.StaleIfError}
	for i := range opts {
		switch opt := &opts[i]; opt.kind {
		case optTTL:
			o.ttl = opt.d
		case optNegativeTTL:
			o.negTTL = opt.d
		case optDeps:
			o.deps = append(o.deps, opt.deps...)
		case optMark:
			m := opt.mark
			o.mark = &m
		case optNoJitter:
			o.noJitter = true
		case optLease:
			o.lease = opt.on
		case optRefreshAfter:
			o.refresh = opt.d
		case optStaleIfError:
			o.stale = opt.d
		}
	}
	return o
}
