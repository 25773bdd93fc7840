package tiered_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/remote"
	"github.com/matroska-go/matroska/tiered"
)

// TestFeeds: a node that follows a feed serves neither tier until the
// feed's key is alive (its loader answers every call, uncached), serves
// both while it is, and stops again once the key runs out; Ready says
// which feed is behind. A node that follows no feed is not concerned.
func TestFeeds(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		fast := func(cfg *tiered.Config) {
			cfg.TrustWindow, cfg.Heartbeat = 400*time.Millisecond, 50*time.Millisecond
		}
		c := newNode(t, cl.rdb, fast, func(cfg *tiered.Config) { cfg.Feeds = []string{"pg"} })
		other := newNode(t, cl.rdb, fast)
		var loads atomic.Int64
		load := func(ctx context.Context, rec *tiered.Recorder) (int, error) {
			return int(loads.Add(1)), nil
		}
		read := func(n *tiered.Cache) int {
			v, err := matroska.GetOrLoad(bg(), n, "k", load)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}

		if err := c.Ready(bg()); !errors.Is(err, matroska.ErrNotSynced) || !strings.Contains(err.Error(), "pg") {
			t.Errorf("Ready before the feed = %v, want ErrNotSynced naming the feed", err)
		}
		read(c)
		read(c)
		if n := loads.Load(); n != 2 {
			t.Fatalf("behind its feed the node loaded %d times for 2 reads, want 2 (nothing served from cache)", n)
		}
		if v := read(other); v != 3 || read(other) != 3 {
			t.Fatalf("a node without feeds: %d loads", loads.Load())
		}
		if c.InL1("k") {
			t.Error("L1 serves behind the feed")
		}

		if err := c.KeepFeed(bg(), "pg", time.Second); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the node follows the feed again", func() bool { return c.Ready(bg()) == nil })
		if v := read(c); v != 3 {
			t.Fatalf("with the feed alive the node read %d, want Redis's 3", v)
		}
		if v := read(c); v != 3 || !c.InL1("k") {
			t.Fatalf("with the feed alive: %d, in L1 %v", v, c.InL1("k"))
		}

		// The key runs out: the node stops serving its cache.
		waitFor(t, 5*time.Second, "the feed runs out", func() bool { return errors.Is(c.Ready(bg()), matroska.ErrNotSynced) })
		before := loads.Load()
		read(c)
		if loads.Load() != before+1 || c.InL1("k") {
			t.Errorf("behind the feed again: %d loads for one read, in L1 %v", loads.Load()-before, c.InL1("k"))
		}
		if err := c.KeepFeed(bg(), "", time.Second); !errors.Is(err, remote.ErrFeedName) {
			t.Errorf("KeepFeed of an empty name: %v, want remote.ErrFeedName", err)
		}
		if err := c.KeepFeed(bg(), "pg", 0); !errors.Is(err, matroska.ErrInvalidTTL) {
			t.Errorf("KeepFeed for no time: %v, want ErrInvalidTTL", err)
		}
	})
}

// TestFeedsConfig: feed names are checked, and feeds need Redis.
func TestFeedsConfig(t *testing.T) {
	for _, feeds := range [][]string{{""}, {"a b"}, {"x{y}"}} {
		if _, err := tiered.New(tiered.Config{Feeds: feeds}); !errors.Is(err, matroska.ErrConfig) {
			t.Errorf("Feeds %q: %v, want ErrConfig", feeds, err)
		}
	}
	if _, err := tiered.New(tiered.Config{Feeds: []string{"pg"}}); !errors.Is(err, matroska.ErrConfig) {
		t.Errorf("Feeds without Redis: %v, want ErrConfig", err)
	}
	c := newNode(t, nil)
	if err := c.KeepFeed(bg(), "pg", time.Second); !errors.Is(err, matroska.ErrConfig) {
		t.Errorf("KeepFeed without Redis: %v, want ErrConfig", err)
	}
}

// TestFeedReports: the reports that sources publish through a node are
// read back, each under its name, from every master of a Cluster; an empty
// name is refused as bad input.
func TestFeedReports(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		c := newNode(t, cl.rdb)
		names := []string{"orders", "users", "pg", "billing", "search", "audit"}
		for _, n := range names {
			if err := c.ReportFeed(bg(), n, []byte(`{"name":"`+n+`"}`), time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.ReportFeed(bg(), "", []byte(`{}`), time.Minute); !errors.Is(err, remote.ErrFeedName) {
			t.Errorf("ReportFeed with an empty name = %v, want remote.ErrFeedName", err)
		}
		store, err := remote.New(remote.Config{Redis: cl.rdb, Namespace: "t"})
		if err != nil {
			t.Fatal(err)
		}
		if err := store.KeepFeed(bg(), "pg", time.Minute); err != nil { // a feed's key is no report
			t.Fatal(err)
		}
		got, err := store.FeedReports(bg())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(names) {
			t.Errorf("%d reports, want %d: %q", len(got), len(names), got)
		}
		for _, n := range names {
			if string(got[n]) != `{"name":"`+n+`"}` {
				t.Errorf("report of %s = %q", n, got[n])
			}
		}
		ttl, err := cl.rdb.TTL(bg(), store.FeedReportKey("orders")).Result()
		if err != nil || ttl <= 0 || ttl > time.Minute {
			t.Errorf("the report's time to live is %v (%v), want within (0, 1m]", ttl, err)
		}
		if err := store.ReportFeed(bg(), "", nil, time.Minute); !errors.Is(err, remote.ErrFeedName) {
			t.Errorf("Store.ReportFeed with an empty name = %v, want remote.ErrFeedName", err)
		}
	})
}
