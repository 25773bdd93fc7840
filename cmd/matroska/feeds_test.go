package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/remote"
)

// TestWatchFeeds: watch and stats show each feed's report, its lag and
// whether its key is alive, and flag loudly a report its consumer no
// longer updates.
func TestWatchFeeds(t *testing.T) {
	for _, topo := range []string{"standalone", "cluster"} {
		t.Run(topo, func(t *testing.T) { testWatchFeeds(t, topo) })
	}
}

func testWatchFeeds(t *testing.T, topo string) {
	rdb, addr := redisOn(t, topo)
	ctx := context.Background()
	store, err := remote.New(remote.Config{Redis: rdb, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	report := func(name string, fields map[string]any) {
		t.Helper()
		fields["name"], fields["slot"], fields["feed"] = name, "slot_"+name, true
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.ReportFeed(ctx, name, b, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	report("orders", map[string]any{"active": true, "lag_bytes": 123456, "lag_ms": 350, "transactions": 42,
		"invalidations": 40, "interval_ms": 5000, "confirmed_lsn": "0/1948300", "updated_at": now})
	if err := store.KeepFeed(ctx, "orders", time.Hour); err != nil {
		t.Fatal(err)
	}
	report("billing", map[string]any{"active": true, "lag_bytes": 98765, "interval_ms": 5000,
		"last_error": "pgcdc: invalidate 3 dependencies: redis down", "last_error_at": now.Add(-11 * time.Minute),
		"updated_at": now.Add(-10 * time.Minute)})
	if _, err := store.Invalidate(ctx, []deps.Dep{deps.Tag("x")}, "test"); err != nil { // the namespace exists
		t.Fatal(err)
	}

	common := []string{"-redis", addr, "-namespace", "shop"}
	watched := &safeBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- run(append(append([]string{"watch"}, common...), "-count", "1", "-feeds", "1h"), watched)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(watched.String(), "watching ") {
		if time.Now().After(deadline) {
			t.Fatalf("watch did not start: %s", watched.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if _, err := store.Invalidate(ctx, []deps.Dep{deps.Tag("y")}, "test"); err != nil {
		t.Fatal(err)
	}
	var out string
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		out = watched.String()
	case <-time.After(5 * time.Second):
		t.Fatalf("watch did not print the invalidation:\n%s", watched.String())
	}
	var stats bytes.Buffer
	if err := run(append([]string{"stats"}, common...), &stats); err != nil {
		t.Fatalf("%v\n%s", err, stats.String())
	}
	for what, o := range map[string]string{"watch": out, "stats": stats.String()} {
		lines := strings.Split(o, "\n")
		line := func(prefix string) string {
			for _, l := range lines {
				if strings.HasPrefix(l, prefix) {
					return l
				}
			}
			t.Errorf("%s: no line starting %q:\n%s", what, prefix, o)
			return ""
		}
		for _, w := range []string{"active, key alive", "lag 123456 bytes 350ms", "42 transactions", "confirmed 0/1948300"} {
			if l := line("feed orders "); !strings.Contains(l, w) {
				t.Errorf("%s: the orders line lacks %q: %s", what, w, l)
			}
		}
		for _, w := range []string{"key GONE", "lag 98765 bytes", "updated 10m"} {
			if l := line("feed billing "); !strings.Contains(l, w) {
				t.Errorf("%s: the billing line lacks %q: %s", what, w, l)
			}
		}
		if l := line("!! feed billing: STALE report"); !strings.Contains(l, `slot "slot_billing" keeps WAL`) {
			t.Errorf("%s: the stale line does not name the slot: %s", what, l)
		}
		if strings.Contains(o, "!! feed orders") {
			t.Errorf("%s: a loud line about a healthy feed:\n%s", what, o)
		}
		if !strings.Contains(o, "last error 11m") || !strings.Contains(o, "redis down") {
			t.Errorf("%s: the billing feed's last error is not shown:\n%s", what, o)
		}
	}
}

// TestPrintFeeds: from two reports of a feed, the rate of invalidations;
// a lag that grows while no transaction is confirmed, and a consumer that
// stopped, are flagged.
func TestPrintFeeds(t *testing.T) {
	now := time.Now()
	prev := map[string]*feedReport{
		"a": {Active: true, Invalidations: 100, LagBytes: 10, Transactions: 90, UpdatedAt: now.Add(-10 * time.Second)},
		"b": {Active: true, Invalidations: 7, LagBytes: 1000, LagMs: 20, Transactions: 7, UpdatedAt: now.Add(-5 * time.Second)},
	}
	cur := map[string]*feedReport{
		"a": {Active: true, Invalidations: 150, LagBytes: 10, Transactions: 140, UpdatedAt: now},
		"b": {Active: true, Invalidations: 7, LagBytes: 5000, LagMs: 5020, Transactions: 7, Retries: 9, LastError: "refused", UpdatedAt: now},
		"c": {Standby: false, Active: false, LastError: "connection refused", UpdatedAt: now},
	}
	var out bytes.Buffer
	printFeeds(&out, now, cur, prev)
	o := out.String()
	for _, w := range []string{
		"5.0 inv/s", // a: 50 in 10 s
		"!! feed b: LAG GROWS (1000 -> 5000 bytes) and no transaction is confirmed: its invalidations fail (refused)",
		"!! feed c: its consumer is NOT ACTIVE (connection refused)",
	} {
		if !strings.Contains(o, w) {
			t.Errorf("output lacks %q:\n%s", w, o)
		}
	}
	if strings.Contains(o, "!! feed a") {
		t.Errorf("a loud line about a healthy feed:\n%s", o)
	}
}
