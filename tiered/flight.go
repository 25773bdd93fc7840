package tiered

import (
	"context"
	"fmt"
	"sync"
)

// flights runs one shared flight per key at a time, like
// golang.org/x/sync/singleflight, with one difference that an L2 hit pays
// for: the caller that starts a flight runs its first step (the Redis read)
// on its own goroutine, and only the rest (the lease, the loader, the put)
// moves to a goroutine of its own when the caller can give up (its context
// can end). singleflight's DoChan hands the whole flight to a new goroutine
// and wakes the caller when it ends: on a loaded two-core machine that
// hand-over was about a sixth of an L2 hit (BenchmarkL2HitVsRaw).
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

// flight is one key's flight in progress. Its fields are under flights.mu.
type flight struct {
	done chan struct{} // made by the first caller that waits; closed once res is set
	res  *result
	dups int // callers that joined it
}

// step is the first step of a flight: a final result, or nil and the rest
// of the flight.
type step func() (*result, func() *result)

// do runs first as key's flight, or joins the flight in progress, and
// returns its result and whether it was shared. A caller whose ctx can end
// (Done is not nil) leaves with ctx.Err() when ctx ends before the result
// is there; the flight goes on without it. The first step of the caller
// that starts a flight always runs on its goroutine: it must return soon
// after ctx ends.
func (g *flights) do(ctx context.Context, key string, first step) (*result, bool, error) {
	g.mu.Lock()
	if f, ok := g.m[key]; ok {
		f.dups++
		done := f.channel()
		g.mu.Unlock()
		res, err := f.wait(ctx, done)
		return res, true, err
	}
	f := &flight{}
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	g.m[key] = f
	g.mu.Unlock()

	res, rest := g.first(key, f, first)
	if rest == nil {
		res, shared := g.end(key, f, res)
		return res, shared, nil
	}
	if ctx.Done() == nil {
		// A caller that can never give up runs the rest too, which spares
		// the goroutine and the hand-over of the result.
		res, shared := g.end(key, f, g.rest(key, f, rest))
		return res, shared, nil
	}
	g.mu.Lock()
	done := f.channel()
	g.mu.Unlock()
	go func() { g.end(key, f, g.rest(key, f, rest)) }()
	res, err := f.wait(ctx, done)
	g.mu.Lock()
	shared := f.dups > 0
	g.mu.Unlock()
	return res, shared, err
}

// claimMany makes the caller the owner of the flight of each of keys
// (distinct) that has none in progress, and joins the others, in one hold
// of the lock: fs[i] is keys[i]'s flight, and dones[i] nil when the caller
// owns it, else the channel closed when it ends (see wait). An owner must
// end its flights (endMany), whatever happens: the batch path (batch.go)
// runs the flights of many keys as one.
func (g *flights) claimMany(keys []string) (fs []*flight, dones []chan struct{}) {
	fs, dones = make([]*flight, len(keys)), make([]chan struct{}, len(keys))
	slab := make([]flight, len(keys)) // the flights the caller owns: one allocation
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*flight{}
	}
	for i, k := range keys {
		if f, ok := g.m[k]; ok {
			f.dups++
			fs[i], dones[i] = f, f.channel()
			continue
		}
		f := &slab[i]
		g.m[k] = f
		fs[i] = f
	}
	return fs, dones
}

// endMany ends the flight fs[i] of each keys[i] with results[i], as end
// does each, in one hold of the lock.
func (g *flights) endMany(keys []string, fs []*flight, results []*result) {
	var wake []chan struct{}
	g.mu.Lock()
	for i, k := range keys {
		f := fs[i]
		f.res = results[i]
		if g.m[k] == f {
			delete(g.m, k)
		}
		if f.done != nil {
			wake = append(wake, f.done)
		}
	}
	g.mu.Unlock()
	for _, done := range wake {
		close(done)
	}
}

// first runs the first step; a panic ends the flight for the callers that
// joined it with an error, and goes on in the caller.
func (g *flights) first(key string, f *flight, first step) (res *result, rest func() *result) {
	defer g.recoverEnd(key, f)
	return first()
}

// rest runs the rest of a flight; a panic ends the flight for the callers
// that joined it with an error, and goes on.
func (g *flights) rest(key string, f *flight, rest func() *result) *result {
	defer g.recoverEnd(key, f)
	return rest()
}

// recoverEnd, deferred, ends f with an error if its step panics (so that
// no caller waits forever), then lets the panic go on.
func (g *flights) recoverEnd(key string, f *flight) {
	if p := recover(); p != nil {
		g.end(key, f, &result{err: fmt.Errorf("matroska: panic in the flight of %q: %v", key, p)})
		panic(p)
	}
}

// end records res as f's result, removes f from the flights (the next
// caller of key starts a new one) and wakes the callers that joined it. It
// returns res and whether a caller joined f: as in singleflight, the result
// of a flight that others joined is shared for its starter too.
func (g *flights) end(key string, f *flight, res *result) (*result, bool) {
	g.mu.Lock()
	f.res = res
	if g.m[key] == f {
		delete(g.m, key)
	}
	shared, done := f.dups > 0, f.done
	g.mu.Unlock()
	if done != nil {
		close(done)
	}
	return res, shared
}

// channel returns the channel closed when f ends, making it for the first
// caller that waits (a flight nobody waits for makes none). Under
// flights.mu.
func (f *flight) channel() chan struct{} {
	if f.done == nil {
		f.done = make(chan struct{})
	}
	return f.done
}

// wait waits on done, f's channel, for f's result, or for ctx to end.
func (f *flight) wait(ctx context.Context, done chan struct{}) (*result, error) {
	select {
	case <-done:
		return f.res, nil // written before done was closed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
