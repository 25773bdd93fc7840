package remote

// Invalidations in phases (Config.InvalidateBatch): no script call blocks
// Redis for long, and from the first call on no old entry is served, no
// stale put lands, and nothing is left behind, even when the invalidating
// caller stops half-way.

import (
	"errors"
	"flag"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

var dependents = flag.Int("remote.dependents", 20_000,
	"dependent entries of TestInvalidateInPhasesBoundsEachCall (100000 for the full figure)")

// callLimit is the longest a script call of an invalidation may block Redis.
const callLimit = 50 * time.Millisecond

// A large invalidation runs in InvalidateBatch-sized calls, each well under
// the limit as Redis's SLOWLOG measures it, and leaves nothing behind.
func TestInvalidateInPhasesBoundsEachCall(t *testing.T) {
	n := *dependents
	e := newEnv(t)
	hot := deps.Tag("hot")
	var drains int
	e.s.afterPhase = func(member string, left int64) error {
		if member != "" {
			drains++
		}
		return nil
	}
	// A loaded machine can preempt Redis in the middle of a short call and
	// stretch it; a call that is too long in every one of three attempts is
	// not that.
	for attempt := 1; ; attempt++ {
		e.seedDependents(t, hot, "k", n)
		e.slowlogOn(t)
		drains = 0
		start := time.Now()
		st, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "test")
		total := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		calls := e.scriptCalls(t)
		if want := (n + 999) / 1000; drains != want {
			t.Fatalf("%d drain calls for %d dependents, want %d", drains, n, want)
		}
		if len(calls) < drains {
			t.Fatalf("SLOWLOG holds %d script calls, want at least the %d drains", len(calls), drains)
		}
		e.assertNothingLeft(t)
		if tomb := e.rdb.Get(e.ctx, e.s.TombstoneKey(hot)).Val(); tomb != strconv.FormatUint(st.Seq, 10) {
			t.Fatalf("tombstone %q, want %d", tomb, st.Seq)
		}
		if log, complete, err := e.s.Log(e.ctx, st.Seq-1, st.Seq); err != nil || !complete || len(log) != 1 {
			t.Fatalf("log of the invalidation: %+v, %v, %v", log, complete, err)
		}
		longest, sum := maxDuration(calls), sumDuration(calls)
		t.Logf("%d dependents: %d script calls, longest %v, all %v (SLOWLOG), Invalidate took %v", n, 1+drains, longest, sum, total)
		// On an idle machine every call is under callLimit. A loaded one
		// (CI runs the packages' tests side by side on two cores) stretches
		// every call alike, so the bound that holds there is a share of
		// the whole: with 21 calls of one budget each, no call takes more
		// than a quarter of their sum (a single script would take all of it).
		if longest < callLimit || longest*4 < sum {
			break
		}
		if attempt == 3 {
			t.Fatalf("a script call took %v of %v, limit %v or a quarter", longest, sum, callLimit)
		}
	}
}

// assertNothingLeft fails unless no entry, dependency set, pending set or
// registry member is left in Redis.
func (e *env) assertNothingLeft(t *testing.T) {
	t.Helper()
	for _, pattern := range []string{"t:e:*", "t:d:*", "t:p:*", "t:pending"} {
		if keys := e.rdb.Keys(e.ctx, pattern).Val(); len(keys) != 0 {
			t.Fatalf("%d keys %s left, first %q", len(keys), pattern, keys[0])
		}
	}
}

// From the first call on, no read returns an entry of the invalidation,
// although they are still in Redis; the invalidation is announced by the
// first call, and readers racing the phases never see an old entry at or
// after its sequence number.
func TestInvalidateInPhasesReadersMiss(t *testing.T) {
	const n = 5000
	e := newEnv(t, func(c *Config) { c.InvalidateBatch = 500 })
	hot := deps.Tag("hot")
	e.seedDependents(t, hot, "k", n)
	sub := e.rdb.Subscribe(e.ctx, e.s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(e.ctx); err != nil {
		t.Fatal(err)
	}
	before := e.state(t)
	// The racing readers read (and so drop) the first half of the keys;
	// the checks between phases sample the second half.
	key := func(r *rand.Rand, half int) string { return "k" + strconv.Itoa(half*n/2+r.IntN(n/2)) }

	// Readers racing the whole invalidation. A read at a sequence number
	// past before.Seq is after the first call: it must miss.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, after, stale atomic.Int64
	var readErr atomic.Value
	for w := range 2 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				st, _, found, err := e.s.Read(e.ctx, key(r, 0))
				if err != nil {
					readErr.CompareAndSwap(nil, err)
					return
				}
				reads.Add(1)
				if st.Seq > before.Seq {
					after.Add(1)
					if found {
						stale.Add(1)
					}
				}
			}
		})
	}

	r := rand.New(rand.NewPCG(1, 2))
	var phases int
	e.s.afterPhase = func(member string, left int64) error {
		phases++
		sample := make([]string, 100)
		for i := range sample {
			sample[i] = key(r, 1)
		}
		if member == "" {
			// After the first call every entry is still in Redis, and the
			// message is out.
			for _, k := range sample {
				if !e.hasEntry(t, k) {
					t.Errorf("entry %s gone after the first call; the test proves nothing", k)
				}
			}
			msg, err := sub.ReceiveMessage(e.ctx)
			if err != nil || !strings.Contains(msg.Payload, "\n"+strconv.FormatUint(before.Seq+1, 10)+"\n") {
				t.Errorf("message after the first call: %v, %v", msg, err)
			}
		}
		for _, k := range sample {
			st, _, found, err := e.s.Read(e.ctx, k)
			if err != nil || found || st.Seq != before.Seq+1 {
				t.Errorf("phase %d: Read(%s) = seq %d, found %v, %v; want a miss at %d", phases, k, st.Seq, found, err, before.Seq+1)
			}
		}
		return nil
	}
	for reads.Load() < 50 {
		time.Sleep(time.Millisecond)
	}
	st, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "test")
	close(stop)
	wg.Wait()
	if err != nil || st.Seq != before.Seq+1 {
		t.Fatalf("Invalidate = %+v, %v", st, err)
	}
	if err, _ := readErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	if phases != 1+n/500 {
		t.Fatalf("%d phases, want %d", phases, 1+n/500)
	}
	if stale.Load() != 0 {
		t.Fatalf("%d of %d reads after the first call returned an old entry", stale.Load(), after.Load())
	}
	// The misses were invalidations in progress, not lost indexes.
	if e.s.LostIndex() != 0 {
		t.Fatalf("LostIndex = %d, want 0", e.s.LostIndex())
	}
	e.assertNothingLeft(t)
	t.Logf("%d phases; %d racing reads, %d of them after the first call", phases, reads.Load(), after.Load())
}

// Writes racing the phases: a put marked before the invalidation is
// refused; a put marked after it, or a Set, lands in the fresh set and
// survives the deletion of the old entries, whether its key was already
// deleted, not yet deleted, or new.
func TestInvalidateInPhasesRacingWrites(t *testing.T) {
	const n = 3000
	e := newEnv(t, func(c *Config) { c.InvalidateBatch = 500 })
	hot := deps.Tag("hot")
	e.seedDependents(t, hot, "k", n)
	old := e.state(t)
	put := func(key string, mark State, want PutResult) {
		t.Helper()
		r, err := e.s.Put(e.ctx, key, Envelope{Deps: []deps.Dep{hot}, Payload: []byte("new " + key)}, time.Minute, mark)
		if err != nil || r != want {
			t.Errorf("Put(%s) marked at %d = %v, %v; want %v", key, mark.Seq, r, err, want)
		}
	}
	var calls int
	e.s.afterPhase = func(member string, left int64) error {
		calls++
		switch calls {
		case 1: // after the first call
			put("k7", old, RefusedStale)
			put("k8", e.state(t), Stored)
			put("fresh", e.state(t), Stored)
			if _, r, err := e.s.Set(e.ctx, "k9", Envelope{Deps: []deps.Dep{hot}, Payload: []byte("new k9")}, time.Minute, nil, "o"); err != nil || r != Stored {
				t.Errorf("Set(k9) = %v, %v", r, err)
			}
		case 3: // two batches deleted; the last keys are still to go
			if !e.hasEntry(t, "k2999") {
				t.Error("k2999 already deleted; the test proves nothing")
			}
			put("k2998", old, RefusedStale)
			put("k2999", e.state(t), Stored)
			put("k0", e.state(t), Stored) // deleted in the first batch
		}
		return nil
	}
	if _, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"k0", "k8", "k9", "k2999", "fresh"} {
		_, env, found, err := e.s.Read(e.ctx, k)
		if err != nil || !found || string(env.Payload) != "new "+k {
			t.Errorf("Read(%s) after the invalidation = %q, %v, %v; want the new value", k, env.Payload, found, err)
		}
	}
	for _, k := range []string{"k7", "k2998", "k1", "k2997"} {
		if e.hasEntry(t, k) {
			t.Errorf("old entry %s left", k)
		}
	}
	if m := e.members(t, hot); strings.Join(m, " ") != "fresh k0 k2999 k8 k9" {
		t.Fatalf("members of %v: %q", hot, m)
	}
	if bad := e.indexViolations(t); len(bad) > 0 {
		t.Fatalf("entries without index: %q", bad)
	}
	if keys := e.rdb.Keys(e.ctx, "t:p*").Val(); len(keys) != 0 {
		t.Fatalf("pending keys left: %q", keys)
	}
}

var errCrash = errors.New("the invalidating process died")

// The invalidating caller stops after the first call or between two
// batches (as a crash, a cancelled context or a lost connection would): the
// invalidation stays in effect, the entries left read as misses, their
// pending set keeps a TTL, and once SweepAfter has passed the next
// invalidation of any node deletes them.
func TestInvalidateInPhasesCrashThenSweep(t *testing.T) {
	for _, stopAfter := range []int{1, 3} { // calls: the first one; the first and two batches
		t.Run("after call "+strconv.Itoa(stopAfter), func(t *testing.T) {
			const n, batch = 3000, 500
			sweep := 400 * time.Millisecond
			e := newEnv(t, func(c *Config) { c.InvalidateBatch = batch; c.SweepAfter = sweep })
			hot := deps.Tag("hot")
			e.seedDependents(t, hot, "k", n)
			old := e.state(t)
			calls := 0
			e.s.afterPhase = func(string, int64) error {
				if calls++; calls == stopAfter {
					return errCrash
				}
				return nil
			}
			st, err := e.s.Invalidate(e.ctx, []deps.Dep{hot}, "test")
			if !errors.Is(err, errCrash) || !errors.Is(err, ErrUnfinished) || st.Seq != old.Seq+1 {
				t.Fatalf("Invalidate = %+v, %v; want the new state and the crash", st, err)
			}
			left := n - (stopAfter-1)*batch
			if got := len(e.rdb.Keys(e.ctx, "t:e:*").Val()); got != left {
				t.Fatalf("%d entries in Redis, want the %d not yet deleted", got, left)
			}
			pend := e.rdb.ZRange(e.ctx, e.s.PendingKey(), 0, -1).Val()
			if len(pend) != 1 {
				t.Fatalf("registry %q, want one pending set", pend)
			}
			set := "t:p:" + pend[0]
			if got := e.rdb.ZCard(e.ctx, set).Val(); got != int64(left) {
				t.Fatalf("pending set holds %d, want %d", got, left)
			}
			if ttl := e.rdb.PTTL(e.ctx, set).Val(); ttl <= 0 || ttl > 10*time.Minute {
				t.Fatalf("pending set PTTL %v, want the set's TTL (the longest entry's, 10m)", ttl)
			}
			// In effect: old entries miss, stale puts are refused.
			for i := n - 10; i < n; i++ {
				k := "k" + strconv.Itoa(i)
				if _, _, found, err := e.s.Read(e.ctx, k); err != nil || found {
					t.Fatalf("Read(%s) after the crash: found %v, %v", k, found, err)
				}
			}
			if r := e.put(t, "k0", time.Minute, old, hot); r != RefusedStale {
				t.Fatalf("put marked before the invalidation = %v", r)
			}
			// Another node: before SweepAfter the invalidation is not
			// taken over, after it the next Invalidate finishes it.
			other, err := New(Config{Redis: e.rdb, Namespace: "t", SweepAfter: sweep})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Invalidate(e.ctx, []deps.Dep{deps.Tag("unrelated")}, "other"); err != nil {
				t.Fatal(err)
			}
			if e.rdb.ZCard(e.ctx, e.s.PendingKey()).Val() != 1 {
				t.Fatal("an invalidation still within SweepAfter was taken over")
			}
			deadline := int64(e.rdb.ZScore(e.ctx, e.s.PendingKey(), pend[0]).Val())
			for e.redisNowMs(t) <= deadline {
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := other.Invalidate(e.ctx, []deps.Dep{deps.Tag("unrelated")}, "other"); err != nil {
				t.Fatal(err)
			}
			e.assertNothingLeft(t)
		})
	}
}

// An invalidation whose sets hold at most InvalidateBatch members is one
// script call; one more member sends it through phases. Sets are emptied in
// the first call, in argument order, while they fit in the budget; only the
// others are set aside.
func TestInvalidateBatchThreshold(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InvalidateBatch = 10 })
	var members []string
	e.s.afterPhase = func(member string, left int64) error {
		if member != "" && left == 0 {
			members = append(members, member)
		}
		return nil
	}
	e.invalidate(t, deps.Tag("warm-up")) // loads the script
	seed := func(d deps.Dep, n int) {
		for i := range n {
			e.mustPut(t, d.String()+strconv.Itoa(i), d)
		}
	}
	h := &countHook{}
	e.rdb.AddHook(h)

	seed(deps.Tag("a"), 10)
	h.take()
	e.invalidate(t, deps.Tag("a"))
	if trips := h.take(); len(trips) != 1 || len(members) != 0 {
		t.Fatalf("10 members, batch 10: %d round trips, pending %q; want one call", len(trips), members)
	}

	seed(deps.Tag("a"), 11)
	e.invalidate(t, deps.Tag("a"))
	if len(members) != 1 || !strings.HasSuffix(members[0], ":tag:a") {
		t.Fatalf("11 members, batch 10: pending %q; want tag:a set aside", members)
	}

	members = nil
	seed(deps.Tag("a"), 6)
	seed(deps.Tag("b"), 3)
	seed(deps.Tag("c"), 8)
	e.invalidate(t, deps.Tag("a"), deps.Tag("b"), deps.Tag("c"))
	if len(members) != 1 || !strings.HasSuffix(members[0], ":tag:c") {
		t.Fatalf("6+3+8 members, batch 10: pending %q; want only tag:c set aside", members)
	}
	e.assertNothingLeft(t)
}

// Set, an invalidation of the entries that contain the key, runs in phases
// too when they are many; the new value is there when it returns.
func TestSetInPhases(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.InvalidateBatch = 10 })
	inner := deps.Key("inner")
	e.mustPut(t, "inner", deps.Tag("x"))
	for i := range 25 {
		e.mustPut(t, "outer"+strconv.Itoa(i), inner, deps.Id("row", i))
	}
	drains := 0
	e.s.afterPhase = func(member string, left int64) error {
		if member != "" {
			drains++
		}
		return nil
	}
	st, r, err := e.s.Set(e.ctx, "inner", Envelope{Deps: []deps.Dep{deps.Tag("x")}, Payload: []byte("v2")}, time.Minute, nil, "o")
	if err != nil || r != Stored {
		t.Fatalf("Set = %v, %v", r, err)
	}
	if drains != 3 {
		t.Fatalf("%d drain calls for 25 containers, batch 10; want 3", drains)
	}
	rst, env, found, err := e.s.Read(e.ctx, "inner")
	if err != nil || !found || string(env.Payload) != "v2" || rst != st {
		t.Fatalf("Read after Set = %q, %v, %v at %+v", env.Payload, found, err, rst)
	}
	if keys := e.rdb.Keys(e.ctx, "t:e:outer*").Val(); len(keys) != 0 {
		t.Fatalf("containers left: %q", keys)
	}
	if keys := e.rdb.Keys(e.ctx, "t:p*").Val(); len(keys) != 0 {
		t.Fatalf("pending keys left: %q", keys)
	}
	if bad := e.indexViolations(t); len(bad) > 0 {
		t.Fatalf("entries without index: %q", bad)
	}
}

// seedWide stores n entries "<prefix><i>" that depend on hot and on the
// same w further dependencies deps.Id("wide", 0..w-1): deleting one costs
// Redis w ZREMs besides its own DEL.
func (e *env) seedWide(t testing.TB, hot deps.Dep, prefix string, n, w int) {
	t.Helper()
	ds := []deps.Dep{hot}
	for j := range w {
		ds = append(ds, deps.Id("wide", j))
	}
	mark := e.state(t)
	for i := range n {
		if r := e.put(t, prefix+strconv.Itoa(i), time.Minute, mark, ds...); r != Stored {
			t.Fatalf("seeding put = %v", r)
		}
	}
}

// zremCalls is the number of ZREM commands Redis has run since the last
// CONFIG RESETSTAT, those of scripts included.
func (e *env) zremCalls(t testing.TB) int64 {
	t.Helper()
	info, err := e.rdb.Info(e.ctx, "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(info, "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "cmdstat_zrem:calls="); ok {
			n, err := strconv.ParseInt(rest[:strings.IndexByte(rest, ',')], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	return 0
}

// The budget of a script call of an invalidation counts the ZREMs of the
// entries it deletes (one per four further dependencies), not set members
// only: with entries of many dependencies neither the first call nor a
// drain call does much more than the budget allows, and everything is
// gone at the end.
func TestInvalidateBudgetCountsDependencies(t *testing.T) {
	const (
		batch   = 100
		w       = 40                        // further dependencies of each entry
		cost    = 1 + w/4                   // of each entry, in the budget's units
		limit   = 4*batch + w               // ZREMs a call may run: the budget, and one entry past it
		perCall = (batch + cost - 1) / cost // entries a call may delete
	)
	for _, tc := range []struct {
		name string
		n    int // entries; more than batch are set aside at once
	}{
		{"first call", batch * 8 / 10},
		{"drain calls", batch * 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.InvalidateBatch = batch })
			hot := deps.Tag("hot")
			e.seedWide(t, hot, "k", tc.n, w)
			if err := e.rdb.ConfigResetStat(e.ctx).Err(); err != nil {
				t.Fatal(err)
			}
			var per []int64 // ZREMs of each script call
			var seen int64
			measure := func() {
				n := e.zremCalls(t)
				per = append(per, n-seen)
				seen = n
			}
			e.s.afterPhase = func(string, int64) error {
				measure()
				return nil
			}
			e.invalidate(t, hot)
			if len(per) == 0 {
				measure() // one call did it all
			}
			for i, n := range per {
				if n > limit {
					t.Fatalf("script call %d of %d ran %d ZREMs; the budget of %d allows about %d",
						i+1, len(per), n, batch, limit)
				}
			}
			if want := (tc.n + perCall - 1) / perCall; len(per) < want {
				t.Fatalf("%d script calls for %d entries of cost %d, want at least %d", len(per), tc.n, cost, want)
			}
			e.assertNothingLeft(t)
			t.Logf("%d entries of %d dependencies: %d script calls, ZREMs %v", tc.n, 1+w, len(per), per)
		})
	}
}
