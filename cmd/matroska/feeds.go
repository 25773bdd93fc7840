package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Feeds: the health reports that invalidation sources (contrib/pgcdc's
// consumers) publish in the namespace, which stats and watch show beside
// their own figures.

// feedReport is the part of a source's report (contrib/pgcdc's Report,
// published as JSON) that the commands show.
type feedReport struct {
	Name          string    `json:"name"`
	Slot          string    `json:"slot"`
	Feed          bool      `json:"feed"`
	Active        bool      `json:"active"`
	Standby       bool      `json:"standby"`
	LagBytes      int64     `json:"lag_bytes"`
	LagMs         int64     `json:"lag_ms"`
	Transactions  uint64    `json:"transactions"`
	Invalidations uint64    `json:"invalidations"`
	Retries       uint64    `json:"retries"`
	LastError     string    `json:"last_error"`
	LastErrorAt   time.Time `json:"last_error_at"`
	ConfirmedLSN  string    `json:"confirmed_lsn"`
	IntervalMs    int64     `json:"interval_ms"`
	UpdatedAt     time.Time `json:"updated_at"`

	keyGone bool  // Feed, and its key is not alive: the nodes that follow it answer from their loaders
	bad     error // the report does not decode
}

// staleAfter is how long a report may go without an update before its
// source counts as dead: three of its intervals, and at least a minute.
func (r *feedReport) staleAfter() time.Duration {
	return max(time.Minute, 3*time.Duration(r.IntervalMs)*time.Millisecond)
}

// feedReports reads the namespace's reports, and which feeds' keys are
// gone.
func (e *opsEnv) feedReports(ctx context.Context) (map[string]*feedReport, error) {
	raw, err := e.store.FeedReports(ctx)
	if err != nil {
		return nil, err
	}
	reports := make(map[string]*feedReport, len(raw))
	var feeds []string
	for name, b := range raw {
		r := &feedReport{}
		if err := json.Unmarshal(b, r); err != nil {
			r.bad = err
		}
		r.Name = name
		reports[name] = r
		if r.Feed {
			feeds = append(feeds, name)
		}
	}
	missing, err := e.store.MissingFeeds(ctx, feeds)
	if err != nil {
		return nil, err
	}
	for _, n := range missing {
		reports[n].keyGone = true
	}
	return reports, nil
}

// printFeeds writes one line per report (by name), then a loud line for
// each source that is dead, stopped or falling behind. prev are the
// reports printed last time (nil the first time): the rate of
// invalidations and the growth of the lag come from the difference.
func printFeeds(out io.Writer, now time.Time, reports, prev map[string]*feedReport) {
	names := make([]string, 0, len(reports))
	for n := range reports {
		names = append(names, n)
	}
	slices.Sort(names)
	var loud []string
	for _, n := range names {
		r := reports[n]
		if r.bad != nil {
			fmt.Fprintf(out, "feed %-12s MALFORMED report: %v\n", n, r.bad)
			continue
		}
		key := "no feed key (nodes do not wait for it)"
		if r.Feed {
			key = "key alive"
			if r.keyGone {
				key = "key GONE (nodes that follow it answer from their loaders)"
			}
		}
		state := "active"
		switch {
		case r.Standby:
			state = "standby"
		case !r.Active:
			state = "NOT ACTIVE"
		}
		lag := "lag ? bytes"
		if r.LagBytes >= 0 {
			lag = fmt.Sprintf("lag %d bytes", r.LagBytes)
		}
		rate := "- inv/s"
		p := prev[n]
		if p != nil && p.bad == nil && r.UpdatedAt.After(p.UpdatedAt) && r.Invalidations >= p.Invalidations {
			rate = fmt.Sprintf("%.1f inv/s", float64(r.Invalidations-p.Invalidations)/r.UpdatedAt.Sub(p.UpdatedAt).Seconds())
		}
		fmt.Fprintf(out, "feed %-12s %s, %s  %s %v  %s  %d transactions, %d retries  confirmed %s  updated %s ago\n",
			n, state, key, lag, time.Duration(r.LagMs)*time.Millisecond, rate, r.Transactions, r.Retries, r.ConfirmedLSN, ago(now, r.UpdatedAt))
		if r.LastError != "" {
			fmt.Fprintf(out, "     %-12s last error %s ago: %s\n", "", ago(now, r.LastErrorAt), r.LastError)
		}

		slot := fmt.Sprintf("slot %q", r.Slot)
		switch {
		case now.Sub(r.UpdatedAt) > r.staleAfter():
			loud = append(loud, fmt.Sprintf("!! feed %s: STALE report, not updated for %s: its consumer is dead or stopped, and %s keeps WAL on the database server until a consumer runs again (or the slot is dropped: see the README, \"Invalidation from the database\")",
				n, ago(now, r.UpdatedAt), slot))
		case !r.Active && !r.Standby:
			loud = append(loud, fmt.Sprintf("!! feed %s: its consumer is NOT ACTIVE (%s): %s holds WAL on the database server meanwhile", n, orNone(r.LastError), slot))
		case p != nil && p.bad == nil && r.UpdatedAt.After(p.UpdatedAt) && r.LagBytes > p.LagBytes && p.LagBytes >= 0 && r.Transactions == p.Transactions && r.LagMs > 0:
			loud = append(loud, fmt.Sprintf("!! feed %s: LAG GROWS (%d -> %d bytes) and no transaction is confirmed: its invalidations fail (%s)", n, p.LagBytes, r.LagBytes, orNone(r.LastError)))
		}
	}
	for _, l := range loud {
		fmt.Fprintln(out, l)
	}
}

// ago is how long before now t was, to the second ("never" for zero).
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return max(now.Sub(t), 0).Truncate(time.Second).String()
}

func orNone(err string) string {
	if err == "" {
		return "no error reported"
	}
	return strings.TrimSpace(err)
}
