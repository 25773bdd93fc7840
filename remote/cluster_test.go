package remote

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// cenv is one test's private 3-master cluster and a cluster store on it.
type cenv struct {
	cl  *redistest.Cluster
	rdb *redis.ClusterClient
	s   *clusterStore
	ctx context.Context
}

// TestCluster runs the cluster protocol's tests on one private 3-master
// cluster, each in a namespace of its own.
func TestCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	for _, tc := range []struct {
		name   string
		test   func(*testing.T, *cenv)
		mutate func(*Config)
	}{
		{"PutReadInvalidate", testClusterPutReadInvalidate, nil},
		{"G1_PutRacingInvalidation", testClusterG1PutRacingInvalidation, nil},
		{"PublishesInSequenceOrder", testClusterPublishesInSequenceOrder, nil},
		{"G1_MarkedSetRacingInvalidations", testClusterMarkedSetRacingInvalidations, nil},
		{"OversizedMessageRefersToLog", testClusterOversizedMessageRefersToLog, nil},
		{"LargeInvalidationDoesNotHoldBackOthers", testClusterLargeInvalidationDoesNotHoldBackOthers,
			func(c *Config) { c.InvalidateBatch = 20 }},
		{"CrashedInvalidationIsSwept", testClusterCrashedInvalidationIsSwept,
			func(c *Config) { c.SweepAfter = 200 * time.Millisecond }},
		{"G2_LostIndexYieldsMiss", testClusterG2LostIndexYieldsMiss, nil},
		{"EpochChange", testClusterEpochChange, nil},
		{"SeedDefect1_RacingPutsAndInvalidations", testClusterSeedDefect1,
			func(c *Config) { c.InvalidateBatch = 3 }},
		{"RoundTrips", testClusterRoundTrips, nil},
		{"DepSetsExpireAndStayBounded", testClusterDepSetsExpireAndStayBounded, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.test(t, newClusterEnv(t, rc, tc.name, tc.mutate)) })
	}
}

func newClusterEnv(t testing.TB, cl *redistest.Cluster, ns string, mutate func(*Config)) *cenv {
	t.Helper()
	rdb := cl.Client(t)
	cfg := Config{Redis: rdb, Namespace: ns}
	if mutate != nil {
		mutate(&cfg)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return &cenv{cl: cl, rdb: rdb, s: newClusterStore(cfg, new(atomic.Uint64)), ctx: context.Background()}
}

func (e *cenv) state(t testing.TB) State {
	t.Helper()
	st, err := e.s.state(e.ctx, State{})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func (e *cenv) put(t testing.TB, key string, mark State, ds ...deps.Dep) PutResult {
	t.Helper()
	r, err := e.s.put(e.ctx, key, Envelope{Deps: ds, Payload: []byte("v:" + key)}, time.Minute, mark)
	if err != nil {
		t.Fatalf("put %q: %v", key, err)
	}
	return r
}

func (e *cenv) invalidate(t testing.TB, ds ...deps.Dep) State {
	t.Helper()
	st, err := e.s.invalidate(e.ctx, ds, "test")
	if err != nil {
		t.Fatalf("invalidate %v: %v", ds, err)
	}
	return st
}

func (e *cenv) hit(t testing.TB, key string) bool {
	t.Helper()
	_, _, found, err := e.s.read(e.ctx, key, State{})
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return found
}

func (e *cenv) stored(t testing.TB, key string) bool {
	t.Helper()
	n, err := e.rdb.Exists(e.ctx, e.s.k.entry(key)).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestClusterKeysShareSlots(t *testing.T) {
	k := newClusterKeys("ns")
	tag := func(key string) string {
		i := strings.IndexByte(key, '{')
		j := strings.IndexByte(key[i+1:], '}')
		return key[i+1 : i+1+j]
	}
	for _, c := range k.control() {
		if tag(c) != "ns" {
			t.Errorf("control key %q has tag %q", c, tag(c))
		}
	}
	if tag(k.channel) != "ns" {
		t.Errorf("channel %q", k.channel)
	}
	for _, d := range []deps.Dep{deps.Tag("}{"), deps.Key("a{b}c"), deps.Id("x", "{}"), deps.Tag("plain")} {
		if tag(k.depKey(d)) != d.String() || tag(k.tombKey(d)) != d.String() || tag(k.pend(d.String(), "7")) != d.String() {
			t.Errorf("%v: set %q, tombstone %q do not share the tag %q", d, k.depKey(d), k.tombKey(d), d.String())
		}
	}
}

func testClusterPutReadInvalidate(t *testing.T, e *cenv) {
	a, b := deps.Id("article", 1), deps.Tag("front")
	st := e.state(t)
	if st.Seq != 0 || st.Epoch == "" {
		t.Fatalf("fresh state %+v", st)
	}
	if r := e.put(t, "page", st, a, b); r != Stored {
		t.Fatalf("put = %v", r)
	}
	if r := e.put(t, "other", st, b); r != Stored {
		t.Fatalf("put = %v", r)
	}
	got, env, found, err := e.s.read(e.ctx, "page", State{})
	if err != nil || !found || string(env.Payload) != "v:page" || len(env.Deps) != 2 || env.TTL <= 0 || got != st {
		t.Fatalf("read = %+v %+v %v %v", got, env, found, err)
	}
	inv := e.invalidate(t, a)
	if inv.Seq != 1 || inv.Epoch != st.Epoch {
		t.Fatalf("invalidate = %+v", inv)
	}
	if e.hit(t, "page") || e.stored(t, "page") {
		t.Fatal("invalidated entry still there")
	}
	if !e.hit(t, "other") {
		t.Fatal("unrelated entry gone")
	}
	if st := e.state(t); st.Seq != 1 {
		t.Fatalf("published watermark %d, want 1", st.Seq)
	}
	// A put marked before the invalidation is refused.
	if r := e.put(t, "page", st, a); r != RefusedStale {
		t.Fatalf("stale put = %v", r)
	}
	// deps.Key names the entry itself.
	e.invalidate(t, deps.Key("other"))
	if e.stored(t, "other") {
		t.Fatal("Key invalidation left the entry")
	}
	// Set writes and invalidates the entries that contain the key.
	cur := e.state(t)
	if r := e.put(t, "outer", cur, deps.Key("inner")); r != Stored {
		t.Fatal(r)
	}
	st2, r, err := e.s.set(e.ctx, "inner", Envelope{Deps: []deps.Dep{b}, Payload: []byte("new")}, time.Minute, nil, "test")
	if err != nil || r != Stored || st2.Seq != 3 {
		t.Fatalf("set = %+v %v %v", st2, r, err)
	}
	if e.stored(t, "outer") {
		t.Fatal("set left the entry that contains the key")
	}
	if _, env, found, _ := e.s.read(e.ctx, "inner", State{}); !found || string(env.Payload) != "new" {
		t.Fatalf("set value not read back: %v %q", found, env.Payload)
	}
	// A Set marked before an invalidation of its dependency is refused and
	// changes nothing.
	old := e.state(t)
	e.invalidate(t, b)
	if _, r, err := e.s.set(e.ctx, "inner", Envelope{Deps: []deps.Dep{b}, Payload: []byte("stale")}, time.Minute, &old, "test"); err != nil || r != RefusedStale {
		t.Fatalf("stale set = %v %v", r, err)
	}
	if e.hit(t, "inner") {
		t.Fatal("stale set stored")
	}
}

// pauser blocks a cluster store at one step until released.
type pauser struct {
	reached chan struct{}
	release chan struct{}
	once    sync.Once
}

// pauseAt makes s stop at each of steps in turn; the pausers are released
// one by one.
func pauseAt(s *clusterStore, steps ...string) []*pauser {
	ps := make([]*pauser, len(steps))
	at := map[string]*pauser{}
	for i, step := range steps {
		ps[i] = &pauser{reached: make(chan struct{}), release: make(chan struct{})}
		at[step] = ps[i]
	}
	s.crashAt = func(step string) bool {
		if p := at[step]; p != nil {
			p.once.Do(func() {
				close(p.reached)
				<-p.release
			})
		}
		return false
	}
	return ps
}

// The put race across slots, deterministically: a put marked before an
// invalidation passes its check (P1) before the invalidation's tombstone,
// the invalidation runs whole, then the put writes. The recheck must remove
// the entry, and no read may serve it meanwhile.
func testClusterG1PutRacingInvalidation(t *testing.T, e *cenv) {
	dep := deps.Id("row", 1)
	for _, window := range []bool{false, true} {
		t.Run(fmt.Sprint("reader in the window ", window), func(t *testing.T) {
			key := fmt.Sprint("k", window)
			mark := e.state(t)
			// The writer is a store of its own, so that the invalidator is
			// not paused with it.
			w := *e.s
			ps := pauseAt(&w, "P2", "P3")
			res := make(chan PutResult, 1)
			go func() {
				r, err := w.put(e.ctx, key, Envelope{Deps: []deps.Dep{dep}, Payload: []byte("old")}, time.Minute, mark)
				if err != nil {
					t.Error(err)
				}
				res <- r
			}()
			<-ps[0].reached
			e.invalidate(t, dep)
			close(ps[0].release)
			<-ps[1].reached
			if window {
				// The stale entry is in Redis, indexed in the fresh set if a
				// newer put of the key added it there: a reader must still
				// refuse it.
				if !e.stored(t, key) {
					t.Fatal("entry not written yet: the test does not exercise the window")
				}
				fresh := e.state(t)
				if r, err := e.s.index(e.ctx, key, []deps.Dep{dep}, time.Minute, fresh, fresh); err != nil || r != Stored {
					t.Fatalf("newer index = %v %v", r, err)
				}
				if e.hit(t, key) {
					t.Fatal("a reader served the stale entry between the write and the recheck")
				}
			}
			close(ps[1].release)
			if r := <-res; r != RefusedStale {
				t.Fatalf("put = %v, want refused", r)
			}
			if e.stored(t, key) {
				t.Fatal("the stale entry survived the recheck")
			}
		})
	}
}

// Invalidations finish out of order: the later one is not published (nor
// reported by State) until the earlier one has finished, and subscribers
// see them in order.
func testClusterPublishesInSequenceOrder(t *testing.T, e *cenv) {
	sub := e.rdb.SSubscribe(e.ctx, e.s.k.channel)
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(e.ctx, 2*time.Second); err != nil { // the confirmation
		t.Fatal(err)
	}
	first := *e.s
	p := pauseAt(&first, "C")[0]
	done := make(chan State, 1)
	go func() {
		st, err := first.invalidate(e.ctx, []deps.Dep{deps.Tag("a")}, "first")
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	<-p.reached
	second := e.invalidate(t, deps.Tag("b"))
	if second.Seq != 2 {
		t.Fatalf("second = %+v", second)
	}
	if st := e.state(t); st.Seq != 0 {
		t.Fatalf("watermark %d while 1 is unfinished, want 0", st.Seq)
	}
	if msg, err := sub.ReceiveTimeout(e.ctx, 100*time.Millisecond); err == nil {
		t.Fatalf("published before the earlier invalidation finished: %v", msg)
	}
	close(p.release)
	<-done
	for want := 1; want <= 2; want++ {
		msg, err := sub.ReceiveTimeout(e.ctx, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := msg.(*redis.Message)
		if !ok || !strings.Contains(m.Payload, fmt.Sprintf("\n%d\n", want)) {
			t.Fatalf("message %d: %v", want, msg)
		}
	}
	if st := e.state(t); st.Seq != 2 {
		t.Fatalf("watermark %d, want 2", st.Seq)
	}
}

// A message that would be over 32 KiB is published with "@log" in place of
// its dependencies; the log, written by the same script, holds them.
func testClusterOversizedMessageRefersToLog(t *testing.T, e *cenv) {
	sub := e.rdb.SSubscribe(e.ctx, e.s.k.channel)
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(e.ctx, 2*time.Second); err != nil { // the confirmation
		t.Fatal(err)
	}
	ds := manyDeps(8000)
	st := e.invalidate(t, ds...)
	msg, err := sub.ReceiveTimeout(e.ctx, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := msg.(*redis.Message); !ok || m.Payload != fmt.Sprintf("M1\n%s\n%d\ntest\n@log", st.Epoch, st.Seq) {
		t.Fatalf("published %.100v", msg)
	}
	logged, err := e.rdb.XRange(e.ctx, e.s.k.log, fmt.Sprintf("%d-1", st.Seq), fmt.Sprintf("%d-1", st.Seq)).Result()
	if err != nil || len(logged) != 1 || logged[0].Values["d"] != joinDeps(ds) {
		t.Fatalf("the log does not hold the dependencies: %d entries, %v", len(logged), err)
	}
}

// setOutcome is what a Set returned.
type setOutcome struct {
	st  State
	r   PutResult
	err error
}

// A Set marked mark is refused, as a standalone Set would be, when an
// invalidation of its key (a Delete) or of its dependency came after the
// mark, wherever that invalidation lands among the Set's steps; the key is
// left without an entry.
func testClusterMarkedSetRacingInvalidations(t *testing.T, e *cenv) {
	dep := deps.Tag("d")
	for i, tc := range []struct {
		name string
		// setAt is the step at which the Set is held; race runs while it
		// is held (or, if the Set ends before that step, after it ended).
		setAt string
		race  func(t *testing.T, key string)
		// before runs before the Set starts; what it returns runs where
		// race does.
		before func(t *testing.T, key string) (release func())
	}{
		{name: "delete after the precheck", setAt: "A",
			race: func(t *testing.T, key string) { e.invalidate(t, deps.Key(key)) }},
		{name: "dependency between the index and the write", setAt: "P2",
			race: func(t *testing.T, key string) { e.invalidate(t, dep) }},
		{name: "delete between the write and the recheck", setAt: "P3",
			race: func(t *testing.T, key string) { e.invalidate(t, deps.Key(key)) }},
		// A Delete that took its number before the Set's and writes its
		// tombstone after the Set's (which is newer and hides it); its
		// delete of the entry runs before the Set writes it, or after.
		{name: "delete numbered first, landing before the write", setAt: "P2", before: heldDelete(e, "B")},
		{name: "delete numbered first, landing after the write", setAt: "C", before: heldDelete(e, "B")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := fmt.Sprint("set", i)
			mark := e.state(t)
			e.put(t, key, mark, dep) // the old value
			var releaseBefore func()
			if tc.before != nil {
				releaseBefore = tc.before(t, key)
			}
			setter := *e.s
			p := pauseAt(&setter, tc.setAt)[0]
			done := make(chan setOutcome, 1)
			go func() {
				st, r, err := setter.set(e.ctx, key, Envelope{Deps: []deps.Dep{dep}, Payload: []byte("new")}, time.Minute, &mark, "setter")
				done <- setOutcome{st, r, err}
			}()
			var out setOutcome
			ended := false
			select {
			case <-p.reached:
			case out = <-done:
				ended = true // refused before the step: nothing to hold
			}
			if releaseBefore != nil {
				releaseBefore()
			}
			if tc.race != nil {
				tc.race(t, key)
			}
			if !ended {
				close(p.release)
				out = <-done
			}
			if out.err != nil || out.r != RefusedStale {
				t.Fatalf("Set = %v, %v; want %v", out.r, out.err, RefusedStale)
			}
			if e.hit(t, key) || e.stored(t, key) {
				t.Fatal("an entry of the key is left")
			}
			if st, last := e.state(t), e.rdb.Get(e.ctx, e.s.k.seq).Val(); fmt.Sprint(st.Seq) != last {
				t.Fatalf("watermark %d, sequence %s: an invalidation is left in flight", st.Seq, last)
			}
		})
	}
}

// heldDelete returns a before step that starts a Delete of the key that
// takes its sequence number and is held at step (by a store of its own),
// and a release that lets it end and waits for it.
func heldDelete(e *cenv, step string) func(t *testing.T, key string) func() {
	return func(t *testing.T, key string) func() {
		deleter := *e.s
		p := pauseAt(&deleter, step)[0]
		done := make(chan error, 1)
		go func() {
			_, err := deleter.invalidate(e.ctx, []deps.Dep{deps.Key(key)}, "deleter")
			done <- err
		}()
		select {
		case <-p.reached:
		case err := <-done:
			t.Fatalf("the Delete ended before step %s: %v", step, err)
		}
		return func() {
			close(p.release)
			if err := <-done; err != nil {
				t.Errorf("Delete: %v", err)
			}
		}
	}
}

// A large invalidation is published once its dependency's set is taken,
// before its entries are deleted: a small invalidation that follows is
// published (and State covers it) while the large one is still held
// before its deletes, and the large one's entries read as misses from the
// moment it is published.
func testClusterLargeInvalidationDoesNotHoldBackOthers(t *testing.T, e *cenv) {
	const n = 200 // ten times InvalidateBatch: the set is renamed aside
	big, small := deps.Tag("big"), deps.Tag("small")
	mark := e.state(t)
	for i := range n {
		e.put(t, fmt.Sprint("b", i), mark, big, deps.Id("row", i))
	}
	e.put(t, "s", mark, small)
	sub := e.rdb.SSubscribe(e.ctx, e.s.k.channel)
	defer sub.Close()
	if _, err := sub.ReceiveTimeout(e.ctx, 2*time.Second); err != nil { // the confirmation
		t.Fatal(err)
	}
	received := func(want uint64) {
		t.Helper()
		msg, err := sub.ReceiveTimeout(e.ctx, 2*time.Second)
		if err != nil {
			t.Fatalf("waiting for message %d: %v", want, err)
		}
		m, ok := msg.(*redis.Message)
		if !ok || !strings.Contains(m.Payload, fmt.Sprintf("\n%d\n", want)) {
			t.Fatalf("message %d: %v", want, msg)
		}
	}

	large := *e.s
	p := pauseAt(&large, "D")[0]
	done := make(chan error, 1)
	go func() {
		_, err := large.invalidate(e.ctx, []deps.Dep{big}, "large")
		done <- err
	}()
	select {
	case <-p.reached:
	case err := <-done:
		t.Fatalf("the large invalidation never reached its deletes: %v", err)
	}
	released := false
	defer func() {
		if !released { // a failed check: let the invalidation end
			close(p.release)
		}
	}()
	if got := e.rdb.ZCard(e.ctx, e.s.k.pend(big.String(), "1")).Val(); got != n {
		t.Fatalf("the set aside holds %d members, want %d", got, n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		if e.hit(t, fmt.Sprint("b", i)) {
			t.Fatalf("entry b%d of the large invalidation served before its deletes", i)
		}
	}
	second := e.invalidate(t, small)
	if second.Seq != 2 {
		t.Fatalf("second = %+v", second)
	}
	if st := e.state(t); st.Seq != 2 {
		t.Fatalf("watermark %d while the large invalidation deletes its entries, want 2", st.Seq)
	}
	received(1)
	received(2)
	if e.hit(t, "s") || e.stored(t, "s") {
		t.Fatal("the small invalidation left its entry")
	}

	released = true
	close(p.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if e.stored(t, fmt.Sprint("b", i)) {
			t.Fatalf("entry b%d left after the large invalidation returned", i)
		}
	}
	if got := e.rdb.Exists(e.ctx, e.s.k.pend(big.String(), "1")).Val(); got != 0 {
		t.Fatal("the set aside is left")
	}
	if st := e.state(t); st.Seq != 2 {
		t.Fatalf("watermark %d, want 2", st.Seq)
	}
}

// An invalidator that dies after taking its number is finished by the next
// call of any node once SweepAfter has passed: its entries are deleted and
// it is published before the later ones.
func testClusterCrashedInvalidationIsSwept(t *testing.T, e *cenv) {
	a := deps.Tag("a")
	e.put(t, "ka", e.state(t), a)
	dead := *e.s
	dead.crashAt = func(step string) bool { return step == "C" } // after the tombstones, before the publication
	if _, err := dead.invalidate(e.ctx, []deps.Dep{a}, "dead"); !errors.Is(err, errCrashed) {
		t.Fatalf("crashed invalidate: %v", err)
	}
	if e.hit(t, "ka") {
		t.Fatal("entry of an invalidation in flight served")
	}
	e.invalidate(t, deps.Tag("b"))
	if st := e.state(t); st.Seq != 0 {
		t.Fatalf("watermark %d before the sweep, want 0", st.Seq)
	}
	time.Sleep(250 * time.Millisecond)
	if st := e.state(t); st.Seq != 2 { // State claims and finishes it
		t.Fatalf("watermark %d after the sweep, want 2", st.Seq)
	}
	if e.stored(t, "ka") {
		t.Fatal("the sweep did not delete the entry")
	}
	logged, err := e.rdb.XLen(e.ctx, e.s.k.log).Result()
	if err != nil || logged != 2 {
		t.Fatalf("log holds %d, %v", logged, err)
	}
}

// G2 on a cluster: an entry whose index is lost reads as a miss.
func testClusterG2LostIndexYieldsMiss(t *testing.T, e *cenv) {
	dep := deps.Id("a", 1)
	e.put(t, "k", e.state(t), dep, deps.Tag("t"))
	if err := e.rdb.Del(e.ctx, e.s.k.depKey(dep)).Err(); err != nil {
		t.Fatal(err)
	}
	if e.hit(t, "k") {
		t.Fatal("entry without its index served")
	}
	if e.s.lostIndex.Load() != 1 || e.stored(t, "k") {
		t.Fatalf("lost index not counted (%d) or entry kept", e.s.lostIndex.Load())
	}
}

// A dependency set gets a TTL even when it had none, at least as long as
// its longest member's score, never lowered by a shorter put; and the puts
// that add members trim the expired ones, one in 8 of them (index_in in
// util.lua): 200 without a trim has a chance of (7/8)^200, about 1e-12.
func testClusterDepSetsExpireAndStayBounded(t *testing.T, e *cenv) {
	d := deps.Tag("hot")
	set := e.s.k.depKey(d)
	now, err := e.rdb.Time(e.ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// Written by hand: no TTL, and a member that expired long ago.
	if err := e.rdb.ZAdd(e.ctx, set, redis.Z{Score: float64(now.UnixMilli() - 5_000), Member: "expired"}).Err(); err != nil {
		t.Fatal(err)
	}
	put := func(key string, ttl time.Duration) {
		t.Helper()
		if r, err := e.s.put(e.ctx, key, Envelope{Deps: []deps.Dep{d}}, ttl, e.state(t)); err != nil || r != Stored {
			t.Fatalf("put %q = %v, %v", key, r, err)
		}
	}
	put("a", 10*time.Second)
	if pttl := e.rdb.PTTL(e.ctx, set).Val(); pttl <= 10*time.Second || pttl > 10*time.Second+scoreSlack {
		t.Fatalf("set PTTL %v after a 10s put, want its score's, 10s + %v", pttl, scoreSlack)
	}
	put("b", time.Minute)
	put("c", time.Second)
	if pttl := e.rdb.PTTL(e.ctx, set).Val(); pttl <= time.Minute {
		t.Fatalf("set PTTL %v, want at least the longest entry's minute", pttl)
	}
	want := []string{"a", "b", "c"}
	for i := 0; ; i++ {
		m, err := e.rdb.ZRange(e.ctx, set, 0, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(m, "expired") {
			slices.Sort(m)
			slices.Sort(want)
			if !slices.Equal(m, want) {
				t.Fatalf("members %q, want %q: the expired member alone trimmed", m, want)
			}
			return
		}
		if i == 200 {
			t.Fatal("the expired member is still in the set after 200 puts that added one")
		}
		k := fmt.Sprint("k", i)
		put(k, time.Minute)
		want = append(want, k)
	}
}

// A control slot that loses its keys (its master restarted empty) starts a
// new epoch; entries of the old one read as misses and marks of the old one
// are refused.
func testClusterEpochChange(t *testing.T, e *cenv) {
	old := e.state(t)
	e.put(t, "k", old, deps.Tag("t"))
	e.invalidate(t, deps.Tag("x"))
	if err := e.rdb.Del(e.ctx, e.s.k.control()...).Err(); err != nil {
		t.Fatal(err)
	}
	st := e.state(t)
	if st.Epoch == old.Epoch || st.Seq != 0 {
		t.Fatalf("state after the loss %+v", st)
	}
	if e.hit(t, "k") {
		t.Fatal("entry of the old epoch served")
	}
	if r := e.put(t, "k2", old, deps.Tag("t")); r != RefusedEpoch {
		t.Fatalf("put of the old epoch = %v", r)
	}
	if r := e.put(t, "k2", st, deps.Tag("x")); r != Stored { // old tombstones do not count
		t.Fatalf("put = %v", r)
	}
}

// Puts and invalidations race on many keys and dependencies; afterwards, and
// while they run, every entry in Redis is indexed under each dependency or
// fails the reader's check, and no put marked before a finished
// invalidation of one of its dependencies is readable.
func testClusterSeedDefect1(t *testing.T, e *cenv) {
	pool := make([]deps.Dep, 8)
	for i := range pool {
		pool[i] = deps.Id("row", i)
	}
	deadline := time.Now().Add(1200 * time.Millisecond)
	var wg sync.WaitGroup
	var stored, refused, invs atomic.Int64
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(w), 7))
			for time.Now().Before(deadline) {
				mark, err := e.s.state(e.ctx, State{})
				if err != nil {
					t.Error(err)
					return
				}
				key := fmt.Sprint("k", r.IntN(30))
				ds := []deps.Dep{pool[r.IntN(len(pool))], pool[r.IntN(len(pool))]}
				ds = dedupe(ds)
				if r.IntN(3) == 0 {
					if _, err := e.s.invalidate(e.ctx, ds[:1], "w"); err != nil {
						t.Error(err)
						return
					}
					invs.Add(1)
					continue
				}
				res, err := e.s.put(e.ctx, key, Envelope{Deps: ds, Payload: []byte(key)}, time.Minute, mark)
				if err != nil {
					t.Error(err)
					return
				}
				if res == Stored {
					stored.Add(1)
				} else {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	// Every entry left is in each of its dependencies' sets, and no
	// tombstone is newer than its mark.
	keys, err := e.entries()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		raw, err := e.rdb.Get(e.ctx, e.s.k.entry(k)).Result()
		if err != nil {
			continue
		}
		mark, env, err := splitEntry(raw)
		if err != nil {
			t.Fatal(err)
		}
		en, _ := DecodeEnvelope([]byte(env))
		for _, d := range en.Deps {
			if _, err := e.rdb.ZScore(e.ctx, e.s.k.depKey(d), k).Result(); err != nil {
				t.Errorf("entry %s is not in the set of %v", k, d)
			}
			if tombNewer(e.rdb.Get(e.ctx, e.s.k.tombKey(d)).Val(), mark) {
				t.Errorf("entry %s (mark %d) outlived an invalidation of %v", k, mark.Seq, d)
			}
		}
	}
	if st := e.state(t); st.Seq != uint64(invs.Load()) {
		t.Errorf("watermark %d after %d invalidations", st.Seq, invs.Load())
	}
	t.Logf("%d stored, %d refused, %d invalidations, %d entries left", stored.Load(), refused.Load(), invs.Load(), len(keys))
}

// entries lists the entry keys of the namespace on every master.
func (e *cenv) entries() ([]string, error) {
	var mu sync.Mutex
	var out []string
	err := e.rdb.ForEachMaster(e.ctx, func(ctx context.Context, c *redis.Client) error {
		ks, err := c.Keys(ctx, e.s.k.entryPrefix+"*").Result()
		mu.Lock()
		for _, k := range ks {
			out = append(out, strings.TrimPrefix(k, e.s.k.entryPrefix))
		}
		mu.Unlock()
		return err
	})
	return out, err
}

// The round trips of each operation.
func testClusterRoundTrips(t *testing.T, e *cenv) {
	h := &countHook{}
	e.rdb.AddHook(h)
	st := e.state(t)
	ds := []deps.Dep{deps.Id("a", 1), deps.Id("b", 2), deps.Tag("t")}
	for i := range 20 { // every script cached on every master
		w := []deps.Dep{deps.Id("w", i)}
		e.put(t, fmt.Sprint("w", i), st, w...)
		e.invalidate(t, w...)
		st = e.state(t)
	}
	h.take()
	count := func(what string, want int, f func()) {
		t.Helper()
		f()
		if got := h.take(); len(got) != want {
			t.Errorf("%s: %d round trips, want %d: %v", what, len(got), want, got)
		} else {
			t.Logf("%s: %d round trips", what, len(got))
		}
	}
	st = e.state(t)
	h.take()
	count("read, miss", 1, func() { e.hit(t, "k") })
	count("put, 3 deps", 3, func() { e.put(t, "k", st, ds...) })
	count("read, hit", 2, func() { e.hit(t, "k") })
	count("invalidate, 1 dep, 1 entry", 4, func() { e.invalidate(t, ds[0]) })
	count("state", 1, func() { e.state(t) })
	// P2 overwrites the old entry, so D has nothing to delete when no
	// entry contains the key.
	count("set, no mark", 5, func() {
		if _, _, err := e.s.set(e.ctx, "k", Envelope{Deps: ds[1:]}, time.Minute, nil, "o"); err != nil {
			t.Fatal(err)
		}
	})
}
