package remote

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

func TestInvalidate(t *testing.T) {
	e := newEnv(t)
	a, b, c := deps.Id("article", 1), deps.Id("user", 1), deps.Tag("home")
	e.mustPut(t, "list", a, b)
	e.mustPut(t, "page", b, c)
	e.mustPut(t, "other", c)
	st0 := e.state(t)

	st := e.invalidate(t, deps.Tag("unrelated"))
	if st.Seq != st0.Seq+1 || st.Epoch != st0.Epoch {
		t.Fatalf("Invalidate state %+v after %+v", st, st0)
	}
	for _, k := range []string{"list", "page", "other"} {
		if !e.hasEntry(t, k) {
			t.Fatalf("invalidating an unrelated tag removed %q", k)
		}
	}

	st = e.invalidate(t, b)
	if st.Seq != st0.Seq+2 {
		t.Fatalf("seq %d, want %d", st.Seq, st0.Seq+2)
	}
	if e.hasEntry(t, "list") || e.hasEntry(t, "page") || !e.hasEntry(t, "other") {
		t.Fatal("Invalidate(user 1) must remove list and page, keep other")
	}
	if e.exists(t, e.s.DepKey(b)) {
		t.Fatal("the invalidated dep's set remains")
	}
	// Defect 4: the removed entries left every other set as well.
	if m := e.members(t, a); len(m) != 0 {
		t.Fatalf("members of %v = %q, want none", a, m)
	}
	if m := e.members(t, c); !slices.Equal(m, []string{"other"}) {
		t.Fatalf("members of %v = %q, want [other]", c, m)
	}
	// The tombstone holds the sequence number for the horizon.
	tomb, err := e.rdb.Get(e.ctx, e.s.TombstoneKey(b)).Result()
	if err != nil || tomb != strconv.FormatUint(st.Seq, 10) {
		t.Fatalf("tombstone = %q, %v; want %d", tomb, err, st.Seq)
	}
	if ttl := e.rdb.TTL(e.ctx, e.s.TombstoneKey(b)).Val(); ttl <= 9*time.Minute || ttl > 10*time.Minute {
		t.Fatalf("tombstone TTL %v, want the 10m horizon", ttl)
	}
}

func TestInvalidateHorizon(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.TombstoneHorizon = 90 * time.Second })
	e.invalidate(t, deps.Tag("x"))
	if ttl := e.rdb.TTL(e.ctx, e.s.TombstoneKey(deps.Tag("x"))).Val(); ttl <= 80*time.Second || ttl > 90*time.Second {
		t.Fatalf("tombstone TTL %v, want 90s", ttl)
	}
}

func TestInvalidateNothing(t *testing.T) {
	e := newEnv(t)
	e.invalidate(t, deps.Tag("x"))
	before := e.snapshot(t)
	sub := e.rdb.Subscribe(e.ctx, e.s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(e.ctx); err != nil { // the subscription confirmation
		t.Fatal(err)
	}
	st, err := e.s.Invalidate(e.ctx, nil, "o")
	if err != nil || st != e.state(t) {
		t.Fatalf("Invalidate() = %+v, %v; want the current state", st, err)
	}
	if after := e.snapshot(t); !mapsEqual(before, after) {
		t.Fatal("Invalidate() changed Redis")
	}
	if _, err := e.s.Invalidate(e.ctx, []deps.Dep{deps.Tag("x"), {}}, "o"); err == nil {
		t.Fatal("Invalidate with a zero dep succeeded")
	}
	if after := e.snapshot(t); !mapsEqual(before, after) {
		t.Fatal("a rejected Invalidate changed Redis")
	}
	// Nothing was published: the next message is the next invalidation's.
	e.invalidate(t, deps.Tag("next"))
	msg, err := sub.ReceiveMessage(e.ctx)
	if err != nil || msg.Payload[len(msg.Payload)-len("tag:next"):] != "tag:next" {
		t.Fatalf("first message after no-op Invalidates: %q, %v", msg.Payload, err)
	}
}

// An entry put again with other dependencies (its membership in the old
// dependency's set lingering) survives an invalidation of the old one.
func TestInvalidateSparesEntryThatNoLongerDepends(t *testing.T) {
	e := newEnv(t)
	a, b := deps.Tag("a"), deps.Tag("b")
	e.mustPut(t, "k", b)
	// A lingering membership, as a stale index would have.
	if err := e.rdb.ZAdd(e.ctx, e.s.DepKey(a), redisZ("k")).Err(); err != nil {
		t.Fatal(err)
	}
	e.invalidate(t, a)
	if !e.hasEntry(t, "k") {
		t.Fatal("an entry that does not depend on a was invalidated with it")
	}
	if m := e.members(t, b); !slices.Equal(m, []string{"k"}) {
		t.Fatalf("members of b = %q", m)
	}
	e.invalidate(t, b)
	if e.hasEntry(t, "k") {
		t.Fatal("Invalidate(b) kept k")
	}
}

// An entry that the scripts cannot read is dropped when a set names it.
func TestInvalidateDropsUnreadableEntry(t *testing.T) {
	e := newEnv(t)
	if err := e.rdb.Set(e.ctx, e.s.EntryKey("k"), "junk", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if err := e.rdb.ZAdd(e.ctx, e.s.DepKey(deps.Tag("a")), redisZ("k")).Err(); err != nil {
		t.Fatal(err)
	}
	e.invalidate(t, deps.Tag("a"))
	if e.hasEntry(t, "k") {
		t.Fatal("unreadable entry kept")
	}
}

// Key(k) removes k itself, every entry that contains k, and k's
// memberships.
func TestInvalidateKeyDep(t *testing.T) {
	e := newEnv(t)
	inner := deps.Key("inner:1")
	e.mustPut(t, "inner:1", deps.Id("row", 1), deps.Tag("t"))
	e.mustPut(t, "outer", inner, deps.Id("row", 2))
	e.mustPut(t, "bystander", deps.Id("row", 1))
	st := e.invalidate(t, inner)
	if e.hasEntry(t, "inner:1") || e.hasEntry(t, "outer") || !e.hasEntry(t, "bystander") {
		t.Fatal("Invalidate(Key(inner:1)) must remove inner:1 and outer only")
	}
	if m := e.members(t, deps.Id("row", 1)); !slices.Equal(m, []string{"bystander"}) {
		t.Fatalf("row 1 members %q", m)
	}
	for _, d := range []deps.Dep{deps.Tag("t"), deps.Id("row", 2), inner} {
		if m := e.members(t, d); len(m) != 0 {
			t.Fatalf("%v members %q, want none", d, m)
		}
	}
	// Deleting is Invalidate(Key(k)): a load of k from before is refused.
	if r := e.put(t, "inner:1", time.Minute, State{Seq: st.Seq - 1, Epoch: st.Epoch}); r != RefusedStale {
		t.Fatalf("Put of a value loaded before the delete = %v", r)
	}
}

func TestInvalidateDuplicatesOnce(t *testing.T) {
	e := newEnv(t)
	sub := e.rdb.Subscribe(e.ctx, e.s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.mustPut(t, "k", deps.Tag("x"))
	st := e.invalidate(t, deps.Tag("x"), deps.Tag("y"), deps.Tag("x"))
	msg, err := sub.ReceiveMessage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "M1\n" + st.Epoch + "\n" + strconv.FormatUint(st.Seq, 10) + "\ntest\ntag:x\ntag:y"
	if msg.Payload != want {
		t.Fatalf("message %q, want %q", msg.Payload, want)
	}
}

// manyDeps are n dependencies of about 11 bytes each.
func manyDeps(n int) []deps.Dep {
	ds := make([]deps.Dep, n)
	for i := range ds {
		ds[i] = deps.Id("row", i)
	}
	return ds
}

// A message that would be over 32 KiB is published with "@log" in place of
// its dependencies; the log, written by the same script, holds them. At
// the limit it is published whole.
func TestPublishedMessageRefersToLog(t *testing.T) {
	e := newEnv(t)
	sub := e.rdb.Subscribe(e.ctx, e.s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(e.ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2000, 3000, 8000} {
		ds := manyDeps(n)
		st, err := e.s.Invalidate(e.ctx, ds, "node-A")
		if err != nil {
			t.Fatal(err)
		}
		msg, err := sub.ReceiveMessage(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		head := fmt.Sprintf("M1\n%s\n%d\nnode-A\n", st.Epoch, st.Seq)
		whole := head + joinDeps(ds)
		want := whole
		if len(whole) > 32<<10 {
			want = head + "@log"
		}
		if msg.Payload != want {
			t.Fatalf("%d deps (%d bytes whole): published %.80q..., %d bytes; want %.80q..., %d bytes",
				n, len(whole), msg.Payload, len(msg.Payload), want, len(want))
		}
		logged, complete, err := e.s.Log(e.ctx, st.Seq-1, st.Seq)
		if err != nil || !complete || len(logged) != 1 || len(logged[0].Deps) != n || logged[0].Deps[n-1] != ds[n-1] {
			t.Fatalf("log of %d deps: complete %v, %v", n, complete, err)
		}
	}
}

func joinDeps(ds []deps.Dep) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.String()
	}
	return strings.Join(s, "\n")
}

// The exact bytes of the bus message of an Invalidate and of a Set.
func TestPublishedMessages(t *testing.T) {
	e := newEnv(t)
	sub := e.rdb.Subscribe(e.ctx, e.s.Channel())
	defer sub.Close()
	if _, err := sub.Receive(e.ctx); err != nil {
		t.Fatal(err)
	}
	ds := []deps.Dep{deps.Id("article", 1), deps.Condition("article", map[string]any{"published": true, "cat": "a&b"})}
	st, err := e.s.Invalidate(e.ctx, ds, "node-A")
	if err != nil {
		t.Fatal(err)
	}
	if st.Seq != 1 {
		t.Fatalf("first invalidation has seq %d, want 1", st.Seq)
	}
	msg, err := sub.ReceiveMessage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := "M1\n" + st.Epoch + "\n1\nnode-A\nid:article:1\ncond:article:cat=a%26b&published=true"
	if msg.Channel != "t:inv" || msg.Payload != want {
		t.Fatalf("Invalidate published %q on %q, want %q on t:inv", msg.Payload, msg.Channel, want)
	}

	st, r, err := e.s.Set(e.ctx, "user:{7}", Envelope{Payload: []byte("v")}, time.Minute, nil, "node-B")
	if err != nil || r != Stored {
		t.Fatalf("Set = %v, %v", r, err)
	}
	msg, err = sub.ReceiveMessage(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	want = "M1\n" + st.Epoch + "\n2\nnode-B\nkey:user%3A%7B7%7D"
	if msg.Payload != want {
		t.Fatalf("Set published %q, want %q", msg.Payload, want)
	}
}

func TestSet(t *testing.T) {
	e := newEnv(t)
	key := deps.Key("inner")
	e.mustPut(t, "inner", deps.Tag("old"))
	e.mustPut(t, "outer", key, deps.Tag("o"))
	e.mustPut(t, "bystander", deps.Tag("old"))
	st0 := e.state(t)

	st, r, err := e.s.Set(e.ctx, "inner", Envelope{Deps: []deps.Dep{deps.Tag("new")}, Payload: []byte("v2")}, time.Minute, nil, "o")
	if err != nil || r != Stored {
		t.Fatalf("Set = %v, %v", r, err)
	}
	if st.Seq != st0.Seq+1 || st.Epoch != st0.Epoch {
		t.Fatalf("Set state %+v after %+v", st, st0)
	}
	rst, env, found, err := e.s.Read(e.ctx, "inner")
	if err != nil || !found || string(env.Payload) != "v2" || !slices.Equal(env.Deps, []deps.Dep{deps.Tag("new")}) {
		t.Fatalf("Read after Set = %+v, %v, %v", env, found, err)
	}
	if rst != st {
		t.Fatalf("Read state %+v, want %+v", rst, st)
	}
	if e.hasEntry(t, "outer") || !e.hasEntry(t, "bystander") {
		t.Fatal("Set must drop the entries containing the key, and only them")
	}
	if m := e.members(t, deps.Tag("old")); !slices.Equal(m, []string{"bystander"}) {
		t.Fatalf("old dep members %q: the replaced entry must leave them", m)
	}
	if m := e.members(t, deps.Tag("o")); len(m) != 0 {
		t.Fatalf("outer's other dep keeps %q", m)
	}
	if tomb := e.rdb.Get(e.ctx, e.s.TombstoneKey(key)).Val(); tomb != strconv.FormatUint(st.Seq, 10) {
		t.Fatalf("key tombstone %q, want %d", tomb, st.Seq)
	}
	log, complete, err := e.s.Log(e.ctx, st0.Seq, st.Seq)
	if err != nil || !complete || len(log) != 1 {
		t.Fatalf("Log = %+v, %v, %v", log, complete, err)
	}
	if want := (LogEntry{Seq: st.Seq, Epoch: st.Epoch, Origin: "o", Deps: []deps.Dep{key}}); !logEqual(log[0], want) {
		t.Fatalf("log entry %+v, want %+v", log[0], want)
	}

	// With a mark: refused, changing nothing, when overtaken.
	mark := e.state(t)
	e.invalidate(t, deps.Tag("new"))
	before := e.snapshot(t)
	got, r, err := e.s.Set(e.ctx, "inner", Envelope{Deps: []deps.Dep{deps.Tag("new")}, Payload: []byte("v3")}, time.Minute, &mark, "o")
	if err != nil || r != RefusedStale {
		t.Fatalf("Set with an overtaken mark = %v, %v", r, err)
	}
	if cur := e.state(t); got != cur {
		t.Fatalf("refused Set returned %+v, Redis holds %+v", got, cur)
	}
	if after := e.snapshot(t); !mapsEqual(before, after) {
		t.Fatal("refused Set changed Redis")
	}
	// Overtaken by a Set of the same key.
	mark = e.state(t)
	if _, r, _ := e.s.Set(e.ctx, "inner", Envelope{Payload: []byte("v4")}, time.Minute, nil, "o"); r != Stored {
		t.Fatal("Set without a mark refused")
	}
	if _, r, _ := e.s.Set(e.ctx, "inner", Envelope{Payload: []byte("v5")}, time.Minute, &mark, "o"); r != RefusedStale {
		t.Fatalf("Set marked before another Set of the key = %v", r)
	}
	// A current mark is fine.
	mark = e.state(t)
	if st, r, err := e.s.Set(e.ctx, "inner", Envelope{Payload: []byte("v6")}, time.Minute, &mark, "o"); err != nil || r != Stored || st.Seq != mark.Seq+1 {
		t.Fatalf("Set with a current mark = %+v, %v, %v", st, r, err)
	}
}

// Set on a fresh Redis starts the epoch.
func TestSetStartsEpoch(t *testing.T) {
	e := newEnv(t)
	st, r, err := e.s.Set(e.ctx, "k", Envelope{}, time.Minute, nil, "o")
	if err != nil || r != Stored || st.Seq != 1 || !epochRE.MatchString(st.Epoch) {
		t.Fatalf("Set on empty Redis = %+v, %v, %v", st, r, err)
	}
	if cur := e.state(t); cur != st {
		t.Fatalf("State %+v, Set returned %+v", cur, st)
	}
}
