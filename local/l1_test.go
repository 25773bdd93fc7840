package local

import (
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

var (
	depA = deps.Id("article", 1)
	depB = deps.Id("article", 2)
	depT = deps.Tag("home")
)

func TestNewConfig(t *testing.T) {
	for _, cfg := range []Config{
		{MaxCost: -1}, {NumCounters: -1}, {BufferItems: -1}, {MaxTTL: -time.Second}, {Tombstones: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	got, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{MaxCost: 64 << 20, NumCounters: (64 << 20) / 100, BufferItems: 64, MaxTTL: 10 * time.Minute, Tombstones: 100_000}
	if got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	for _, tc := range []struct{ maxCost, counters int64 }{
		{1000, minCounters}, {1 << 40, maxCounters}, {1 << 25, (1 << 25) / 100},
	} {
		got, _ := Config{MaxCost: tc.maxCost}.withDefaults()
		if got.NumCounters != tc.counters {
			t.Errorf("MaxCost %d: NumCounters %d, want %d", tc.maxCost, got.NumCounters, tc.counters)
		}
	}
}

// TestFillRules is the table of Fill's refusal rules. Every case starts
// from the same state: Reset(5) (floor 5, generation bumped), depA
// invalidated at 10, key "self" invalidated at 12 (deps.Key), and "newer"
// holding an entry read at mark 20.
type fillArgs struct {
	key     string
	mark    uint64
	deps    []deps.Dep
	oldGen  bool
	ttl     time.Duration
	cost    int64
	closeIt bool
}

type fillRule struct {
	name   string
	f      fillArgs
	want   bool
	reason func(*Refusals) *uint64
}

// TestFillRules: each rule of Fill, for Fill and for FillMany.
func TestFillRules(t *testing.T) {
	const day = 24 * time.Hour
	ok := func(f fillArgs) fillArgs { f.ttl, f.cost = time.Minute, 1; return f }
	tests := []fillRule{
		{name: "fresh", f: ok(fillArgs{key: "k", mark: 10, deps: []deps.Dep{depA}}), want: true},
		{name: "mark equal to tombstone", f: ok(fillArgs{key: "k", mark: 10, deps: []deps.Dep{depA, depB}}), want: true},
		{name: "no deps at floor", f: ok(fillArgs{key: "k", mark: 5}), want: true},
		{name: "undeclared dep", f: ok(fillArgs{key: "k", mark: 6, deps: []deps.Dep{depB, depT}}), want: true},
		{name: "zero dep ignored", f: ok(fillArgs{key: "k", mark: 6, deps: []deps.Dep{{}}}), want: true},
		{name: "ttl above MaxTTL is cut", f: fillArgs{key: "k", mark: 10, ttl: day, cost: 1}, want: true},
		{name: "cost 0 counts as 1", f: fillArgs{key: "k", mark: 10, ttl: time.Minute}, want: true},
		{name: "old generation", f: ok(fillArgs{key: "k", mark: 10, oldGen: true}), reason: func(r *Refusals) *uint64 { return &r.Generation }},
		{name: "zero ttl", f: fillArgs{key: "k", mark: 10, cost: 1}, reason: func(r *Refusals) *uint64 { return &r.TTL }},
		{name: "negative ttl", f: fillArgs{key: "k", mark: 10, ttl: -time.Second, cost: 1}, reason: func(r *Refusals) *uint64 { return &r.TTL }},
		{name: "cost above MaxCost", f: fillArgs{key: "k", mark: 10, ttl: time.Minute, cost: 1 << 20}, reason: func(r *Refusals) *uint64 { return &r.Cost }},
		{name: "below floor", f: ok(fillArgs{key: "k", mark: 4}), reason: func(r *Refusals) *uint64 { return &r.Floor }},
		{name: "below floor without deps", f: ok(fillArgs{key: "k", mark: 0}), reason: func(r *Refusals) *uint64 { return &r.Floor }},
		{name: "dep tombstone after mark", f: ok(fillArgs{key: "k", mark: 9, deps: []deps.Dep{depB, depA}}), reason: func(r *Refusals) *uint64 { return &r.Tombstone }},
		{name: "own key tombstone after mark", f: ok(fillArgs{key: "self", mark: 11}), reason: func(r *Refusals) *uint64 { return &r.Tombstone }},
		{name: "own key tombstone at mark", f: ok(fillArgs{key: "self", mark: 12}), want: true},
		{name: "nested key tombstone", f: ok(fillArgs{key: "outer", mark: 11, deps: []deps.Dep{deps.Key("self")}}), reason: func(r *Refusals) *uint64 { return &r.Tombstone }},
		{name: "older than cached", f: ok(fillArgs{key: "newer", mark: 19}), reason: func(r *Refusals) *uint64 { return &r.Superseded }},
		{name: "as old as cached", f: ok(fillArgs{key: "newer", mark: 20}), want: true},
		{name: "closed", f: ok(fillArgs{key: "k", mark: 10, closeIt: true}), reason: func(r *Refusals) *uint64 { return &r.Closed }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { testFillRule(t, tc, false) })
		t.Run(tc.name+" (FillMany)", func(t *testing.T) { testFillRule(t, tc, true) })
	}
}

func testFillRule(t *testing.T, tc fillRule, many bool) {
	c := newTestCache(t, Config{MaxCost: 1 << 16, MaxTTL: time.Hour})
	oldGen := c.Generation()
	c.Reset(5)
	c.Invalidate(10, []deps.Dep{depA})
	c.Invalidate(12, []deps.Dep{deps.Key("self")})
	if !fill(c, "newer", 20) {
		t.Fatal("setup fill refused")
	}
	before := c.Stats()
	gen := c.Generation()
	if tc.f.oldGen {
		gen = oldGen
	}
	if tc.f.closeIt {
		c.Close()
	}
	it := Item{Value: tc.name, Deps: tc.f.deps, Mark: tc.f.mark}
	var got bool
	if many {
		got = c.FillMany(gen, []Filling{{Key: tc.f.key, Self: deps.Key(tc.f.key), Item: it, TTL: tc.f.ttl, Cost: tc.f.cost}}) == 0
	} else {
		got = c.Fill(tc.f.key, it, gen, tc.f.ttl, tc.f.cost)
	}
	if got != tc.want {
		t.Fatalf("Fill = %v, want %v", got, tc.want)
	}
	after := c.Stats()
	if tc.want {
		if after.Fills != before.Fills+1 || after.Refused != before.Refused {
			t.Errorf("accepted fill counted as %+v -> %+v", before, after)
		}
		c.Wait()
		it, ok := c.Get(tc.f.key)
		if !ok || it.Value != tc.name || it.Mark != tc.f.mark {
			t.Errorf("Get = %+v, %v after an accepted fill", it, ok)
		}
		if stored, ok := c.rc.Get(tc.f.key); !ok || time.Duration(stored.expires-c.now()) > time.Hour {
			t.Errorf("stored %v: expires in %v; want at most MaxTTL", ok, time.Duration(stored.expires-c.now()))
		}
		mustConsistent(t, c)
		return
	}
	wantRefused := before.Refused
	*tc.reason(&wantRefused)++
	if after.Refused != wantRefused || after.Fills != before.Fills {
		t.Errorf("refusals %+v, want %+v", after.Refused, wantRefused)
	}
	if after.Refused.Total() != before.Refused.Total()+1 {
		t.Errorf("Total %d, want %d", after.Refused.Total(), before.Refused.Total()+1)
	}
}

func TestGetSharesReadOnlyCopyOfDeps(t *testing.T) {
	c := newTestCache(t, Config{})
	ds := []deps.Dep{depA, {}, depB}
	if !c.Fill("k", Item{Value: 42, NotFound: true, Deps: ds, Mark: 3}, c.Generation(), time.Minute, 10) {
		t.Fatal("fill refused")
	}
	ds[0] = depT // the caller's slice is not the cache's
	c.Wait()
	it, ok := c.Get("k")
	if !ok || it.Value != 42 || !it.NotFound || it.Mark != 3 || len(it.Deps) != 2 || it.Deps[0] != depA || it.Deps[1] != depB {
		t.Fatalf("Get = %+v, %v", it, ok)
	}
	c.Invalidate(4, []deps.Dep{depA})
	if _, ok := c.Get("k"); ok {
		t.Fatal("hit after invalidating the entry's first dep")
	}
}

func TestInvalidate(t *testing.T) {
	c := newTestCache(t, Config{})
	fill(c, "a1", 5, depA)
	fill(c, "a2", 5, depA, depB)
	fill(c, "a-late", 7, depA) // read after the invalidation at 7
	fill(c, "b", 5, depB)
	fill(c, "inner", 5)
	fill(c, "outer", 5, deps.Key("inner"))
	fill(c, "other", 5, depT)
	c.Wait()

	c.Invalidate(7, []deps.Dep{depA, deps.Key("inner")})
	for key, want := range map[string]bool{
		"a1": false, "a2": false, "a-late": true, "b": true, "inner": false, "outer": false, "other": true,
	} {
		if _, ok := c.Get(key); ok != want {
			t.Errorf("Get(%q) hit = %v, want %v", key, ok, want)
		}
	}
	mustConsistent(t, c)
	st := c.Stats()
	if st.Invalidated != 4 || st.Invalidations != 1 || st.Entries != 3 || st.Tombstones != 2 {
		t.Errorf("stats %+v", st)
	}
	// Idempotent, and an older invalidation neither lowers a tombstone nor
	// drops entries read after it.
	c.Invalidate(7, []deps.Dep{depA, deps.Key("inner")})
	c.Invalidate(6, []deps.Dep{depA})
	if _, ok := c.Get("a-late"); !ok {
		t.Error("entry read at the invalidation's sequence dropped")
	}
	if fill(c, "a1", 6, depA) {
		t.Error("tombstone lowered by an older invalidation")
	}
	if st := c.Stats(); st.Invalidated != 4 {
		t.Errorf("Invalidated %d after idempotent calls", st.Invalidated)
	}
	if c.Stale(6, []deps.Dep{depB}) || !c.Stale(6, []deps.Dep{depB, depA}) || c.Stale(7, []deps.Dep{depA}) {
		t.Error("Stale disagrees with the tombstones")
	}
}

func TestDelete(t *testing.T) {
	c := newTestCache(t, Config{})
	fill(c, "k", 5, depA)
	c.Wait()
	c.Delete("k")
	c.Delete("absent")
	if _, ok := c.Get("k"); ok {
		t.Fatal("hit after Delete")
	}
	if !fill(c, "k", 1, depA) { // no tombstone: an older mark is accepted
		t.Fatal("fill after Delete refused")
	}
	c.Wait()
	if _, ok := c.Get("k"); !ok {
		t.Fatal("miss after refill")
	}
	mustConsistent(t, c)
	if st := c.Stats(); st.Deleted != 1 || st.Tombstones != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestReset(t *testing.T) {
	c := newTestCache(t, Config{})
	for i := range 100 {
		fill(c, string(rune('a'+i%26))+string(rune('a'+i/26)), 50, depA)
	}
	c.Invalidate(60, []deps.Dep{depB})
	c.Advance(70)
	gen := c.Generation()
	c.Wait()

	c.Reset(30) // a new epoch: the sequence went backwards
	if _, ok := c.Get("aa"); ok {
		t.Fatal("hit after Reset")
	}
	st := c.Stats()
	if st.Generation != gen+1 || st.Applied != 30 || st.Floor != 30 || st.Tombstones != 0 || st.Entries != 0 || st.Deps != 0 || st.Resets != 1 {
		t.Errorf("stats after Reset %+v", st)
	}
	if c.Fill("x", Item{Mark: 40}, gen, time.Minute, 1) {
		t.Error("fill of the generation before Reset accepted")
	}
	if fill(c, "x", 29) {
		t.Error("fill below the new floor accepted")
	}
	if !fill(c, "x", 30, depB) { // depB's tombstone (60) is forgotten
		t.Error("fill at the new floor refused")
	}
	c.Wait()
	if _, ok := c.Get("x"); !ok {
		t.Error("miss after a fill following Reset")
	}
	mustConsistent(t, c)
}

func TestAdvance(t *testing.T) {
	c := newTestCache(t, Config{})
	c.Advance(5)
	c.Advance(3)
	if got := c.Applied(); got != 5 {
		t.Fatalf("Applied = %d, want 5", got)
	}
	c.Invalidate(9, []deps.Dep{depA})
	if got := c.Applied(); got != 5 {
		t.Fatalf("Invalidate advanced Applied to %d", got)
	}
}

// manualClock is a Clock that moves only when told to.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock { return &manualClock{t: time.Unix(1_000_000, 0)} }

func (m *manualClock) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

func (m *manualClock) Advance(d time.Duration) {
	m.mu.Lock()
	m.t = m.t.Add(d)
	m.mu.Unlock()
}

// TestG4_MaxTTL: an entry is served until its TTL, cut to MaxTTL, has
// passed, and never after (on the configured clock); the expired entry
// leaves the index, and no longer holds back an older fill.
func TestG4_MaxTTL(t *testing.T) {
	clk := newManualClock()
	c := newTestCache(t, Config{MaxTTL: 10 * time.Second, Clock: clk})
	gen := c.Generation()
	if !c.Fill("long", Item{Value: 1, Deps: []deps.Dep{depA}, Mark: 5}, gen, time.Hour, 1) ||
		!c.Fill("short", Item{Value: 2, Deps: []deps.Dep{depA, depB}, Mark: 5}, gen, 2*time.Second, 1) {
		t.Fatal("fill refused")
	}
	c.Wait()
	hits := func(want map[string]bool) {
		t.Helper()
		for key, w := range want {
			if _, ok := c.Get(key); ok != w {
				t.Fatalf("at %v: Get(%q) hit = %v, want %v", clk.Now().Sub(time.Unix(1_000_000, 0)), key, ok, w)
			}
		}
	}
	hits(map[string]bool{"long": true, "short": true})
	clk.Advance(2*time.Second - 1)
	hits(map[string]bool{"long": true, "short": true})
	clk.Advance(1)
	hits(map[string]bool{"long": true, "short": false})
	mustConsistent(t, c)
	if st := c.Stats(); st.Expired != 1 || st.Entries != 1 || st.Deps != 1 {
		t.Fatalf("after the TTL: %+v; want 1 expired, 1 entry, 1 dep", st)
	}
	clk.Advance(8*time.Second - 1) // MaxTTL, not the hour asked for
	hits(map[string]bool{"long": true})
	clk.Advance(1)
	hits(map[string]bool{"long": false})
	if st := c.Stats(); st.Expired != 2 || st.Entries != 0 || st.Deps != 0 {
		t.Fatalf("after MaxTTL: %+v; want 2 expired, no entry, no dep", st)
	}
	// An expired entry that Get has not dropped yet neither serves nor
	// supersedes an older fill.
	if !fill(c, "k", 9, depA) {
		t.Fatal("fill refused")
	}
	c.Wait()
	clk.Advance(time.Minute)
	if !fill(c, "k", 8, depA) {
		t.Fatal("an expired entry superseded an older fill")
	}
	c.Wait()
	if it, ok := c.Get("k"); !ok || it.Mark != 8 {
		t.Fatalf("Get = %+v, %v; want the refill at mark 8", it, ok)
	}
	mustConsistent(t, c)
}

// TestSweep: expired entries that no Get meets leave the index and
// Ristretto, and live ones stay.
func TestSweep(t *testing.T) {
	clk := newManualClock()
	c := newTestCache(t, Config{Clock: clk})
	gen := c.Generation()
	for i := range 210 {
		ttl := time.Second
		if i%21 == 0 {
			ttl = time.Hour
		}
		if !c.Fill("k"+strconv.Itoa(i), Item{Value: i, Deps: []deps.Dep{depA, deps.Id("n", i)}, Mark: 1}, gen, ttl, 1) {
			t.Fatal("fill refused")
		}
	}
	c.Wait()
	c.sweep()
	if st := c.Stats(); st.Expired != 0 || st.Entries != 210 {
		t.Fatalf("sweep before expiry: %+v", st)
	}
	clk.Advance(time.Second)
	for range 100 {
		if c.Stats().Entries == 10 {
			break
		}
		c.sweep()
	}
	if st := c.Stats(); st.Expired != 200 || st.Entries != 10 || st.Deps != 11 {
		t.Fatalf("after sweeping: %+v; want 200 expired, 10 entries, 11 deps", st)
	}
	mustConsistent(t, c)
	for i := 0; i < 210; i += 21 {
		if _, ok := c.Get("k" + strconv.Itoa(i)); !ok {
			t.Errorf("live entry k%d swept", i)
		}
	}
}

// TestSweepRuns: the cache's own clock sweeps, about once a second.
func TestSweepRuns(t *testing.T) {
	t.Parallel()
	c := newTestCache(t, Config{})
	c.Fill("k", Item{Value: 1, Deps: []deps.Dep{depA}}, c.Generation(), time.Millisecond, 1)
	c.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for c.Stats().Expired == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an expired entry was never swept")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := c.Stats(); st.Entries != 0 || st.Deps != 0 {
		t.Fatalf("after the sweep: %+v", st)
	}
}

// TestExpiry: the cache's own coarse clock expires entries too.
func TestExpiry(t *testing.T) {
	c := newTestCache(t, Config{MaxTTL: 20 * time.Millisecond})
	c.Fill("k", Item{Value: 1}, c.Generation(), time.Hour, 1)
	c.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := c.Get("k"); !ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("entry outlived MaxTTL")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestClose(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	fill(c, "k", 1, depA)
	c.Wait()
	c.Close()
	c.Close()
	if _, ok := c.Get("k"); ok {
		t.Error("hit after Close")
	}
	if fill(c, "k", 1) {
		t.Error("fill after Close accepted")
	}
	c.Invalidate(2, []deps.Dep{depA})
	c.Delete("k")
	c.Reset(3)
	c.Wait()
	c.Advance(4)
	if st := c.Stats(); st.Entries != 0 || st.Refused.Closed != 1 {
		t.Errorf("stats after Close %+v", st)
	}
}

// TestGetAllocs: a hit (and a miss) allocates nothing. Ristretto's access
// buffer allocates one new stripe per BufferItems accepted Gets, which
// AllocsPerRun's integer average rounds away, as it does for a raw Ristretto
// Get.
func TestGetAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	c := newTestCache(t, Config{})
	c.Fill("k", Item{Value: "v", Deps: []deps.Dep{depA}, Mark: 1}, c.Generation(), time.Minute, 1)
	c.Wait()
	if _, ok := c.Get("k"); !ok {
		t.Fatal("miss")
	}
	if n := testing.AllocsPerRun(1000, func() { c.Get("k") }); n != 0 {
		t.Errorf("Get hit: %v allocs", n)
	}
	if n := testing.AllocsPerRun(1000, func() { c.Get("absent") }); n != 0 {
		t.Errorf("Get miss: %v allocs", n)
	}
}

// TestRefillBeforeApplied: a second fill of a key whose first fill is still
// in Ristretto's buffer is what Get serves once the buffers are applied.
func TestRefillBeforeApplied(t *testing.T) {
	c := newTestCache(t, Config{})
	for i := range 500 {
		key := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		if !fill(c, key, 1, depA) {
			t.Fatal("first fill refused")
		}
		if !c.Fill(key, Item{Value: "second", Mark: 2}, c.Generation(), time.Minute, 1) {
			t.Fatal("second fill refused")
		}
	}
	mustConsistent(t, c)
	misses := 0
	for i := range 500 {
		key := "k" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		it, ok := c.Get(key)
		if !ok {
			misses++
			continue
		}
		if it.Value != "second" {
			t.Fatalf("Get(%q) = %v, want the second fill", key, it.Value)
		}
	}
	// A miss is possible (Ristretto applied the first fill between Fill's
	// Del and Set; the buffered Del then removes the second): never the first
	// value. Without the Del every refill misses.
	if misses > 50 {
		t.Errorf("%d of 500 refills missed", misses)
	}
}

// TestFillMany: a FillMany of more entries than the stage holds fills each
// as Fill would: a Get right after hits every accepted one, a refused one
// (a tombstone after its mark) is counted and absent, a key given twice
// keeps its last fill; the same with a Config.Clock, which has no stage.
func TestFillMany(t *testing.T) {
	for _, clocked := range []bool{false, true} {
		t.Run(map[bool]string{false: "staged", true: "clock"}[clocked], func(t *testing.T) {
			cfg := Config{MaxCost: 1 << 24, MaxTTL: time.Hour}
			if clocked {
				cfg.Clock = newManualClock()
			}
			c := newTestCache(t, cfg)
			c.Invalidate(10, []deps.Dep{depA})
			n := stageLimit + 44
			fills := make([]Filling, 0, n+1)
			for i := range n {
				k := "k" + strconv.Itoa(i)
				it := Item{Value: i, Mark: 10}
				if i%10 == 0 {
					it.Deps, it.Mark = []deps.Dep{depA}, 9 // read before the invalidation at 10
				}
				fills = append(fills, Filling{Key: k, Self: deps.Key(k), Item: it, TTL: time.Minute, Cost: 1})
			}
			fills = append(fills, Filling{Key: "k1", Self: deps.Key("k1"), Item: Item{Value: -1, Mark: 10}, TTL: time.Minute, Cost: 1})
			before := c.Stats()
			refused := c.FillMany(c.Generation(), fills)
			wantRefused := (n + 9) / 10
			if refused != wantRefused || c.Stats().Refused.Tombstone != before.Refused.Tombstone+uint64(wantRefused) {
				t.Fatalf("refused %d (tombstone %d), want %d", refused, c.Stats().Refused.Tombstone, wantRefused)
			}
			check := func(when string) {
				for i := range n {
					it, ok := c.Get("k" + strconv.Itoa(i))
					want := i
					if i == 1 {
						want = -1
					}
					switch {
					case i%10 == 0 && ok:
						t.Fatalf("%s: k%d, refused, is there: %+v", when, i, it)
					case i%10 != 0 && (!ok || it.Value != want):
						t.Fatalf("%s: k%d = %+v, %v; want %d", when, i, it, ok, want)
					}
				}
			}
			check("at once")
			c.Wait()
			check("after Wait")
			mustConsistent(t, c)
		})
	}
}
