package pgcdc_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// TestFeed: a node that follows the consumer's feed serves its cache
// while the consumer keeps up; once the consumer stops, the feed runs out
// within its bound and the node answers from the database, so that a
// change nobody invalidates is not served stale past the bound; a consumer
// that starts again invalidates the change from the slot and brings the
// feed back.
func TestFeed(t *testing.T) {
	r := newRig(t, "feed")
	r.exec(`INSERT INTO articles VALUES (1, 'v1', 'go', true)`)
	f := r.node("f", func(cfg *tiered.Config) {
		cfg.Feeds = []string{"pg"}
		cfg.TrustWindow, cfg.Heartbeat = 400*time.Millisecond, 50*time.Millisecond
	})
	inv := &flaky{Cache: r.node("feeder")}
	cfg := r.config()
	cfg.Invalidator, cfg.Feed, cfg.Bound = inv, "pg", 800*time.Millisecond
	cfg.BatchSize = 1 // every transaction its own Invalidate: see the lagging consumer below
	c := start(t, cfg)

	waitFor(t, 10*time.Second, "the feed is kept", func() bool { return f.Ready(context.Background()) == nil })
	if st := c.Stats(); st.FeedKeeps == 0 || st.CaughtUpAt.IsZero() {
		t.Errorf("stats %+v: no keep counted", st)
	}
	if a := r.article(f, 1); a.Title != "v1" {
		t.Fatalf("read %q", a.Title)
	}
	loads := r.loads.Load()
	if a := r.article(f, 1); a.Title != "v1" || r.loads.Load() != loads || !f.InL1("article:1") {
		t.Fatalf("with the feed kept, a second read loaded again (%d loads) or missed L1", r.loads.Load()-loads)
	}
	r.exec(`UPDATE articles SET title = 'v2' WHERE id = 1`)
	waitFor(t, 10*time.Second, "the consumer's invalidation", func() bool { return r.article(f, 1).Title == "v2" })
	if err := f.Ready(context.Background()); err != nil {
		t.Errorf("a consumer that keeps up: Ready = %v", err)
	}

	// The consumer falls behind (its invalidations fail): the feed runs
	// out although the consumer runs, and the node reads the database.
	r.article(f, 1) // v2, cached
	inv.fail.Store(true)
	r.exec(`UPDATE articles SET title = 'v2.5' WHERE id = 1`)
	waitFor(t, 10*time.Second, "the feed runs out behind", func() bool { return errors.Is(f.Ready(context.Background()), matroska.ErrNotSynced) })
	if a := r.article(f, 1); a.Title != "v2.5" {
		t.Fatalf("behind a failing consumer the node served %q, want the database's v2.5", a.Title)
	}
	inv.fail.Store(false)
	waitFor(t, 10*time.Second, "the feed is kept once the consumer catches up", func() bool { return f.Ready(context.Background()) == nil })

	// The consumer runs but lags: each Invalidate takes 150 ms and ten
	// transactions wait, each invalidated on its own (the lagging consumer
	// of BatchSize 1 cannot put two in one call). It takes its samples
	// between them, which its confirmed position reaches too late, so the
	// feed runs out although the consumer runs.
	inv.delay.Store(int64(150 * time.Millisecond))
	for i := range 10 {
		r.exec(`UPDATE articles SET title = $1 WHERE id = 1`, fmt.Sprintf("lag %d", i))
	}
	waitFor(t, 10*time.Second, "the feed runs out behind a lagging consumer", func() bool { return errors.Is(f.Ready(context.Background()), matroska.ErrNotSynced) })
	if a := r.article(f, 1); a.Title != "lag 9" {
		t.Fatalf("behind a lagging consumer the node served %q, want the database's lag 9", a.Title)
	}
	inv.delay.Store(0)
	waitFor(t, 10*time.Second, "the feed is kept once the backlog is done", func() bool { return f.Ready(context.Background()) == nil })

	// The consumer stops; a change is committed that nobody invalidates.
	c.stop()
	r.article(f, 1) // v2.5, cached
	r.exec(`UPDATE articles SET title = 'v3' WHERE id = 1`)
	waitFor(t, 10*time.Second, "the feed runs out", func() bool { return errors.Is(f.Ready(context.Background()), matroska.ErrNotSynced) })
	for range 3 {
		if a := r.article(f, 1); a.Title != "v3" {
			t.Fatalf("behind the feed the node served %q, want the database's v3", a.Title)
		}
	}
	if f.InL1("article:1") {
		t.Error("behind the feed L1 serves")
	}

	// Another consumer invalidates v3 from the slot and keeps the feed.
	c2 := start(t, cfg)
	waitFor(t, 10*time.Second, "the feed is kept again", func() bool { return f.Ready(context.Background()) == nil })
	if a := r.article(f, 1); a.Title != "v3" {
		t.Fatalf("after the restart: %q", a.Title)
	}
	if st := c2.Stats(); st.Transactions == 0 {
		t.Errorf("the restarted consumer invalidated nothing from the slot: %+v", st)
	}
}

// TestFeedNeedsKeeper: a Feed with an Invalidator that cannot keep it is
// refused.
func TestFeedNeedsKeeper(t *testing.T) {
	_, err := pgcdc.New(pgcdc.Config{Conn: "postgres://localhost/db", Invalidator: plainInvalidator{}, Tables: map[string]pgcdc.Table{"articles": {}}, Feed: "pg"})
	if !errors.Is(err, pgcdc.ErrConfig) {
		t.Errorf("New = %v, want ErrConfig", err)
	}
}

// plainInvalidator invalidates nothing and has no KeepFeed.
type plainInvalidator struct{}

func (plainInvalidator) Invalidate(context.Context, ...deps.Dep) error { return nil }

// flaky is a cache whose invalidations fail while fail is set, and take
// delay more.
type flaky struct {
	*tiered.Cache
	fail  atomic.Bool
	delay atomic.Int64 // a time.Duration
}

func (f *flaky) Invalidate(ctx context.Context, ds ...deps.Dep) error {
	time.Sleep(time.Duration(f.delay.Load()))
	if f.fail.Load() {
		return errors.New("flaky: refused")
	}
	return f.Cache.Invalidate(ctx, ds...)
}
