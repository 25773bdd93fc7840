// Package workload is the benchmark harness of Matroska: the workloads of the
// performance issue (L1 hit, L2 hit, miss, invalidation propagation, a large
// invalidation, a stampede, a mixed workload, memory per entry, a batch read,
// the codecs) and of the fleet issue (invalidations to a fleet at a rising
// rate, Redis's CPU per operation, a cold fleet), run against any cache behind one small Adapter interface
// (with optional ones: Batcher for a batch read, CodecPeer for a codec of
// the cache's own), and the Markdown table of their results.
//
// Every adapter caches the same value (Item, JSON-encoded where it goes to
// Redis), loaded from the same simulated database (Source) under the same
// keys, with the same number of goroutines. The adapters of this library and
// of the raw baselines (Ristretto, go-redis) live here; the adapters of other
// libraries live in the bench module, which keeps their dependencies out of
// the library's module. cmd/matroska bench and the bench module both call Run.
package workload

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Item is the value every adapter caches: about 300 bytes of JSON.
type Item struct {
	ID      int      `json:"id"`
	Version uint64   `json:"version"`
	Name    string   `json:"name"`
	Tags    []string `json:"tags"`
	Body    string   `json:"body"`
}

// KeyPrefix starts every key the workloads read: "item:<id>".
const KeyPrefix = "item:"

// Key is the cache key of id.
func Key(id int) string { return KeyPrefix + strconv.Itoa(id) }

// ErrBadKey is returned for a key that is not KeyPrefix followed by a
// non-negative number.
var ErrBadKey = errors.New("workload: bad key")

// ID parses the id out of a key made by Key.
func ID(key string) (int, error) {
	if !strings.HasPrefix(key, KeyPrefix) {
		return 0, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	id, err := strconv.Atoi(key[len(KeyPrefix):])
	if err != nil || id < 0 {
		return 0, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	return id, nil
}

var body = strings.Repeat("matroska ", 18)[:160]

// Source is the simulated database behind every cache: Load builds the item
// of a key after a fixed latency and counts the call; Write bumps an item's
// version, as a committed update would.
type Source struct {
	latency  atomic.Int64 // nanoseconds each Load waits
	calls    atomic.Int64
	versions []atomic.Uint64
}

// NewSource returns a source of ids [0, n) with versions (other ids load at
// version 0) and the given load latency.
func NewSource(n int, latency time.Duration) *Source {
	s := &Source{versions: make([]atomic.Uint64, n)}
	s.latency.Store(int64(latency))
	return s
}

// SetLatency changes the time each Load waits.
func (s *Source) SetLatency(d time.Duration) { s.latency.Store(int64(d)) }

// Calls is the number of Load calls so far.
func (s *Source) Calls() int64 { return s.calls.Load() }

// Load returns the current item of key after the source's latency.
func (s *Source) Load(ctx context.Context, key string) (Item, error) {
	id, err := ID(key)
	if err != nil {
		return Item{}, err
	}
	s.calls.Add(1)
	if d := time.Duration(s.latency.Load()); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return Item{}, ctx.Err()
		}
	}
	return Item{
		ID:      id,
		Version: s.Version(id),
		Name:    "item " + strconv.Itoa(id),
		Tags:    []string{"cache", "go", "redis"},
		Body:    strings.Clone(body), // a database driver hands out fresh bytes
	}, nil
}

// Version is the committed version of id.
func (s *Source) Version(id int) uint64 {
	if id < len(s.versions) {
		return s.versions[id].Load()
	}
	return 0
}

// Write commits a new version of id and returns it.
func (s *Source) Write(id int) uint64 {
	if id < len(s.versions) {
		return s.versions[id].Add(1)
	}
	return 0
}

// Features says what an adapter's cache does; workloads that need a feature
// the adapter lacks report it as not applicable.
type Features struct {
	L1        bool // keeps values in process
	L2        bool // shares values through Redis
	CrossNode bool // an invalidation reaches the L1 of other nodes
	Deps      bool // dependency tracking: one call invalidates many entries
	Dedup     bool // concurrent misses of one key on one node share one load
}

// Adapter is one cache under test.
type Adapter interface {
	// Name is the adapter's row label.
	Name() string
	// Features says what the cache does.
	Features() Features
	// Open returns a node: one process's view of the cache (its own L1 and
	// Redis connections), sharing Redis with the other nodes of env.
	Open(ctx context.Context, env *Env) (Node, error)
}

// Limited is implemented by an adapter that runs only some workloads (a
// variant measured on one workload); Run skips the others for it.
type Limited interface {
	Workloads() []string
}

// Bounded is implemented by an adapter whose cache bounds how long another
// node may serve a value after its invalidation returned: the mixed
// workload counts stale reads beyond that bound apart (MixedRow.StaleOver).
type Bounded interface {
	StaleBound() time.Duration
}

// Node is one process's cache.
type Node interface {
	// Get is a read-through: L1, then Redis, then env.Source.Load, storing
	// the loaded item as the cache does.
	Get(ctx context.Context, key string) (Item, error)
	// Invalidate makes the cache drop key after its source changed, as far
	// as the cache can: its own L1 and Redis, and other nodes' L1 when the
	// cache propagates invalidations.
	Invalidate(ctx context.Context, key string) error
	// InL1 says whether this node's L1 serves key now without Redis. A
	// cache that can only tell by reading (rueidis) may fetch key from
	// Redis when it answers false.
	InL1(ctx context.Context, key string) bool
	// L1Hits is the number of Gets answered from L1, counted when
	// env.Count is set (0 otherwise).
	L1Hits() uint64
	// Close releases the node.
	Close() error
}

// Batcher is implemented by a Node that reads many keys in one call (the
// batch workload): each key as Get would read it, the keys together (this
// library: GetOrLoadMany; go-redis: MGET; rueidis: MGetCache). The map
// holds every key read. The batch workload reads a Node without it one
// key at a time.
type Batcher interface {
	GetMany(ctx context.Context, keys []string) (map[string]Item, error)
}

// Env is what adapters share in one workload run: the Redis server, the
// namespace of every key written, the source, and the counters the harness
// reads.
type Env struct {
	Redis     *redis.Options // the server; Addr, Password, DB are used
	Namespace string         // prefix of every Redis key and channel of this run
	Source    *Source
	TTL       time.Duration // entry time to live (L1 and Redis)
	Count     bool          // nodes count L1 hits (the mixed workload)
	Combine   bool          // this library's nodes combine their invalidations (the fleet workload; tiered.Config.CombineInvalidations)

	clients atomic.Int64 // go-redis clients made by GoRedis
	marked  atomic.Int64 // round trips of go-redis clients made by GoRedis for a context from Measure
	maxCall atomic.Int64 // longest round trip in nanoseconds, since ResetMaxCall
	sent    *sentNames   // when set (before GoRedis), the commands sent for contexts from Measure
}

// sentNames are the names of the commands GoRedis clients sent for
// contexts from Measure: the commands a client sends itself, apart from
// those a script calls.
type sentNames struct {
	mu    sync.Mutex
	names map[string]bool
}

func (s *sentNames) add(cmds ...redis.Cmder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.names == nil {
		s.names = map[string]bool{}
	}
	for _, c := range cmds {
		s.names[c.Name()] = true
	}
}

// reset forgets the names sent so far.
func (s *sentNames) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.names)
}

// list returns the names sent so far.
func (s *sentNames) list() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.names {
		out = append(out, n)
	}
	return out
}

// RedisKey is the Redis key of a cache key for adapters that store plain
// Redis keys.
func (e *Env) RedisKey(key string) string { return e.Namespace + ":" + key }

// GoRedis returns a new go-redis client of the server whose round trips are
// counted (a command or a pipeline is one).
func (e *Env) GoRedis() *redis.Client {
	o := *e.Redis
	o.ContextTimeoutEnabled = true
	o.MaxRetries = -1
	c := redis.NewClient(&o)
	c.AddHook(callCounter{e})
	e.clients.Add(1)
	return c
}

// measuredKey marks the contexts of Measure.
type measuredKey struct{}

// Measure returns ctx marked so that the round trips made for it (and for
// contexts derived from it) are counted by MeasuredRoundTrips, and not the
// background traffic of the clients (a cache's heartbeats).
func (e *Env) Measure(ctx context.Context) context.Context {
	return context.WithValue(ctx, measuredKey{}, true)
}

// MeasuredRoundTrips is the number of round trips made for contexts from
// Measure.
func (e *Env) MeasuredRoundTrips() int64 { return e.marked.Load() }

// MaxCall is the longest round trip of a GoRedis client since ResetMaxCall.
func (e *Env) MaxCall() time.Duration { return time.Duration(e.maxCall.Load()) }

// ResetMaxCall starts a new MaxCall window.
func (e *Env) ResetMaxCall() { e.maxCall.Store(0) }

type callCounter struct{ e *Env }

func (callCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h callCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.done(ctx, start, cmd)
		return err
	}
}

func (h callCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.done(ctx, start, cmds...)
		return err
	}
}

func (h callCounter) done(ctx context.Context, start time.Time, cmds ...redis.Cmder) {
	if ctx.Value(measuredKey{}) != nil {
		h.e.marked.Add(1)
		if h.e.sent != nil {
			h.e.sent.add(cmds...)
		}
	}
	d := int64(time.Since(start))
	for {
		m := h.e.maxCall.Load()
		if d <= m || h.e.maxCall.CompareAndSwap(m, d) {
			return
		}
	}
}
