package remote

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

func TestNewValidatesConfig(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"nil redis", Config{Namespace: "n"}},
		{"empty namespace", Config{Redis: rdb}},
		{"space in namespace", Config{Redis: rdb, Namespace: "a b"}},
		{"newline in namespace", Config{Redis: rdb, Namespace: "a\nb"}},
		{"tab in namespace", Config{Redis: rdb, Namespace: "a\tb"}},
		{"negative horizon", Config{Redis: rdb, Namespace: "n", TombstoneHorizon: -time.Second}},
		{"negative log length", Config{Redis: rdb, Namespace: "n", LogLength: -1}},
		{"negative invalidate batch", Config{Redis: rdb, Namespace: "n", InvalidateBatch: -1}},
		{"negative sweep after", Config{Redis: rdb, Namespace: "n", SweepAfter: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := New(tc.cfg); !errors.Is(err, ErrConfig) {
				t.Fatalf("New = %v, want ErrConfig", err)
			}
		})
	}
	// New never talks to Redis: it works while Redis is unreachable.
	s, err := New(Config{Redis: rdb, Namespace: "shop", TombstoneHorizon: 1500 * time.Millisecond})
	if err != nil {
		t.Fatalf("New with an unreachable Redis: %v", err)
	}
	if s.horizon != "2" || s.logLen != "10000" || s.batch != "1000" || s.lease != "30000" {
		t.Fatalf("horizon %q, log length %q, batch %q, lease %q; want 2 (rounded up), 10000, 1000, 30000",
			s.horizon, s.logLen, s.batch, s.lease)
	}
}

func TestKeyNames(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	s, err := New(Config{Redis: rdb, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	d := deps.Id("article", 7)
	for got, want := range map[string]string{
		s.Channel():           "shop:inv",
		s.EntryKey("k:1"):     "shop:e:k:1",
		s.DepKey(d):           "shop:d:id:article:7",
		s.TombstoneKey(d):     "shop:i:id:article:7",
		s.SeqKey():            "shop:seq",
		s.EpochKey():          "shop:epoch",
		s.LogKey():            "shop:log",
		s.PendingKey():        "shop:pending",
		Stored.String():       "stored",
		PutResult(9).String(): "PutResult(9)",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

var epochRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// State and Read start an epoch on an empty Redis; later calls keep it.
func TestStateAndReadStartTheEpoch(t *testing.T) {
	e := newEnv(t)
	st, _, found, err := e.s.Read(e.ctx, "k")
	if err != nil || found || st.Seq != 0 || !epochRE.MatchString(st.Epoch) {
		t.Fatalf("Read on an empty Redis = %+v, %v, %v; want seq 0 and a 32-hex-digit epoch, miss", st, found, err)
	}
	if again := e.state(t); again != st {
		t.Fatalf("State changed without a write: %+v then %+v", st, again)
	}
	rst, _, _, err := e.s.Read(e.ctx, "k")
	if err != nil || rst != st {
		t.Fatalf("Read state = %+v, %v; want %+v", rst, err, st)
	}
}

func TestReadIsOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "k", deps.Tag("x"))
	// The first Read loads the script (EVALSHA, NOSCRIPT, EVAL); every
	// later one is a single EVALSHA.
	if _, _, _, err := e.s.Read(e.ctx, "warm-up"); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	e.rdb.AddHook(h)
	if _, _, found, err := e.s.Read(e.ctx, "k"); err != nil || !found {
		t.Fatalf("Read: found %v, %v", found, err)
	}
	if _, _, found, err := e.s.Read(e.ctx, "missing"); err != nil || found {
		t.Fatalf("Read missing: found %v, %v", found, err)
	}
	trips := h.take()
	if len(trips) != 2 || len(trips[0]) != 1 || len(trips[1]) != 1 ||
		!strings.HasPrefix(trips[0][0], "evalsha ") || !strings.Contains(trips[0][0], " 5 t:seq t:epoch t:e:k t:log t:hist t:e: t:d: k t:i: ") ||
		!strings.HasPrefix(trips[1][0], "evalsha ") {
		t.Fatalf("round trips = %q, want one EVALSHA of the read script per Read", trips)
	}
}

// ReadUnchecked is one round trip of one plain command (no script): MGET
// of the sequence, the epoch and the entry. It returns what Read returns
// for an indexed entry (the remaining TTL from the entry's expiry), a miss,
// and a corrupt entry (deleted).
func TestReadUncheckedIsOnePlainRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "k", deps.Tag("x"))
	h := &countHook{}
	e.rdb.AddHook(h)
	st, got, found, err := e.s.ReadUnchecked(e.ctx, "k")
	if err != nil || !found {
		t.Fatalf("ReadUnchecked: found %v, %v", found, err)
	}
	if _, _, found, err := e.s.ReadUnchecked(e.ctx, "missing"); err != nil || found {
		t.Fatalf("ReadUnchecked missing: found %v, %v", found, err)
	}
	trips := h.take()
	if len(trips) != 2 || !slices.Equal(trips[0], []string{"mget t:seq t:epoch t:e:k"}) || !slices.Equal(trips[1], []string{"mget t:seq t:epoch t:e:missing"}) {
		t.Fatalf("round trips = %q, want one MGET per read", trips)
	}
	wst, want, _, err := e.s.Read(e.ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	if st != wst || got.Mark != want.Mark || !slices.Equal(got.Deps, want.Deps) || string(got.Payload) != string(want.Payload) ||
		got.TTL < want.TTL-time.Second || got.TTL > time.Minute {
		t.Fatalf("ReadUnchecked = %+v %+v, Read = %+v %+v", st, got, wst, want)
	}
	if err := e.rdb.Set(e.ctx, e.s.EntryKey("bad"), "garbage", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := e.s.ReadUnchecked(e.ctx, "bad"); found || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("ReadUnchecked of a corrupt entry = found %v, %v; want ErrCorrupt", found, err)
	}
	if e.exists(t, e.s.EntryKey("bad")) {
		t.Fatal("the corrupt entry was not deleted")
	}
}

// An entry in an older layout has no epoch: it may predate a loss of
// history, so neither read serves it, and the read script drops it.
func TestEntryOfAnOlderLayoutIsAMiss(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "old", deps.Tag("x"))
	v3 := []byte("E\x03\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05tag:xv:old")
	if _, err := DecodeEnvelope(v3); err != nil {
		t.Fatal(err)
	}
	for _, read := range []func(context.Context, string) (State, Envelope, bool, error){e.s.ReadUnchecked, e.s.Read} {
		if err := e.rdb.Set(e.ctx, e.s.EntryKey("old"), v3, 30*time.Second).Err(); err != nil {
			t.Fatal(err)
		}
		if _, got, found, err := read(e.ctx, "old"); err != nil || found {
			t.Fatalf("read of an entry without an epoch = %+v, found %v, %v; want a miss", got, found, err)
		}
		if e.exists(t, e.s.EntryKey("old")) {
			t.Fatal("the entry without an epoch was not dropped")
		}
	}
}

// The remaining TTL of an unchecked read comes from the entry's expiry on
// this node's clock, and is never 0 (unknown) while Redis holds the entry.
func TestReadUncheckedTTLFromTheExpiry(t *testing.T) {
	e := newEnv(t)
	if r := e.put(t, "k", 30*time.Second, e.state(t), deps.Tag("x")); r != Stored {
		t.Fatalf("Put = %v", r)
	}
	_, got, found, err := e.s.ReadUnchecked(e.ctx, "k")
	if err != nil || !found {
		t.Fatalf("ReadUnchecked: found %v, %v", found, err)
	}
	if until := time.Until(got.Expires); until <= 29*time.Second || until > 30*time.Second || got.TTL <= 29*time.Second || got.TTL > until+time.Millisecond {
		t.Fatalf("Expires in %v, TTL %v; want both about 30s", until, got.TTL)
	}
	// An entry that expired by this node's clock but not yet in Redis (the
	// writer's clock ran behind) reads with the shortest TTL, not as unknown.
	past := AppendEnvelope(nil, Envelope{Deps: []deps.Dep{deps.Tag("x")}, Payload: []byte("v:k"), Epoch: e.state(t).Epoch, Expires: time.Now().Add(-time.Minute)})
	if err := e.rdb.Set(e.ctx, e.s.EntryKey("k"), past, redis.KeepTTL).Err(); err != nil {
		t.Fatal(err)
	}
	if _, got, found, err = e.s.ReadUnchecked(e.ctx, "k"); err != nil || !found || got.TTL != time.Millisecond {
		t.Fatalf("ReadUnchecked of an entry past its expiry: TTL %v, found %v, %v; want 1ms", got.TTL, found, err)
	}
}

// Every entry carries the sequence it is known current at: Put the start
// mark it checked, Set the sequence of its own invalidation of Key(key).
func TestEntriesCarryTheirMark(t *testing.T) {
	e := newEnv(t)
	e.invalidate(t, deps.Tag("other"))
	e.invalidate(t, deps.Tag("other"))
	mark := e.state(t)
	if r := e.put(t, "p", time.Minute, mark, deps.Tag("x")); r != Stored {
		t.Fatalf("Put = %v", r)
	}
	_, env, _, err := e.s.ReadUnchecked(e.ctx, "p")
	if err != nil || env.Mark != mark.Seq || mark.Seq != 2 {
		t.Fatalf("Put entry's mark = %d (%v), want %d", env.Mark, err, mark.Seq)
	}
	st, r, err := e.s.Set(e.ctx, "s", Envelope{Deps: []deps.Dep{deps.Tag("x")}, Payload: []byte("v")}, time.Minute, nil, "test")
	if err != nil || r != Stored {
		t.Fatalf("Set = %v, %v", r, err)
	}
	_, env, _, err = e.s.ReadUnchecked(e.ctx, "s")
	if err != nil || env.Mark != st.Seq || st.Seq != 3 {
		t.Fatalf("Set entry's mark = %d (%v), want %d", env.Mark, err, st.Seq)
	}
	// The scripts still parse the entries they wrote: an invalidation of
	// the dependency drops both.
	e.invalidate(t, deps.Tag("x"))
	if e.exists(t, e.s.EntryKey("p")) || e.exists(t, e.s.EntryKey("s")) {
		t.Fatal("entries survived an invalidation of their dependency")
	}
	if bad := e.indexViolations(t); len(bad) != 0 {
		t.Fatalf("index violations %q", bad)
	}
}

func TestPutRead(t *testing.T) {
	e := newEnv(t)
	st := e.state(t)
	ds := []deps.Dep{deps.Id("article", 1), deps.Tag("home"), deps.Tag("home")}
	r, err := e.s.Put(e.ctx, "list", Envelope{Deps: ds, Payload: []byte("payload")}, 30*time.Second, st)
	if err != nil || r != Stored {
		t.Fatalf("Put = %v, %v", r, err)
	}
	rst, env, found, err := e.s.Read(e.ctx, "list")
	if err != nil || !found {
		t.Fatalf("Read = found %v, %v", found, err)
	}
	if rst != st {
		t.Fatalf("Read state %+v, want %+v", rst, st)
	}
	if env.NotFound || string(env.Payload) != "payload" || !slices.Equal(env.Deps, ds[:2]) {
		t.Fatalf("Read envelope %+v (duplicate deps are stored once)", env)
	}
	if env.TTL <= 29*time.Second || env.TTL > 30*time.Second {
		t.Fatalf("Read TTL %v, want about 30s", env.TTL)
	}
	for _, d := range ds[:2] {
		if m := e.members(t, d); !slices.Equal(m, []string{"list"}) {
			t.Fatalf("members of %v = %q", d, m)
		}
	}

	// A negative entry.
	if r, err := e.s.Put(e.ctx, "gone", Envelope{NotFound: true, Deps: ds[:1]}, time.Second, st); err != nil || r != Stored {
		t.Fatalf("Put negative = %v, %v", r, err)
	}
	_, env, found, err = e.s.Read(e.ctx, "gone")
	if err != nil || !found || !env.NotFound || env.Payload != nil {
		t.Fatalf("Read negative = %+v, %v, %v", env, found, err)
	}
}

func TestPutValidates(t *testing.T) {
	e := newEnv(t)
	st := e.state(t)
	good := Envelope{Deps: []deps.Dep{deps.Tag("x")}}
	for _, tc := range []struct {
		name string
		key  string
		env  Envelope
		ttl  time.Duration
		want error
	}{
		{"zero ttl", "k", good, 0, ErrInvalidTTL},
		{"negative ttl", "k", good, -time.Second, ErrInvalidTTL},
		{"zero dep", "k", Envelope{Deps: []deps.Dep{deps.Tag("x"), {}}}, time.Second, ErrInvalidDep},
		{"empty key", "", good, time.Second, ErrEmptyKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.s.Put(e.ctx, tc.key, tc.env, tc.ttl, st); !errors.Is(err, tc.want) {
				t.Fatalf("Put = %v, want %v", err, tc.want)
			}
			if _, _, err := e.s.Set(e.ctx, tc.key, tc.env, tc.ttl, nil, "o"); !errors.Is(err, tc.want) {
				t.Fatalf("Set = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := e.s.Set(e.ctx, "k", good, time.Second, nil, ""); !errors.Is(err, ErrInvalidOrigin) {
		t.Fatalf("Set with empty origin = %v", err)
	}
	if _, err := e.s.Invalidate(e.ctx, []deps.Dep{deps.Tag("x")}, "a\nb"); !errors.Is(err, ErrInvalidOrigin) {
		t.Fatalf("Invalidate with a newline in origin = %v", err)
	}
	if n, _ := e.rdb.DBSize(e.ctx).Result(); n != 3 { // the seq, epoch and guard State made
		t.Fatalf("rejected calls wrote %d keys", n-3)
	}
}

// A sub-millisecond TTL is rounded up, never sent as PX 0.
func TestPutTinyTTL(t *testing.T) {
	e := newEnv(t)
	if r := e.put(t, "k", time.Microsecond, e.state(t), deps.Tag("x")); r != Stored {
		t.Fatalf("Put = %v", r)
	}
}

// G1: a put whose mark is older than a tombstone of any of its dependencies
// is refused and changes nothing.
func TestG1_PutOlderThanTombstoneRefused(t *testing.T) {
	e := newEnv(t)
	a, b := deps.Id("article", 1), deps.Tag("home")
	e.mustPut(t, "old", a) // an entry the refused put must not disturb
	mark := e.state(t)
	e.invalidate(t, b)
	e.mustPut(t, "old", a)
	before := e.snapshot(t)
	if r := e.put(t, "k", time.Minute, mark, a, b); r != RefusedStale {
		t.Fatalf("Put with a mark before the invalidation = %v, want refused", r)
	}
	if r := e.put(t, "old", time.Minute, mark, a, b); r != RefusedStale {
		t.Fatalf("re-Put with a mark before the invalidation = %v, want refused", r)
	}
	if after := e.snapshot(t); !mapsEqual(before, after) {
		t.Fatalf("refused put changed Redis:\nbefore %q\nafter  %q", before, after)
	}
	// A mark taken after the invalidation is fine.
	if r := e.put(t, "k", time.Minute, e.state(t), a, b); r != Stored {
		t.Fatalf("Put with a fresh mark = %v", r)
	}
	// A negative entry obeys the same rule.
	mark = e.state(t)
	e.invalidate(t, a)
	if r, err := e.s.Put(e.ctx, "n", Envelope{NotFound: true, Deps: []deps.Dep{a}}, time.Minute, mark); err != nil || r != RefusedStale {
		t.Fatalf("negative Put = %v, %v", r, err)
	}
}

// The key's own tombstone (a Set or a delete of the key after the mark)
// refuses the put too.
func TestG1_PutRefusedByKeyTombstone(t *testing.T) {
	e := newEnv(t)
	mark := e.state(t)
	e.invalidate(t, deps.Key("k"))
	if r := e.put(t, "k", time.Minute, mark, deps.Tag("x")); r != RefusedStale {
		t.Fatalf("Put after Key(k) was invalidated = %v", r)
	}
	mark = e.state(t)
	if _, r, err := e.s.Set(e.ctx, "k", Envelope{Payload: []byte("new")}, time.Minute, nil, "o"); err != nil || r != Stored {
		t.Fatalf("Set = %v, %v", r, err)
	}
	if r := e.put(t, "k", time.Minute, mark); r != RefusedStale {
		t.Fatalf("Put of a value loaded before a Set = %v", r)
	}
	_, env, _, _ := e.s.Read(e.ctx, "k")
	if string(env.Payload) != "new" {
		t.Fatalf("the stale put overwrote the Set: %q", env.Payload)
	}
}

// G11: a Redis that restarted from a snapshot between a put's mark and the
// put comes back with the mark's epoch and sequence but without the
// tombstone of an invalidation after the mark. Only the run id of the Redis
// process tells, and the put script asks it itself: no other script runs
// in between to start the new epoch. The same for a Set with a mark.
func TestG11_PutAcrossRestartFromSnapshotRefused(t *testing.T) {
	e := newEnv(t)
	d := deps.Id("article", 1)
	mark := e.state(t)
	if err := e.rdb.Save(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	e.invalidate(t, d) // lost with the restart
	e.srv.Restart(t)
	if ep := e.rdb.Get(e.ctx, e.s.EpochKey()).Val(); ep != mark.Epoch || e.exists(t, e.s.TombstoneKey(d)) {
		t.Fatalf("after the restart: epoch %q (the mark's %q), tombstone there %v: the test proves nothing",
			ep, mark.Epoch, e.exists(t, e.s.TombstoneKey(d)))
	}
	if r := e.put(t, "k", time.Minute, mark, d); r != RefusedEpoch {
		t.Fatalf("Put marked before the restart = %v, want refused (epoch)", r)
	}
	if _, r, err := e.s.Set(e.ctx, "k", Envelope{Deps: []deps.Dep{d}}, time.Minute, &mark, "o"); err != nil || r != RefusedEpoch {
		t.Fatalf("Set marked before the restart = %v, %v; want refused (epoch)", r, err)
	}
	if e.hasEntry(t, "k") {
		t.Fatal("a refused write stored the entry")
	}
}

// The put script reads the tombstones of all of an entry's dependencies in
// MGETs of at most 1000 keys (util.lua, mget): more keys than Lua can
// spread on its stack at once are read, and the tombstone of the last one
// still refuses a put marked before it.
func TestG1_PutWithThousandsOfDepsChecksEveryTombstone(t *testing.T) {
	e := newEnv(t)
	ds := make([]deps.Dep, 9000)
	for i := range ds {
		ds[i] = deps.Id("part", i)
	}
	mark := e.state(t)
	e.invalidate(t, ds[len(ds)-1])
	if r := e.put(t, "k", time.Minute, mark, ds...); r != RefusedStale {
		t.Fatalf("Put marked before the invalidation of its last dependency = %v, want refused", r)
	}
	if r := e.put(t, "k", time.Minute, e.state(t), ds...); r != Stored {
		t.Fatalf("Put marked after it = %v, want stored", r)
	}
}

func TestPutAfterEpochChangeRefused(t *testing.T) {
	e := newEnv(t)
	old := e.state(t)
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"FLUSHALL", func() { e.rdb.FlushAll(e.ctx) }},
		{"restart", func() { e.srv.Restart(t) }},
		{"lost seq", func() { e.rdb.Del(e.ctx, e.s.SeqKey()) }},
		{"lost epoch", func() { e.rdb.Del(e.ctx, e.s.EpochKey()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mark := e.state(t)
			e.invalidate(t, deps.Tag("y"))
			mark2 := e.state(t)
			tc.change()
			before := e.dataSnapshot(t)
			for _, m := range []State{mark, mark2, old, {}} {
				if r := e.put(t, "k", time.Minute, m, deps.Tag("x")); r != RefusedEpoch {
					t.Fatalf("Put marked %+v = %v, want refused (epoch)", m, r)
				}
				if _, r, err := e.s.Set(e.ctx, "k", Envelope{}, time.Minute, &m, "o"); err != nil || r != RefusedEpoch {
					t.Fatalf("Set marked %+v = %v, %v; want refused (epoch)", m, r, err)
				}
			}
			// A refused write may start the new epoch; it changes no data.
			if after := e.dataSnapshot(t); !mapsEqual(before, after) {
				t.Fatalf("refused writes changed Redis")
			}
			st := e.invalidate(t, deps.Tag("y"))
			if st.Epoch == mark.Epoch || !epochRE.MatchString(st.Epoch) {
				t.Fatalf("epoch after %s: %q, was %q", tc.name, st.Epoch, mark.Epoch)
			}
			if r := e.put(t, "k", time.Minute, st, deps.Tag("x")); r != Stored {
				t.Fatalf("Put with the new epoch = %v", r)
			}
		})
	}
}

func TestReadCorruptEntryDeletesIt(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "good", deps.Tag("x"))
	for _, bad := range []string{"garbage", "E\x01\x00\x00\x00\x00\x03foo", "E\x01\x00\x00\x00\x01"} {
		if err := e.rdb.Set(e.ctx, e.s.EntryKey("k"), bad, time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		st, _, found, err := e.s.Read(e.ctx, "k")
		// "foo" reads as a dependency that does not index the entry: the
		// read script drops it as an entry with a lost index, before any
		// decoding, so no ErrCorrupt; the others fail to decode.
		wantCorrupt := !strings.Contains(bad, "foo")
		if found || (wantCorrupt && !errors.Is(err, ErrCorrupt)) || (!wantCorrupt && err != nil) {
			t.Fatalf("Read of %q = found %v, %v; want a miss (ErrCorrupt: %v)", bad, found, err, wantCorrupt)
		}
		if st != e.state(t) {
			t.Fatalf("Read of a corrupt entry returned state %+v", st)
		}
		if e.hasEntry(t, "k") {
			t.Fatalf("corrupt entry %q not deleted", bad)
		}
	}
	// The delete is conditional: an entry that changed since it was read stays.
	if err := e.rdb.Set(e.ctx, e.s.EntryKey("k"), "newer", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := e.s.scripts.deleteIf.Run(e.ctx, e.rdb, []string{e.s.EntryKey("k")}, "older").Int(); err != nil || n != 0 {
		t.Fatalf("deleteIf of changed bytes = %d, %v", n, err)
	}
	if !e.hasEntry(t, "k") || !e.hasEntry(t, "good") {
		t.Fatal("conditional delete removed an entry it should have kept")
	}
}

// Scripts run with EVALSHA and fall back to EVAL after SCRIPT FLUSH (or a
// restart).
func TestScriptsSurviveScriptFlush(t *testing.T) {
	e := newEnv(t)
	e.mustPut(t, "k", deps.Tag("x"))
	if err := e.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	h := &countHook{}
	e.rdb.AddHook(h)
	e.mustPut(t, "k", deps.Tag("x"))
	e.invalidate(t, deps.Tag("x"))
	var cmds []string
	for _, trip := range h.take() {
		for _, c := range trip {
			cmds = append(cmds, strings.Fields(c)[0])
		}
	}
	// mustPut: State and Put, invalidate: each evalsha (NOSCRIPT), eval.
	want := []string{"evalsha", "eval", "evalsha", "eval", "evalsha", "eval"}
	if !slices.Equal(cmds, want) {
		t.Fatalf("commands %q, want %q", cmds, want)
	}
	h.take()
	e.invalidate(t, deps.Tag("x"))
	if trips := h.take(); len(trips) != 1 || !strings.HasPrefix(trips[0][0], "evalsha") {
		t.Fatalf("after the fallback the script is cached: %q", trips)
	}
}

func TestDepMembersRejectsZeroDep(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.DepMembers(context.Background(), deps.Dep{}); !errors.Is(err, ErrInvalidDep) {
		t.Fatalf("DepMembers(zero) = %v", err)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestG2_ReadDropsEntryWithLostIndex: an entry that is no longer in one of
// its dependency sets (evicted, deleted) could not be found by an
// invalidation of that dependency: Read drops it and reports a miss.
func TestG2_ReadDropsEntryWithLostIndex(t *testing.T) {
	e := newEnv(t)
	a, b := deps.Id("article", 1), deps.Tag("home")
	e.mustPut(t, "k", a, b)
	if err := e.rdb.Del(e.ctx, e.s.DepKey(a)).Err(); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := e.s.Read(e.ctx, "k"); err != nil || found {
		t.Fatalf("Read of an entry with a lost index: found %v, %v; want a miss", found, err)
	}
	if e.hasEntry(t, "k") {
		t.Fatal("the entry with a lost index was left in Redis")
	}
	if m := e.members(t, b); len(m) != 0 {
		t.Fatalf("the dropped entry is still a member of its other set: %v", m)
	}
	if e.s.LostIndex() != 1 {
		t.Fatalf("LostIndex = %d, want 1", e.s.LostIndex())
	}
	// An intact entry reads as before.
	e.mustPut(t, "k2", a, b)
	if _, _, found, err := e.s.Read(e.ctx, "k2"); err != nil || !found {
		t.Fatalf("intact entry: found %v, %v", found, err)
	}
}

// TestPreloadMakesFirstUseOneRoundTrip: without Preload, the first read of
// a fresh Redis is two round trips (EVALSHA answered NOSCRIPT, then EVAL);
// after it, one, and Redis holds every script of the Store.
func TestPreloadMakesFirstUseOneRoundTrip(t *testing.T) {
	e := newEnv(t)
	hook := &countHook{}
	e.rdb.AddHook(hook)
	read := func() int {
		t.Helper()
		hook.take()
		if _, _, _, err := e.s.ReadAfter(e.ctx, "k", State{}); err != nil {
			t.Fatal(err)
		}
		return len(hook.take())
	}
	if n := read(); n != 2 {
		t.Fatalf("first read of a fresh Redis: %d round trips, want 2 (NOSCRIPT, then EVAL)", n)
	}
	if err := e.rdb.ScriptFlush(e.ctx).Err(); err != nil {
		t.Fatal(err)
	}
	hook.take()
	if err := e.s.Preload(e.ctx); err != nil {
		t.Fatal(err)
	}
	if trips := hook.take(); len(trips) != 1 || len(trips[0]) != len(e.s.scripts.srcs) {
		t.Fatalf("Preload: %d round trips, want one of %d SCRIPT LOADs", len(trips), len(e.s.scripts.srcs))
	}
	if n := read(); n != 1 {
		t.Fatalf("first read after Preload: %d round trips, want 1", n)
	}
	sc := e.s.scripts
	all := []*redis.Script{sc.state, sc.put, sc.set, sc.invalidate, sc.drain, sc.deleteIf, sc.read, sc.rotate}
	if len(all) != len(sc.srcs) {
		t.Fatalf("%d scripts, %d sources", len(all), len(sc.srcs))
	}
	hashes := make([]string, len(all))
	for i, s := range all {
		hashes[i] = s.Hash()
	}
	held, err := e.rdb.ScriptExists(e.ctx, hashes...).Result()
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(held, false) {
		t.Fatalf("scripts held after Preload: %v", held)
	}
}

// TestCodecName: an entry keeps the name of its codec; a name an envelope
// cannot hold is refused, and nothing is written.
func TestCodecName(t *testing.T) {
	e := newEnv(t)
	mark := e.state(t)
	if r, err := e.s.Put(e.ctx, "k", Envelope{Codec: "msgpack", Payload: []byte("p")}, time.Minute, mark); err != nil || r != Stored {
		t.Fatal(r, err)
	}
	if _, env, found, err := e.s.Read(e.ctx, "k"); err != nil || !found || env.Codec != "msgpack" {
		t.Fatalf("read %+v, %v, %v; want codec msgpack", env, found, err)
	}
	for _, bad := range []string{"seventeen-letters", "a\x00b"} {
		if _, err := e.s.Put(e.ctx, "bad", Envelope{Codec: bad}, time.Minute, mark); !errors.Is(err, ErrInvalidCodec) {
			t.Errorf("Put with codec %q: %v, want ErrInvalidCodec", bad, err)
		}
		if _, _, err := e.s.Set(e.ctx, "bad", Envelope{Codec: bad}, time.Minute, nil, "o"); !errors.Is(err, ErrInvalidCodec) {
			t.Errorf("Set with codec %q: %v, want ErrInvalidCodec", bad, err)
		}
	}
	if e.exists(t, e.s.EntryKey("bad")) {
		t.Fatal("a refused write left an entry")
	}
}
