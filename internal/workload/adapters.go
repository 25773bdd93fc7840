package workload

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// Matroska is the adapter of this library: a tiered.Cache per node, read
// through matroska.GetOrLoad with a loader that records deps.Id("item", id);
// Invalidate invalidates that dependency.
//
// Get uses matroska.GetOrLoadWith with the loader as a small struct (the
// key and the source), so that an L1 hit allocates nothing. With Closure,
// it uses matroska.GetOrLoad with a closure capturing the key, which Go
// allocates on every call, hit or miss: only the L1 hit workload runs it,
// to show that cost.
//
// With Lease, every node has the cross-node lease on (tiered.Config.Lease):
// it runs the stampede workload, where one loader call across all the
// nodes is expected, and the cold fleet, beside the adapter without it.
type Matroska struct {
	Closure bool
	Lease   bool
	// Configure, when set, changes each node's Config before New.
	Configure func(*tiered.Config)
}

// Name is "matroska", "matroska (closure loader)" or "matroska (lease)".
func (m Matroska) Name() string {
	switch {
	case m.Closure:
		return "matroska (closure loader)"
	case m.Lease:
		return MatroskaLeaseName
	}
	return MatroskaName
}

// Workloads limits the closure variant to the L1 hit workload and the lease
// variant to the stampede and the cold fleet (nil: every workload).
func (m Matroska) Workloads() []string {
	if m.Closure {
		return []string{WHit}
	}
	if m.Lease {
		return []string{WStampede, WCold}
	}
	return nil
}

// Features: everything.
func (Matroska) Features() Features {
	return Features{L1: true, L2: true, CrossNode: true, Deps: true, Dedup: true}
}

// StaleBound is the trust window (tiered.Config.TrustWindow after
// Configure): a node that has not applied an invalidation stops serving its
// L1 at most that long after the invalidation was published (G4), and
// Invalidate returns after it published.
func (m Matroska) StaleBound() time.Duration {
	var cfg tiered.Config
	if m.Configure != nil {
		m.Configure(&cfg)
	}
	if cfg.TrustWindow > 0 {
		return cfg.TrustWindow
	}
	return bus.DefaultTrustWindow
}

// Open starts a tiered.Cache on its own go-redis client.
func (m Matroska) Open(ctx context.Context, env *Env) (Node, error) {
	rdb := env.GoRedis()
	cfg := tiered.Config{Redis: rdb, Namespace: env.Namespace, DefaultTTL: env.TTL, Lease: m.Lease, CombineInvalidations: env.Combine}
	if m.Configure != nil {
		m.Configure(&cfg)
	}
	c, err := tiered.New(cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	n := &matroskaNode{c: c, rdb: rdb, src: env.Source, closure: m.Closure}
	n.loadMany = n.loadBatch
	return n, nil
}

// ItemDep is the dependency of item id in the Matroska adapter.
func ItemDep(id int) deps.Dep { return deps.Id("item", id) }

type matroskaNode struct {
	c        *tiered.Cache
	rdb      *redis.Client
	src      *Source
	closure  bool
	loadMany matroska.BatchFunc[Item] // loadBatch, made once: a method value allocates
}

// itemLoader loads one item from the simulated database.
type itemLoader struct {
	src *Source
	key string
}

func (l itemLoader) Load(ctx context.Context, rec *matroska.Recorder) (Item, error) {
	it, err := l.src.Load(ctx, l.key)
	if err == nil {
		rec.Depend(ItemDep(it.ID))
	}
	return it, err
}

func (n *matroskaNode) Get(ctx context.Context, key string) (Item, error) {
	if n.closure {
		return matroska.GetOrLoad(ctx, n.c, key, func(ctx context.Context, rec *matroska.Recorder) (Item, error) {
			return itemLoader{n.src, key}.Load(ctx, rec)
		})
	}
	return matroska.GetOrLoadWith(ctx, n.c, key, itemLoader{n.src, key})
}

// GetMany reads keys with matroska.GetOrLoadMany; the batch loader loads
// each missing key from the source and records deps.Id("item", id) for it.
func (n *matroskaNode) GetMany(ctx context.Context, keys []string) (map[string]Item, error) {
	return matroska.GetOrLoadMany(ctx, n.c, keys, n.loadMany)
}

func (n *matroskaNode) loadBatch(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]Item, error) {
	out := make(map[string]Item, len(keys))
	for _, k := range keys {
		it, err := n.src.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		out[k] = it
		rec.For(k).Depend(ItemDep(it.ID))
	}
	return out, nil
}

func (n *matroskaNode) Invalidate(ctx context.Context, key string) error {
	id, err := ID(key)
	if err != nil {
		return err
	}
	return n.c.Invalidate(ctx, ItemDep(id))
}

func (n *matroskaNode) InL1(_ context.Context, key string) bool {
	return n.c.InL1(key)
}

func (n *matroskaNode) L1Hits() uint64 { return n.c.Stats().L1Hits }

// BusReceived is the number of bus messages the node received.
func (n *matroskaNode) BusReceived() uint64 { return n.c.Stats().Bus.Received }

// Cache is the node's tiered.Cache, for workloads that use the library's
// own API (dependency invalidation).
func (n *matroskaNode) Cache() *tiered.Cache { return n.c }

func (n *matroskaNode) Close() error {
	err := n.c.Close()
	_ = n.rdb.Close()
	return err
}

// Ristretto is the raw in-process baseline: a Ristretto v2 cache of decoded
// items per node, no Redis; Invalidate deletes on this node only. Its items
// have the workload's TTL, which Ristretto's Get checks against the system
// clock on every hit.
//
// With NoTTL, items have no TTL, so that its Get reads no clock: the
// baseline of the L1 hit workload, the only one it runs (this library's
// hit checks expiry against a clock of its own, read about once a
// millisecond, and trust against the monotonic clock: see tiered).
type Ristretto struct {
	NoTTL bool
}

// Name is "ristretto (raw)" or "ristretto (raw, no TTL)".
func (r Ristretto) Name() string {
	if r.NoTTL {
		return RistrettoNoTTLName
	}
	return RistrettoName
}

// Workloads limits the variant without TTL to the L1 hit workload (nil:
// every workload).
func (r Ristretto) Workloads() []string {
	if r.NoTTL {
		return []string{WHit}
	}
	return nil
}

// Features: L1 only.
func (Ristretto) Features() Features { return Features{L1: true} }

// Open makes a Ristretto cache of up to a million items.
func (r Ristretto) Open(_ context.Context, env *Env) (Node, error) {
	rc, err := ristretto.NewCache(&ristretto.Config[string, Item]{
		NumCounters: 1e6, MaxCost: 1e6, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		return nil, err
	}
	n := &ristrettoNode{rc: rc, env: env, ttl: env.TTL}
	if r.NoTTL {
		n.ttl = 0
	}
	return n, nil
}

type ristrettoNode struct {
	rc   *ristretto.Cache[string, Item]
	env  *Env
	ttl  time.Duration // of every item; 0: none
	hits atomic.Uint64
}

func (n *ristrettoNode) Get(ctx context.Context, key string) (Item, error) {
	if v, ok := n.rc.Get(key); ok {
		if n.env.Count {
			n.hits.Add(1)
		}
		return v, nil
	}
	v, err := n.env.Source.Load(ctx, key)
	if err != nil {
		return v, err
	}
	n.rc.SetWithTTL(key, v, 1, n.ttl)
	return v, nil
}

func (n *ristrettoNode) Invalidate(_ context.Context, key string) error {
	n.rc.Del(key)
	return nil
}

func (n *ristrettoNode) InL1(_ context.Context, key string) bool {
	_, ok := n.rc.Get(key)
	return ok
}

func (n *ristrettoNode) L1Hits() uint64 { return n.hits.Load() }

func (n *ristrettoNode) Close() error { n.rc.Close(); return nil }

// GoRedis is the raw Redis baseline: GET and JSON decoding on every read,
// GET then SET on a miss, DEL to invalidate.
type GoRedis struct{}

// Name is "go-redis (raw)".
func (GoRedis) Name() string { return "go-redis (raw)" }

// Features: L2 only.
func (GoRedis) Features() Features { return Features{L2: true} }

// Open makes a go-redis client.
func (GoRedis) Open(_ context.Context, env *Env) (Node, error) {
	return &goRedisNode{rdb: env.GoRedis(), env: env}, nil
}

type goRedisNode struct {
	rdb *redis.Client
	env *Env
}

func (n *goRedisNode) Get(ctx context.Context, key string) (Item, error) {
	var v Item
	b, err := n.rdb.Get(ctx, n.env.RedisKey(key)).Bytes()
	if err == nil {
		err = json.Unmarshal(b, &v)
		return v, err
	}
	if !errors.Is(err, redis.Nil) {
		return v, err
	}
	if v, err = n.env.Source.Load(ctx, key); err != nil {
		return v, err
	}
	if b, err = json.Marshal(v); err != nil {
		return v, err
	}
	return v, n.rdb.Set(ctx, n.env.RedisKey(key), b, n.env.TTL).Err()
}

// GetMany is one MGET and a JSON decode of each value; the keys it misses
// are loaded and SET in one pipeline.
func (n *goRedisNode) GetMany(ctx context.Context, keys []string) (map[string]Item, error) {
	rk := make([]string, len(keys))
	for i, k := range keys {
		rk[i] = n.env.RedisKey(k)
	}
	vals, err := n.rdb.MGet(ctx, rk...).Result()
	if err != nil {
		return nil, err
	}
	out := make(map[string]Item, len(keys))
	var pipe redis.Pipeliner
	for i, v := range vals {
		if s, ok := v.(string); ok {
			var it Item
			if err := json.Unmarshal([]byte(s), &it); err != nil {
				return nil, err
			}
			out[keys[i]] = it
			continue
		}
		it, err := n.env.Source.Load(ctx, keys[i])
		if err != nil {
			return nil, err
		}
		b, err := json.Marshal(it)
		if err != nil {
			return nil, err
		}
		if pipe == nil {
			pipe = n.rdb.Pipeline()
		}
		pipe.Set(ctx, rk[i], b, n.env.TTL)
		out[keys[i]] = it
	}
	if pipe != nil {
		_, err = pipe.Exec(ctx)
	}
	return out, err
}

func (n *goRedisNode) Invalidate(ctx context.Context, key string) error {
	return n.rdb.Del(ctx, n.env.RedisKey(key)).Err()
}

func (n *goRedisNode) InL1(context.Context, string) bool { return false }

func (n *goRedisNode) L1Hits() uint64 { return 0 }

func (n *goRedisNode) Close() error { return n.rdb.Close() }

// settle waits until f holds or d passes.
func settle(d time.Duration, f func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(time.Millisecond)
	}
}
