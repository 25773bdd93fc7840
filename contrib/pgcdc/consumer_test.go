package pgcdc_test

import (
	"testing"
	"time"

	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

const wait = 10 * time.Second

// TestWriteOutsideTheApplication: writes made with plain SQL, which no
// application code sees, reach the cached row and the lists of its old and
// new values on both nodes: an update, a move between categories (the old
// values come from REPLICA IDENTITY FULL), a delete, a TRUNCATE.
func TestWriteOutsideTheApplication(t *testing.T) {
	r := newRig(t, "pgcdc_write")
	r.exec(`INSERT INTO articles VALUES (1, 'one', 'go', true), (2, 'two', 'go', true), (3, 'three', 'rust', true)`)
	c := start(t, r.config())
	waitFor(t, wait, "the consumer streams", func() bool { return c.Stats().Active })

	nodes := []*tiered.Cache{r.a, r.b}
	for _, n := range nodes {
		if a := r.article(n, 1); a.Title != "one" {
			t.Fatalf("article 1 = %+v", a)
		}
		if r.count(n, "go") != 2 || r.count(n, "rust") != 1 {
			t.Fatal("counts before the writes are wrong")
		}
	}
	loads := r.loads.Load()
	for _, n := range nodes { // cached now: no load
		r.article(n, 1)
		r.count(n, "go")
	}
	if r.loads.Load() != loads {
		t.Fatal("the reads were not cached")
	}

	// An update of the title: the row's entry goes on both nodes.
	r.exec(`UPDATE articles SET title = 'one, edited' WHERE id = 1`)
	for _, n := range nodes {
		waitFor(t, wait, "the edited title on every node", func() bool { return r.article(n, 1).Title == "one, edited" })
	}

	// A move from go to rust: the lists of both categories go, though
	// neither holds an id, through the conditions of the old and the new
	// values. The call is the transaction's one Invalidate, with exactly
	// what the GORM plugin invalidates for the same change.
	calls := r.rec.count()
	r.exec(`UPDATE articles SET category = 'rust' WHERE id = 1`)
	for _, n := range nodes {
		waitFor(t, wait, "the counts after the move on every node", func() bool {
			return r.count(n, "go") == 1 && r.count(n, "rust") == 2
		})
	}
	waitFor(t, wait, "the move's call recorded", func() bool { return r.rec.count() > calls })
	got := r.rec.since(calls)
	before := Article{ID: 1, Title: "one, edited", Category: "go", Published: true}
	after := before
	after.Category = "rust"
	want, err := r.scopes.ChangeDeps(before, after, "Category", "category")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, deps.Id("articles", 1))
	if len(got) != 1 || !sameDeps(got[0], want) {
		t.Fatalf("the move invalidated %v, want one call with %v", got, want)
	}

	// A delete: the row becomes not found, its old list shrinks.
	r.exec(`DELETE FROM articles WHERE id = 2`)
	for _, n := range nodes {
		waitFor(t, wait, "the deleted row and its list on every node", func() bool {
			return r.article(n, 2).ID == 0 && r.count(n, "go") == 0
		})
	}

	// TRUNCATE: every list of the type goes (deps.All).
	r.exec(`TRUNCATE articles`)
	for _, n := range nodes {
		waitFor(t, wait, "the lists after TRUNCATE on every node", func() bool { return r.count(n, "rust") == 0 })
	}
	st := c.Stats()
	if st.Transactions < 4 || st.Rows != 3 || st.Truncates != 1 || st.Ignored != 0 || st.Fallbacks != 0 || st.LastError != nil {
		t.Fatalf("stats: %+v", st)
	}
	// The slot holds back no more than what was written since the last
	// commit (the server's own records): the lag is sampled and small.
	waitFor(t, wait, "a small lag once idle", func() bool {
		st := c.Stats()
		return st.LagBytes >= 0 && st.LagBytes < 64<<10 && !st.LagSampledAt.IsZero() && st.LagTime == 0 && !st.LastCommit.IsZero()
	})
}

// TestCrashBeforeConfirm: a transaction commits while the consumer cannot
// invalidate (Redis lost); the consumer dies before it confirms. The slot
// keeps the transaction, and the next consumer invalidates it.
func TestCrashBeforeConfirm(t *testing.T) {
	r := newRig(t, "pgcdc_crash")
	r.exec(`INSERT INTO articles VALUES (1, 'one', 'go', true)`)
	first := start(t, r.config())
	waitFor(t, wait, "the first consumer streams", func() bool { return first.Stats().Active })
	for _, n := range []*tiered.Cache{r.a, r.b} {
		r.article(n, 1)
	}

	r.rec.down.Store(true)
	r.exec(`UPDATE articles SET title = 'new' WHERE id = 1`)
	commit := r.walLSN()
	waitFor(t, wait, "the first consumer tries and fails", func() bool { return first.Stats().Retries >= 2 })
	st := first.Stats()
	if uint64(st.ConfirmedLSN) >= commit || st.Transactions != 0 || st.LastError == nil {
		t.Fatalf("the first consumer confirmed what it did not invalidate: %+v (commit ends before %X)", st, commit)
	}
	if st.LagTime <= 0 {
		t.Fatalf("LagTime = %v while a transaction waits", st.LagTime)
	}
	first.stop() // dies before it confirms

	if a := r.article(r.b, 1); a.Title != "one" {
		t.Fatalf("without the invalidation node b should still hold the old row, got %+v", a)
	}
	r.rec.down.Store(false)
	second := start(t, r.config())
	for _, n := range []*tiered.Cache{r.a, r.b} {
		waitFor(t, wait, "the invalidation after the restart", func() bool { return r.article(n, 1).Title == "new" })
	}
	waitFor(t, wait, "the second consumer confirms", func() bool {
		st := second.Stats()
		return st.ConfirmedLSN > first.Stats().ConfirmedLSN && st.Transactions >= 1
	})
}

// TestStandbyTakesOver: two consumers of one slot; one streams, the other
// waits on the advisory lock, and takes over when the first stops.
func TestStandbyTakesOver(t *testing.T) {
	r := newRig(t, "pgcdc_standby")
	r.exec(`INSERT INTO articles VALUES (1, 'one', 'go', true)`)
	cs := []*running{start(t, r.config()), start(t, r.config())}
	both := func() bool { return cs[0].Stats().Active && cs[1].Stats().Active }
	var active, standby *running
	waitFor(t, wait, "one active consumer and one standby", func() bool {
		if both() {
			t.Fatal("two consumers active at once")
		}
		for i, c := range cs {
			if c.Stats().Active && cs[1-i].Stats().Standby {
				active, standby = c, cs[1-i]
				return true
			}
		}
		return false
	})

	r.article(r.a, 1)
	r.exec(`UPDATE articles SET title = 'by the first' WHERE id = 1`)
	waitFor(t, wait, "the first consumer's invalidation", func() bool { return r.article(r.a, 1).Title == "by the first" })

	// The standby waited on the lock: it never tried the slot.
	if st := standby.Stats(); !st.Standby || st.Sessions != 0 || st.LastError != nil {
		t.Fatalf("the standby did more than wait: %+v", st)
	}

	active.stop()
	waitFor(t, wait, "the standby takes over", func() bool { return standby.Stats().Active })
	r.exec(`UPDATE articles SET title = 'by the second' WHERE id = 1`)
	waitFor(t, wait, "the second consumer's invalidation", func() bool { return r.article(r.a, 1).Title == "by the second" })
	if st := standby.Stats(); st.Sessions != 1 || st.Transactions < 1 || st.LastError != nil {
		t.Fatalf("standby stats: %+v", st)
	}
}

// TestBadInput: a table without a primary key, a table the configuration
// does not name, and a transaction of 5000 rows: none stalls the stream.
func TestBadInput(t *testing.T) {
	r := newRig(t, "pgcdc_bad")
	r.exec(`CREATE TABLE events (name text, at bigint)`) // no primary key
	r.exec(`CREATE TABLE other (id bigint PRIMARY KEY)`)
	cfg := r.config()
	cfg.AllTables = true // other is published, and not configured
	cfg.Tables = map[string]pgcdc.Table{
		"articles":      cfg.Tables["articles"],
		"public.events": {},
	}
	c := start(t, cfg)
	waitFor(t, wait, "the consumer streams", func() bool { return c.Stats().Active })

	calls := r.rec.count()
	r.exec(`INSERT INTO events VALUES ('a', 1)`)
	waitFor(t, wait, "the keyless insert", func() bool { return c.Stats().Transactions >= 1 })
	got := r.rec.since(calls)
	if len(got) != 1 || !sameDeps(got[0], []deps.Dep{deps.All("events")}) {
		t.Fatalf("a row without a key invalidated %v, want all:events", got)
	}
	if st := c.Stats(); st.Fallbacks != 1 {
		t.Fatalf("fallbacks = %d, want 1", st.Fallbacks)
	}

	calls = r.rec.count()
	r.exec(`INSERT INTO other VALUES (1), (2)`)
	waitFor(t, wait, "the unknown table's transaction", func() bool { return c.Stats().Transactions >= 2 })
	if st := c.Stats(); st.Ignored != 2 || r.rec.count() != calls {
		t.Fatalf("an unknown table: ignored = %d, calls = %d, want 2 and none", st.Ignored, r.rec.count()-calls)
	}

	// 5000 rows in one transaction: 5000 ids and the conditions, in calls
	// of at most BatchSize dependencies, the slot confirmed after the last
	// (no batch sees the transaction counted), the third batch failing
	// once and retried.
	calls = r.rec.count()
	var batches, early, failed int
	r.rec.setHook(func([]deps.Dep) error {
		batches++
		if c.Stats().Transactions != 2 {
			early++
		}
		if batches == 3 {
			failed++
			return errDown
		}
		return nil
	})
	r.exec(`INSERT INTO articles SELECT i, 't', 'c' || (i % 10), true FROM generate_series(1, 5000) i`)
	waitFor(t, wait, "the large transaction", func() bool { return c.Stats().Transactions >= 3 })
	r.rec.setHook(nil)
	if early != 0 || failed != 1 || c.Stats().Retries != 1 {
		t.Fatalf("%d batches ran after the transaction was confirmed; %d failed, %d retries", early, failed, c.Stats().Retries)
	}
	got = r.rec.since(calls)
	ids := map[deps.Dep]bool{}
	for _, call := range got {
		if len(call) > 1000 {
			t.Fatalf("a call of %d dependencies, more than BatchSize", len(call))
		}
		for _, d := range call {
			if d.Kind() == deps.KindId {
				ids[d] = true
			}
		}
	}
	if len(ids) != 5000 || len(got) < 5 || len(got) > 7 {
		t.Fatalf("the large transaction: %d ids in %d calls, want 5000 in 6", len(ids), len(got))
	}

	// The stream goes on.
	r.article(r.a, 1)
	r.exec(`UPDATE articles SET title = 'after' WHERE id = 1`)
	waitFor(t, wait, "a change after the bad input", func() bool { return r.article(r.a, 1).Title == "after" })
}
