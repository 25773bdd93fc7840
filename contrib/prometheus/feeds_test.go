package matroskaprom_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	matroskaprom "github.com/matroska-go/matroska/contrib/prometheus"
	"github.com/matroska-go/matroska/tiered"
)

// TestFeedCollector: each feed's figures are exported under its "feed"
// label, counters as counters; a lag in bytes not yet known is left out.
func TestFeedCollector(t *testing.T) {
	errAt := time.Unix(1700000000, 500_000_000)
	scrapes := 0
	feeds := map[string]func() matroskaprom.FeedFigures{
		"orders": func() matroskaprom.FeedFigures {
			scrapes++
			return matroskaprom.FeedFigures{Active: true, LagBytes: 123456, LagSeconds: 0.35,
				Transactions: 42, Rows: 90, Invalidations: 40, Retries: 3, LastErrorAt: errAt}
		},
		"billing": func() matroskaprom.FeedFigures {
			return matroskaprom.FeedFigures{LagBytes: -1, Transactions: 1}
		},
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(matroskaprom.NewFeedCollector(feeds, matroskaprom.Options{})); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP matroska_feed_active 1 while the feed's consumer streams its slot.
# TYPE matroska_feed_active gauge
matroska_feed_active{feed="billing"} 0
matroska_feed_active{feed="orders"} 1
# HELP matroska_feed_lag_bytes WAL the feed's slot holds back on the database server.
# TYPE matroska_feed_lag_bytes gauge
matroska_feed_lag_bytes{feed="orders"} 123456
# HELP matroska_feed_lag_seconds Age of the commit of the transaction the consumer invalidates now; 0 when it has none pending.
# TYPE matroska_feed_lag_seconds gauge
matroska_feed_lag_seconds{feed="billing"} 0
matroska_feed_lag_seconds{feed="orders"} 0.35
# HELP matroska_feed_transactions_total Committed transactions invalidated and confirmed.
# TYPE matroska_feed_transactions_total counter
matroska_feed_transactions_total{feed="billing"} 1
matroska_feed_transactions_total{feed="orders"} 42
# HELP matroska_feed_rows_total Row changes of the consumer's tables.
# TYPE matroska_feed_rows_total counter
matroska_feed_rows_total{feed="billing"} 0
matroska_feed_rows_total{feed="orders"} 90
# HELP matroska_feed_invalidations_total Invalidate calls that succeeded.
# TYPE matroska_feed_invalidations_total counter
matroska_feed_invalidations_total{feed="billing"} 0
matroska_feed_invalidations_total{feed="orders"} 40
# HELP matroska_feed_retries_total Invalidate calls that failed and were retried.
# TYPE matroska_feed_retries_total counter
matroska_feed_retries_total{feed="billing"} 0
matroska_feed_retries_total{feed="orders"} 3
# HELP matroska_feed_last_error_timestamp_seconds Unix time of the consumer's last error; 0 for none.
# TYPE matroska_feed_last_error_timestamp_seconds gauge
matroska_feed_last_error_timestamp_seconds{feed="billing"} 0
matroska_feed_last_error_timestamp_seconds{feed="orders"} 1.7000000005e+09
`
	before := scrapes
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	if scrapes != before+1 {
		t.Errorf("one scrape read the figures %d times, want once", scrapes-before)
	}
}

// TestFeedCollectorBesideCollector: the feeds' collector registers beside
// a cache's in one registry.
func TestFeedCollectorBesideCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	feeds := map[string]func() matroskaprom.FeedFigures{"pg": func() matroskaprom.FeedFigures { return matroskaprom.FeedFigures{} }}
	if err := reg.Register(matroskaprom.NewFeedCollector(feeds, matroskaprom.Options{})); err != nil {
		t.Fatal(err)
	}
	c, err := tiered.New(tiered.Config{NodeID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := reg.Register(matroskaprom.NewCollector(c, matroskaprom.Options{})); err != nil {
		t.Fatal(err)
	}
	if n, err := testutil.GatherAndCount(reg, "matroska_feed_active", "matroska_loads_total"); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
