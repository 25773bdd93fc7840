package pgcdc_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"

	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/remote"
)

// TestReport: a consumer whose Invalidator is a cache publishes its report
// in the cache's namespace: its name, its counters, its slot's lag and
// confirmed position while it streams; the error of an invalidation Redis
// refused; and, once it stops, that it is no longer active.
func TestReport(t *testing.T) {
	r := newRig(t, "report")
	inv := &flaky{Cache: r.node("feeder")}
	cfg := r.config()
	cfg.Invalidator, cfg.Feed = inv, "pg"
	c := start(t, cfg)

	store, err := remote.New(remote.Config{Redis: r.redis.Client(t), Namespace: r.name})
	if err != nil {
		t.Fatal(err)
	}
	read := func() (pgcdc.Report, bool) {
		t.Helper()
		all, err := store.FeedReports(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(all) > 1 {
			t.Fatalf("reports of %d feeds, want 1: %v", len(all), all)
		}
		b, ok := all["pg"]
		if !ok {
			return pgcdc.Report{}, false
		}
		var rep pgcdc.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatalf("report %s: %v", b, err)
		}
		return rep, true
	}

	waitFor(t, 10*time.Second, "the consumer streams", func() bool { return c.Stats().Active })
	r.exec(`INSERT INTO articles VALUES (1, 'v1', 'go', true)`)
	var rep pgcdc.Report
	waitFor(t, 10*time.Second, "a report of the insert", func() bool {
		var ok bool
		rep, ok = read()
		return ok && rep.Transactions >= 1 && rep.LagBytes >= 0
	})
	if rep.Name != "pg" || rep.Slot != "matroska" || !rep.Feed || !rep.Active || rep.Standby {
		t.Errorf("report %+v: want feed pg of slot matroska, active", rep)
	}
	if rep.Rows < 1 || rep.Invalidations < 1 || rep.Deps < 1 || rep.Sessions != 1 || rep.IntervalMs != 50 {
		t.Errorf("report %+v: counters of one insert, one session, interval 50 ms expected", rep)
	}
	if lsn, err := pglogrepl.ParseLSN(rep.ConfirmedLSN); err != nil || lsn == 0 {
		t.Errorf("confirmed_lsn %q: %v", rep.ConfirmedLSN, err)
	}
	if rep.UpdatedAt.IsZero() || rep.LastError != "" || !rep.LastErrorAt.IsZero() {
		t.Errorf("report %+v: want an update time and no error", rep)
	}
	ttl, err := r.redis.Client(t).TTL(context.Background(), store.FeedReportKey("pg")).Result()
	if err != nil || ttl <= 0 || ttl > pgcdc.ReportTTL {
		t.Errorf("the report's time to live is %v (%v), want within (0, %v]", ttl, err, pgcdc.ReportTTL)
	}

	// Redis refuses the invalidations: the report carries the error and
	// the retries, and the pending transaction's lag.
	inv.fail.Store(true)
	r.exec(`UPDATE articles SET title = 'v2' WHERE id = 1`)
	waitFor(t, 10*time.Second, "a report of the failure", func() bool {
		var ok bool
		rep, ok = read()
		return ok && rep.Retries > 0 && rep.LastError != ""
	})
	if !strings.Contains(rep.LastError, "flaky: refused") || rep.LastErrorAt.IsZero() {
		t.Errorf("report %+v: want the invalidation's error and its time", rep)
	}
	inv.fail.Store(false)
	waitFor(t, 10*time.Second, "a report of the recovery", func() bool {
		var ok bool
		rep, ok = read()
		return ok && rep.Transactions >= 2 && rep.LagMs == 0
	})

	// The consumer stops: its last report says so, and stays.
	c.stop()
	rep, ok := read()
	if !ok || rep.Active || rep.Transactions < 2 {
		t.Errorf("after the stop: report %+v (found %v), want one not active", rep, ok)
	}
	if st := c.Stats(); st.Reports == 0 || st.ReportErrors != 0 {
		t.Errorf("stats %+v: want reports counted, no error", st)
	}
}

// TestReportName: without a feed, the report is named after the slot.
func TestReportName(t *testing.T) {
	c, err := pgcdc.New(pgcdc.Config{Conn: "postgres://localhost/db", Invalidator: plainInvalidator{}, Tables: map[string]pgcdc.Table{"articles": {}}, Slot: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	rep := c.Report()
	if rep.Name != "orders" || rep.Slot != "orders" || rep.Feed || rep.Active || rep.LagBytes != -1 || rep.IntervalMs != 5000 {
		t.Errorf("report of a consumer not started: %+v", rep)
	}
}
