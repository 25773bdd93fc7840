package remote

// The defects of py-matroska-cache (shared/seed/FACTS.md), each shown
// impossible here.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// Defect 1: invalidate running between put's SADD and SETEX left an entry
// without index. Here puts and invalidates race freely while a checker
// verifies, atomically inside Redis, that every entry is a member of each
// of its dependencies' sets; at the end a last check runs.
func TestSeedDefect1_InvalidateRacingPutNeverLeavesUnindexedEntry(t *testing.T) {
	raceInvalidateAndPut(t, newEnv(t))
}

// The same race with invalidations in phases: a batch of 2 sends nearly
// every invalidation through the pending sets.
func TestSeedDefect1_InPhases(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InvalidateBatch = 2 })
	var phased, drains atomic.Int64
	e.s.afterPhase = func(member string, left int64) error {
		if member == "" {
			phased.Add(1)
		} else {
			drains.Add(1)
		}
		return nil
	}
	raceInvalidateAndPut(t, e)
	if phased.Load() == 0 || drains.Load() == 0 {
		t.Fatalf("%d invalidations in phases, %d drain calls: the phases were not exercised", phased.Load(), drains.Load())
	}
	if n := e.rdb.ZCard(e.ctx, e.s.PendingKey()).Val(); n != 0 {
		t.Fatalf("%d invalidations left pending", n)
	}
	t.Logf("%d invalidations in phases, %d drain calls", phased.Load(), drains.Load())
}

func raceInvalidateAndPut(t *testing.T, e *env) {
	pool := make([]deps.Dep, 12)
	for i := range pool {
		pool[i] = deps.Id("row", i)
	}
	pick := func(r *rand.Rand) []deps.Dep {
		ds := make([]deps.Dep, 1+r.IntN(4))
		for i := range ds {
			ds[i] = pool[r.IntN(len(pool))]
		}
		if r.IntN(4) == 0 {
			ds = append(ds, deps.Key(fmt.Sprint("k", r.IntN(40)))) // nesting
		}
		return ds
	}
	deadline := time.Now().Add(1500 * time.Millisecond)
	var wg sync.WaitGroup
	var puts, stored, invs, checks atomic.Int64
	var failed atomic.Value
	fail := func(err error) { failed.CompareAndSwap(nil, err) }
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for time.Now().Before(deadline) && failed.Load() == nil {
				mark, err := e.s.State(e.ctx)
				if err != nil {
					fail(err)
					return
				}
				key := fmt.Sprint("k", r.IntN(40))
				res, err := e.s.Put(e.ctx, key, Envelope{Deps: pick(r), Payload: []byte(key)}, time.Minute, mark)
				if err != nil {
					fail(err)
					return
				}
				puts.Add(1)
				if res == Stored {
					stored.Add(1)
				}
			}
		}(w)
	}
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for time.Now().Before(deadline) && failed.Load() == nil {
				var err error
				if r.IntN(5) == 0 {
					key := fmt.Sprint("k", r.IntN(40))
					_, _, err = e.s.Set(e.ctx, key, Envelope{Deps: pick(r)}, time.Minute, nil, "w")
				} else {
					_, err = e.s.Invalidate(e.ctx, pick(r), "w")
				}
				if err != nil {
					fail(err)
					return
				}
				invs.Add(1)
			}
		}(w)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for time.Now().Before(deadline) && failed.Load() == nil {
			bad, err := e.checkIndex()
			if err != nil {
				fail(err)
			} else if len(bad) > 0 {
				fail(fmt.Errorf("entries without index: %q", bad))
			}
			checks.Add(1)
		}
	}()
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	if bad := e.indexViolations(t); len(bad) > 0 {
		t.Fatalf("entries without index: %q", bad)
	}
	if stored.Load() == 0 || stored.Load() == puts.Load() {
		t.Fatalf("the race did not exercise both outcomes: %d of %d puts stored", stored.Load(), puts.Load())
	}
	t.Logf("%d puts (%d stored), %d invalidations and sets, %d atomic index checks", puts.Load(), stored.Load(), invs.Load(), checks.Load())
}

// Defect 2: a value loaded before an invalidation was stored after it.
// Here the put carries its start mark and is refused; the next read misses.
func TestSeedDefect2_StaleWriteRefused(t *testing.T) {
	e := newEnv(t)
	d := deps.Id("article", 1)
	e.mustPut(t, "a1", d)
	_, _, found, err := e.s.Read(e.ctx, "a1")
	if err != nil || !found {
		t.Fatal("setup: entry not readable")
	}
	mark, _, _, _ := e.s.Read(e.ctx, "missing") // a loader's start mark
	e.invalidate(t, d)                          // the database changed meanwhile
	if r := e.put(t, "a1", time.Minute, mark, d); r != RefusedStale {
		t.Fatalf("stale put = %v, want refused", r)
	}
	if _, _, found, err := e.s.Read(e.ctx, "a1"); err != nil || found {
		t.Fatalf("after the refused put: found %v, %v; want a miss", found, err)
	}
}

// Defect 3: retries gave up silently and dependency sets were left without
// a TTL (and grew). Here every write is one script, every dependency set
// has a TTL at least as long as its longest member, and expired members are
// trimmed.
func TestSeedDefect3_DepSetsAlwaysExpireAndStayBounded(t *testing.T) {
	e := newEnv(t)
	d := deps.Tag("hot")
	// A set left without TTL (by an older writer, by hand) gets one.
	if err := e.rdb.ZAdd(e.ctx, e.s.DepKey(d), redisZ("ghost")).Err(); err != nil {
		t.Fatal(err)
	}
	if r := e.put(t, "a", 10*time.Second, e.state(t), d); r != Stored {
		t.Fatal(r)
	}
	pttl := e.rdb.PTTL(e.ctx, e.s.DepKey(d)).Val()
	if pttl <= 9*time.Second || pttl > 10*time.Second {
		t.Fatalf("set PTTL %v after a 10s put, want about 10s", pttl)
	}
	// A longer entry raises it; a shorter one never lowers it.
	e.put(t, "b", time.Minute, e.state(t), d)
	e.put(t, "c", time.Second, e.state(t), d)
	if pttl := e.rdb.PTTL(e.ctx, e.s.DepKey(d)).Val(); pttl <= 59*time.Second {
		t.Fatalf("set PTTL %v, want at least the longest entry's minute", pttl)
	}
	// Absolute expiry times (PEXPIRETIME), so that the time between the two
	// reads does not count.
	set := e.rdb.PExpireTime(e.ctx, e.s.DepKey(d)).Val()
	for _, k := range []string{"a", "b", "c"} {
		if entry := e.rdb.PExpireTime(e.ctx, e.s.EntryKey(k)).Val(); set < entry {
			t.Fatalf("set expires at %v, before entry %s (%v)", set, k, entry)
		}
	}

	// Bounded: a set that lives on (an entry of a minute keeps it) while
	// short-lived entries come and go is trimmed of the expired ones by the
	// puts that follow. One in 8 of the puts that add a member trims (see
	// index_in in util.lua): 200 of them without a trim has a chance of
	// (7/8)^200, about 1e-12.
	churn := deps.Tag("churn")
	e.put(t, "anchor", time.Minute, e.state(t), churn)
	for i := 0; i < 200; i++ {
		e.put(t, fmt.Sprint("short", i), 20*time.Millisecond, e.state(t), churn)
	}
	waitUntil(t, func() bool { return !e.hasEntry(t, "short199") })
	live := []string{"anchor"}
	for i := 0; i < 200 && len(e.members(t, churn)) > len(live); i++ {
		k := fmt.Sprint("survivor", i)
		if r := e.put(t, k, time.Minute, e.state(t), churn); r != Stored {
			t.Fatal(r)
		}
		live = append(live, k)
	}
	slices.Sort(live)
	if m := e.members(t, churn); !slices.Equal(m, live) {
		t.Fatalf("churned set holds %d members after %d more puts, want only the %d live ones", len(m), len(live)-1, len(live))
	}

	// No dependency set anywhere is without a TTL.
	keys, err := e.rdb.Keys(e.ctx, e.s.keys.depPrefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if ttl := e.rdb.PTTL(e.ctx, k).Val(); ttl <= 0 {
			t.Fatalf("dependency set %s has PTTL %v", k, ttl)
		}
	}
}

// Defect 4: invalidating one dependency left the key in its other
// dependencies' sets.
func TestSeedDefect4_InvalidateLeavesNoDeadMembers(t *testing.T) {
	e := newEnv(t)
	a, b, c := deps.Id("a", 1), deps.Id("b", 1), deps.Id("c", 1)
	e.mustPut(t, "k", a, b, c)
	e.invalidate(t, a)
	for _, d := range []deps.Dep{a, b, c} {
		if m := e.members(t, d); len(m) != 0 {
			t.Fatalf("%v still lists %q", d, m)
		}
	}
}

// Defect 5: re-putting a key with other dependencies kept the old ones, so
// invalidating an old dependency removed the new value.
func TestSeedDefect5_RePutDropsOldDeps(t *testing.T) {
	e := newEnv(t)
	a, b, c := deps.Id("a", 1), deps.Id("b", 1), deps.Id("c", 1)
	e.mustPut(t, "k", a, b)
	e.mustPut(t, "k", b, c)
	if m := e.members(t, a); len(m) != 0 {
		t.Fatalf("old dependency a still lists %q", m)
	}
	e.invalidate(t, a)
	if !e.hasEntry(t, "k") {
		t.Fatal("invalidating a dependency the entry no longer has removed it")
	}
	_, env, _, _ := e.s.Read(e.ctx, "k")
	if len(env.Deps) != 2 || env.Deps[0] != b || env.Deps[1] != c {
		t.Fatalf("entry deps %v, want [b c]", env.Deps)
	}
	// The same through Set.
	if _, r, err := e.s.Set(e.ctx, "k", Envelope{Deps: []deps.Dep{a}}, time.Minute, nil, "o"); err != nil || r != Stored {
		t.Fatal(r, err)
	}
	for _, d := range []deps.Dep{b, c} {
		if m := e.members(t, d); len(m) != 0 {
			t.Fatalf("after Set, %v still lists %q", d, m)
		}
	}
}

// Scores and trims use Redis's clock: a member's score is Redis TIME plus
// the TTL, the trim cuts exactly the members Redis's clock says expired,
// and no script argument carries a client timestamp.
func TestTrimUsesRedisTime(t *testing.T) {
	e := newEnv(t)
	d := deps.Tag("x")
	now := e.redisNowMs(t)
	set := e.s.DepKey(d)
	if err := e.rdb.ZAdd(e.ctx, set,
		zs("expired", now-5_000), zs("live", now+60_000)).Err(); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	e.rdb.AddHook(h)
	mark := e.state(t)
	before := e.redisNowMs(t)
	if r := e.put(t, "k", 30*time.Second, mark, d); r != Stored {
		t.Fatal(r)
	}
	after := e.redisNowMs(t)
	score, err := e.rdb.ZScore(e.ctx, set, "k").Result()
	if err != nil {
		t.Fatal(err)
	}
	if s := int64(score); s < before+30_000 || s > after+30_000 {
		t.Fatalf("score %d, want Redis time + 30000 in [%d, %d]", s, before+30_000, after+30_000)
	}
	// The entry expires exactly at its score, and the set no earlier.
	if at := e.rdb.PExpireTime(e.ctx, e.s.EntryKey("k")).Val(); at.Milliseconds() != int64(score) {
		t.Fatalf("entry expires at %d, its score is %d", at.Milliseconds(), int64(score))
	}
	if at := e.rdb.PExpireTime(e.ctx, set).Val(); at.Milliseconds() < int64(score) {
		t.Fatalf("set expires at %d, before its member (%d)", at.Milliseconds(), int64(score))
	}
	// One in 8 of the puts that add a member trims (see index_in in
	// util.lua): more of them follow until one has.
	want := []string{"k", "live"}
	for i := 1; slices.Contains(e.members(t, d), "expired"); i++ {
		if i > 200 {
			t.Fatal("the expired member is still in the set after 200 puts that added one")
		}
		k := fmt.Sprint("k", i)
		if r := e.put(t, k, 30*time.Second, mark, d); r != Stored {
			t.Fatal(r)
		}
		want = append(want, k)
	}
	slices.Sort(want)
	if m := e.members(t, d); !slices.Equal(m, want) {
		t.Fatalf("members %q, want %q: the expired member alone trimmed", m, want)
	}
	clientNow := time.Now().UnixMilli()
	for _, trip := range h.take() {
		for _, c := range trip {
			var n int64
			for _, w := range splitWords(c) {
				if _, err := fmt.Sscan(w, &n); err == nil && n > clientNow-86_400_000 && n < clientNow+86_400_000 {
					t.Fatalf("command %q carries a client timestamp %d", c, n)
				}
			}
		}
	}
}

func TestErrorsArePrefixed(t *testing.T) {
	for _, err := range []error{ErrCorrupt, ErrConfig, ErrInvalidDep, ErrInvalidTTL, ErrEmptyKey, ErrInvalidOrigin, ErrUnfinished, ErrState} {
		if msg := err.Error(); len(msg) < 8 || msg[:8] != "remote: " {
			t.Errorf("error %q lacks the remote: prefix", msg)
		}
	}
	e := newEnv(t)
	_, err := e.s.Put(e.ctx, "k", Envelope{Deps: []deps.Dep{{}}}, time.Second, State{})
	if !errors.Is(err, ErrInvalidDep) {
		t.Fatalf("zero dep: %v", err)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// The checker of defect 1 does see an entry without index.
func TestIndexCheckerSeesUnindexedEntry(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "ok", deps.Tag("a"))
	if bad := e.indexViolations(t); len(bad) != 0 {
		t.Fatalf("violations %q in a clean store", bad)
	}
	raw := AppendEnvelope(nil, Envelope{Deps: []deps.Dep{deps.Tag("a"), deps.Tag("b")}})
	if err := e.rdb.Set(e.ctx, e.s.EntryKey("orphan"), raw, time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if bad := e.indexViolations(t); len(bad) != 2 {
		t.Fatalf("violations %q, want orphan under tag:a and tag:b", bad)
	}
}
