package tiered

import (
	"context"
	"sync"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// Mark is a point in the cache's invalidation sequence. A value read from
// its source after [Cache.Mark] returned m is fresh at least up to m.
type Mark struct {
	epoch string
	seq   uint64
}

// Seq is the sequence number of the mark.
func (m Mark) Seq() uint64 { return m.seq }

// Recorder collects the dependencies of a value while its loader runs. A
// loader calls Depend for every object, tag or list condition the value was
// built from. A GetOrLoad called inside a loader records into the outer
// loader's Recorder on its own: the inner entry's dependencies, its key as a
// deps.Key, and its start mark (DESIGN section 4, "start marks compose").
//
// A Recorder is safe for concurrent use by the loader's goroutines. It must
// not be used after the loader returns.
type Recorder struct {
	mu      sync.Mutex
	deps    []deps.Dep
	mark    Mark // the minimum start mark over the load and what it consumed
	invalid bool // a zero dependency was recorded
	unknown bool // a consumed value had no start mark (Redis was unreachable)

	ttl     time.Duration // set by TTL; 0: the call's
	ttlSet  bool          // TTL was called (with a bad d, ttl <= 0)
	noCache bool          // NoCache was called
}

// TTL sets the time to live of the entry being loaded, in place of the
// call's TTL (or NegativeTTL, for a load that returns ErrNotFound): for a
// value whose source knows how long it holds, such as a token. The entry
// gets exactly d (no jitter); every node that reads it follows d, whatever
// its own call's options. A RefreshAfter at or past d does not refresh it;
// StaleIfError keeps it that much longer. d must be positive: otherwise the
// value is returned with an error wrapping ErrInvalidTTL, and not cached.
// The last call wins.
func (r *Recorder) TTL(d time.Duration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.ttl, r.ttlSet = d, true
	r.mu.Unlock()
}

// NoCache makes the load's result go to its callers (and to every caller
// that joined the load) and nowhere else: it is stored in neither tier, and
// the next call loads again. An outer load that consumes the result is not
// cached either: it would keep what this loader said not to keep.
func (r *Recorder) NoCache() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.noCache = true
	r.mu.Unlock()
}

// caching returns what the loader said of the entry: its own TTL (0: the
// call's), whether it set one that is not positive, and NoCache.
func (r *Recorder) caching() (ttl time.Duration, badTTL, noCache bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ttl, r.ttlSet && r.ttl <= 0, r.noCache
}

// Depend records dependencies of the value being loaded. A zero deps.Dep
// makes the load's result uncacheable and its call return ErrInvalidDep.
func (r *Recorder) Depend(ds ...deps.Dep) {
	if r == nil {
		return
	}
	r.mu.Lock()
	for _, d := range ds {
		if d.IsZero() {
			r.invalid = true
			continue
		}
		r.deps = append(r.deps, d)
	}
	r.mu.Unlock()
}

// consumed records that the load used the value of an inner entry.
func (r *Recorder) consumed(key string, ds []deps.Dep, m Mark, known bool) {
	r.mu.Lock()
	r.deps = append(r.deps, deps.Key(key))
	r.deps = append(r.deps, ds...)
	if !known {
		r.unknown = true
	} else if m.epoch != r.mark.epoch {
		// A value from another Redis epoch: nothing orders the two marks.
		r.unknown = true
	} else if m.seq < r.mark.seq {
		r.mark.seq = m.seq
	}
	r.mu.Unlock()
}

// result returns the deduplicated dependencies and the composed mark.
func (r *Recorder) result(extra []deps.Dep) (ds []deps.Dep, m Mark, invalid, unknown bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	all := append(r.deps, extra...)
	seen := make(map[deps.Dep]struct{}, len(all))
	ds = make([]deps.Dep, 0, len(all))
	for _, d := range all {
		if d.IsZero() {
			invalid = true
			continue
		}
		if _, dup := seen[d]; dup {
			continue
		}
		seen[d] = struct{}{}
		ds = append(ds, d)
	}
	return ds, r.mark, invalid || r.invalid, r.unknown
}

type recorderKey struct{}

func withRecorder(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// recorderFrom returns the Recorder of the load that ctx belongs to, or nil
// outside a loader.
func recorderFrom(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}
