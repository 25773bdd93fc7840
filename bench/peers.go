// Package bench holds the adapters of the libraries Matroska is measured
// against (go-redis/cache with its TinyLFU local cache, rueidis with
// client-side caching), the plots of a run, and RunAll, which runs every
// workload against this library, the raw baselines and these peers.
package bench

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"

	"github.com/go-redis/cache/v9"
	"github.com/redis/go-redis/v9"
	"github.com/redis/rueidis"

	"github.com/matroska-go/matroska/internal/workload"
	"github.com/matroska-go/matroska/tiered"
)

// localSize is the number of entries of the peers' local caches: the mixed
// workload's key space fits.
const localSize = 200_000

// GoRedisCache is github.com/go-redis/cache/v9 with its TinyLFU local cache
// in front of Redis, read through Once, with JSON as its codec (its default
// is msgpack with s2 compression; JSON keeps the encoding cost the same for
// every cache). Its local cache holds encoded bytes, so every hit decodes.
// Invalidate is Delete: Redis and this node's local cache; other nodes keep
// their copies until the local TTL.
type GoRedisCache struct{}

// Name is "go-redis/cache (TinyLFU)".
func (GoRedisCache) Name() string { return "go-redis/cache (TinyLFU)" }

// Features: L1 and L2, one load per key per node, no cross-node invalidation.
func (GoRedisCache) Features() workload.Features {
	return workload.Features{L1: true, L2: true, Dedup: true}
}

// Open makes a cache.Cache on its own go-redis client.
func (GoRedisCache) Open(_ context.Context, env *workload.Env) (workload.Node, error) {
	rdb := env.GoRedis()
	local := &countingLocal{LocalCache: cache.NewTinyLFU(localSize, env.TTL), count: env.Count}
	c := cache.New(&cache.Options{
		Redis:      rdb,
		LocalCache: local,
		Marshal:    json.Marshal,
		Unmarshal:  json.Unmarshal,
	})
	return &goRedisCacheNode{c: c, rdb: rdb, local: local, env: env}, nil
}

// countingLocal counts the local cache's hits when count is set.
type countingLocal struct {
	cache.LocalCache
	count bool
	hits  atomic.Uint64
}

func (l *countingLocal) Get(key string) ([]byte, bool) {
	b, ok := l.LocalCache.Get(key)
	if ok && l.count {
		l.hits.Add(1)
	}
	return b, ok
}

type goRedisCacheNode struct {
	c     *cache.Cache
	rdb   *redis.Client
	local *countingLocal
	env   *workload.Env
}

func (n *goRedisCacheNode) Get(ctx context.Context, key string) (workload.Item, error) {
	var v workload.Item
	err := n.c.Once(&cache.Item{
		Ctx:   ctx,
		Key:   n.env.RedisKey(key),
		Value: &v,
		TTL:   n.env.TTL,
		Do: func(it *cache.Item) (any, error) {
			return n.env.Source.Load(it.Ctx, key)
		},
	})
	return v, err
}

// PeerCodec is go-redis/cache's default codec, which the other workloads
// replace with JSON: msgpack, compressed with S2 from 64 bytes on, with a
// byte that says which (its Marshal and Unmarshal). Set stores the
// encoding as it is.
func (GoRedisCache) PeerCodec() (string, tiered.Codec) {
	return "msgpack+s2 (its default)", cache.New(&cache.Options{})
}

func (n *goRedisCacheNode) Invalidate(ctx context.Context, key string) error {
	err := n.c.Delete(ctx, n.env.RedisKey(key))
	if errors.Is(err, cache.ErrCacheMiss) {
		return nil
	}
	return err
}

func (n *goRedisCacheNode) InL1(_ context.Context, key string) bool {
	_, ok := n.local.LocalCache.Get(n.env.RedisKey(key))
	return ok
}

func (n *goRedisCacheNode) L1Hits() uint64 { return n.local.hits.Load() }

func (n *goRedisCacheNode) Close() error { return n.rdb.Close() }

// Rueidis is github.com/redis/rueidis with client-side caching (RESP3
// CLIENT TRACKING, its default): reads are DoCache(GET) with the entry TTL as
// the local TTL, a miss loads and SETs the JSON bytes, and Invalidate is a
// DEL, which the server's tracking turns into an invalidation push to every
// client holding the key. Its local cache holds the reply, so every hit
// decodes the JSON.
type Rueidis struct{}

// Name is "rueidis (client-side cache)".
func (Rueidis) Name() string { return "rueidis (client-side cache)" }

// Features: L1, L2, cross-node invalidation of single keys; no dependency
// tracking, no load deduplication.
func (Rueidis) Features() workload.Features {
	return workload.Features{L1: true, L2: true, CrossNode: true}
}

// Open makes a rueidis client: its own connection and client-side cache.
func (Rueidis) Open(_ context.Context, env *workload.Env) (workload.Node, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{env.Redis.Addr},
		Password:     env.Redis.Password,
		SelectDB:     env.Redis.DB,
		DisableRetry: true,
	})
	if err != nil {
		return nil, err
	}
	return &rueidisNode{c: c, env: env}, nil
}

type rueidisNode struct {
	c    rueidis.Client
	env  *workload.Env
	hits atomic.Uint64
}

func (n *rueidisNode) Get(ctx context.Context, key string) (workload.Item, error) {
	var v workload.Item
	rk := n.env.RedisKey(key)
	res := n.c.DoCache(ctx, n.c.B().Get().Key(rk).Cache(), n.env.TTL)
	b, err := res.AsBytes()
	if err == nil {
		if n.env.Count && res.IsCacheHit() {
			n.hits.Add(1)
		}
		return v, json.Unmarshal(b, &v)
	}
	if !rueidis.IsRedisNil(err) {
		return v, err
	}
	if v, err = n.env.Source.Load(ctx, key); err != nil {
		return v, err
	}
	if b, err = json.Marshal(v); err != nil {
		return v, err
	}
	return v, n.c.Do(ctx, n.c.B().Set().Key(rk).Value(rueidis.BinaryString(b)).Ex(n.env.TTL).Build()).Error()
}

// GetMany reads keys with MGetCache: the client-side cache first, then one
// pipeline of GETs (each with its CLIENT CACHING) for the keys it misses;
// keys that Redis misses too are loaded and SET in one pipeline.
func (n *rueidisNode) GetMany(ctx context.Context, keys []string) (map[string]workload.Item, error) {
	rk := make([]string, len(keys))
	for i, k := range keys {
		rk[i] = n.env.RedisKey(k)
	}
	got, err := rueidis.MGetCache(n.c, ctx, n.env.TTL, rk)
	if err != nil {
		return nil, err
	}
	out := make(map[string]workload.Item, len(keys))
	var sets rueidis.Commands
	for i, k := range keys {
		m := got[rk[i]]
		b, err := m.AsBytes()
		if err == nil {
			if n.env.Count && m.IsCacheHit() {
				n.hits.Add(1)
			}
			var v workload.Item
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, err
			}
			out[k] = v
			continue
		}
		if !rueidis.IsRedisNil(err) {
			return nil, err
		}
		v, err := n.env.Source.Load(ctx, k)
		if err != nil {
			return nil, err
		}
		if b, err = json.Marshal(v); err != nil {
			return nil, err
		}
		sets = append(sets, n.c.B().Set().Key(rk[i]).Value(rueidis.BinaryString(b)).Ex(n.env.TTL).Build())
		out[k] = v
	}
	for _, r := range n.c.DoMulti(ctx, sets...) {
		if err := r.Error(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (n *rueidisNode) Invalidate(ctx context.Context, key string) error {
	return n.c.Do(ctx, n.c.B().Del().Key(n.env.RedisKey(key)).Build()).Error()
}

// InL1 reads key with DoCache and reports whether the client-side cache
// answered; on false the value has been fetched from Redis (and cached).
func (n *rueidisNode) InL1(ctx context.Context, key string) bool {
	return n.c.DoCache(ctx, n.c.B().Get().Key(n.env.RedisKey(key)).Cache(), n.env.TTL).IsCacheHit()
}

func (n *rueidisNode) L1Hits() uint64 { return n.hits.Load() }

func (n *rueidisNode) Close() error { n.c.Close(); return nil }

// Adapters returns every adapter, this library first.
func Adapters() []workload.Adapter {
	return []workload.Adapter{
		workload.Matroska{},
		workload.Matroska{Closure: true},
		workload.Matroska{Lease: true},
		workload.Ristretto{},
		workload.Ristretto{NoTTL: true},
		workload.GoRedis{},
		GoRedisCache{},
		Rueidis{},
	}
}
