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
)

// TTL sets the time to live of the entry (default Config.DefaultTTL).
func TTL(d time.Duration) Option { return Option{kind: optTTL, d: d} }

// NegativeTTL sets the time to live of a not-found entry (default
// Config.NegativeTTL).
func NegativeTTL(d time.Duration) Option { return Option{kind: optNegativeTTL, d: d} }

// Deps adds dependencies to the entry: for Set, its dependencies; for
// GetOrLoad, dependencies in addition to those the loader records.
func Deps(ds ...deps.Dep) Option { return Option{kind: optDeps, deps: ds} }

// AtMark gives Set the start mark taken (with [Cache.Mark]) before the value
// was read from its source: if any of the value's dependencies was
// invalidated after the mark, Set stores nothing and returns ErrStale.
func AtMark(m Mark) Option { return Option{kind: optMark, mark: m} }

// NoJitter keeps the TTL exact instead of shortening it by a random part up
// to Config.Jitter.
func NoJitter() Option { return Option{kind: optNoJitter} }

// check validates the options a caller gave.
func (o *callOptions) check() error {
	if o.ttl <= 0 || o.negTTL <= 0 {
		return fmt.Errorf("%w: TTL %v, negative TTL %v", ErrInvalidTTL, o.ttl, o.negTTL)
	}
	return checkDeps(o.deps)
}

// callOptions is the applied form of a call's options.
type callOptions struct {
	ttl, negTTL time.Duration
	deps        []deps.Dep
	mark        *Mark
	noJitter    bool
}

func (c *Cache) applyOptions(opts []Option) callOptions {
	o := callOptions{ttl: c.cfg.DefaultTTL, negTTL: c.cfg.NegativeTTL}
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
		}
	}
	return o
}
