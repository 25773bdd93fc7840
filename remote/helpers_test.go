package remote

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// env is one test's private Redis and a Store on it.
type env struct {
	srv *redistest.Server
	rdb *redis.Client
	s   *Store
	ctx context.Context
}

// newEnv starts a private redis-server and a Store of namespace "t" on it;
// mutate (optional) adjusts the Config.
func newEnv(t testing.TB, mutate ...func(*Config)) *env {
	t.Helper()
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	cfg := Config{Redis: rdb, Namespace: "t"}
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, rdb: rdb, s: s, ctx: context.Background()}
}

func (e *env) state(t testing.TB) State {
	t.Helper()
	st, err := e.s.State(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *env) put(t testing.TB, key string, ttl time.Duration, mark State, ds ...deps.Dep) PutResult {
	t.Helper()
	r, err := e.s.Put(e.ctx, key, Envelope{Deps: ds, Payload: []byte("v:" + key)}, ttl, mark)
	if err != nil {
		t.Fatalf("Put(%q): %v", key, err)
	}
	return r
}

// mustPut puts key at the current state and fails unless it was stored.
func (e *env) mustPut(t testing.TB, key string, ds ...deps.Dep) {
	t.Helper()
	if r := e.put(t, key, time.Minute, e.state(t), ds...); r != Stored {
		t.Fatalf("Put(%q) = %v, want stored", key, r)
	}
}

func (e *env) invalidate(t testing.TB, ds ...deps.Dep) State {
	t.Helper()
	st, err := e.s.Invalidate(e.ctx, ds, "test")
	if err != nil {
		t.Fatalf("Invalidate(%v): %v", ds, err)
	}
	return st
}

func (e *env) exists(t testing.TB, key string) bool {
	t.Helper()
	n, err := e.rdb.Exists(e.ctx, key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func (e *env) hasEntry(t testing.TB, key string) bool {
	t.Helper()
	return e.exists(t, e.s.EntryKey(key))
}

func (e *env) members(t testing.TB, d deps.Dep) []string {
	t.Helper()
	m, err := e.s.DepMembers(e.ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(m)
	return m
}

// redisNowMs is Redis's clock in milliseconds.
func (e *env) redisNowMs(t testing.TB) int64 {
	t.Helper()
	now, err := e.rdb.Time(e.ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	return now.UnixMilli()
}

// snapshot copies every key of the namespace with its type and value, to
// show that a refused write changed nothing.
func (e *env) snapshot(t testing.TB) map[string]string {
	t.Helper()
	keys, err := e.rdb.Keys(e.ctx, "t:*").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		dump, err := e.rdb.Dump(e.ctx, k).Result()
		if err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		out[k] = dump
	}
	return out
}

// dataSnapshot is snapshot without the keys of the state (sequence, epoch,
// guard, log): entries, dependency sets, tombstones and the rest.
func (e *env) dataSnapshot(t testing.TB) map[string]string {
	t.Helper()
	out := e.snapshot(t)
	for _, k := range []string{e.s.SeqKey(), e.s.EpochKey(), e.s.keys.hist, e.s.LogKey()} {
		delete(out, k)
	}
	return out
}

// checkIndexScript verifies G2 atomically, inside Redis: every entry of the
// namespace is a member of the set of each of its dependencies, or of a
// registered pending set of that dependency (an invalidation in phases has
// set it aside: it reads as a miss and is about to be deleted). It returns
// the violations as "key dep" strings.
var checkIndexScript = redis.NewScript(luaEnvelope + `
local pe, pd, kpend, pp = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local pending = {}
for _, p in ipairs(redis.call('ZRANGE', kpend, 0, -1)) do
  local c1 = string.find(p, ':', 1, true)
  local d = string.sub(p, string.find(p, ':', c1 + 1, true) + 1)
  pending[d] = pending[d] or {}
  table.insert(pending[d], pp .. p)
end
local bad = {}
for _, ek in ipairs(redis.call('KEYS', pe .. '*')) do
  local v = redis.call('GET', ek)
  local m = string.sub(ek, #pe + 1)
  for _, d in ipairs(env_deps(v) or {}) do
    local ok = redis.call('ZSCORE', pd .. d, m)
    for _, set in ipairs(pending[d] or {}) do
      ok = ok or redis.call('ZSCORE', set, m)
    end
    if not ok then
      bad[#bad + 1] = m .. ' ' .. d
    end
  end
end
return bad
`)

func (e *env) indexViolations(t testing.TB) []string {
	t.Helper()
	bad, err := e.checkIndex()
	if err != nil {
		t.Fatal(err)
	}
	return bad
}

// checkIndex is indexViolations for goroutines other than the test's.
func (e *env) checkIndex() ([]string, error) {
	return checkIndexScript.Run(e.ctx, e.rdb, nil,
		e.s.keys.entryPrefix, e.s.keys.depPrefix, e.s.keys.pending, e.s.keys.pendPrefix).StringSlice()
}

// countHook counts the round trips a client makes: single commands and
// pipelines, and records the names of the commands of each.
type countHook struct {
	mu    sync.Mutex
	trips [][]string
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.record([]redis.Cmder{cmd})
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.record(cmds)
		return next(ctx, cmds)
	}
}

func (h *countHook) record(cmds []redis.Cmder) {
	var names []string
	for _, c := range cmds {
		if n := c.Name(); n == "hello" || n == "client" {
			continue // connection set-up, not part of the operation
		}
		words := make([]string, len(c.Args()))
		for i, a := range c.Args() {
			words[i] = fmt.Sprint(a)
		}
		names = append(names, strings.Join(words, " "))
	}
	if len(names) == 0 {
		return
	}
	h.mu.Lock()
	h.trips = append(h.trips, names)
	h.mu.Unlock()
}

func (h *countHook) take() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.trips
	h.trips = nil
	return t
}

func redisZ(member string) redis.Z { return redis.Z{Score: 1 << 50, Member: member} }

func xadd(stream, id string, values ...any) *redis.XAddArgs {
	return &redis.XAddArgs{Stream: stream, ID: id, Values: values}
}

func zs(member string, score int64) redis.Z { return redis.Z{Score: float64(score), Member: member} }

func splitWords(s string) []string { return strings.Fields(s) }
