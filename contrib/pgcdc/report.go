package pgcdc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ReportTTL is how long a consumer's report stays in Redis after its last
// update. It is long on purpose: a consumer that died leaves a report that
// is no longer updated (which the CLI's watch flags), rather than no
// report at all.
const ReportTTL = 24 * time.Hour

// FeedReporter stores a consumer's health report where any process can
// read it: *tiered.Cache is one (ReportFeed), which stores it in Redis
// under the cache's namespace (remote.Store.FeedReports reads them all).
type FeedReporter interface {
	ReportFeed(ctx context.Context, name string, report []byte, ttl time.Duration) error
}

// Report is the document a consumer publishes, as JSON, every
// Config.LagInterval while it streams and once when it stops streaming,
// when its Invalidator is a FeedReporter. Its name is Config.Feed, or the
// slot's name without a feed.
type Report struct {
	Name    string `json:"name"`    // Config.Feed, or Config.Slot without a feed
	Slot    string `json:"slot"`    // Config.Slot
	Feed    bool   `json:"feed"`    // Name is a feed that nodes follow (Config.Feed)
	Active  bool   `json:"active"`  // Stats.Active: the consumer streams the slot
	Standby bool   `json:"standby"` // Stats.Standby

	LagBytes int64 `json:"lag_bytes"` // Stats.LagBytes: -1 before the first sample
	LagMs    int64 `json:"lag_ms"`    // Stats.LagTime, in milliseconds

	Transactions  uint64 `json:"transactions"`
	Rows          uint64 `json:"rows"`
	Invalidations uint64 `json:"invalidations"`
	Deps          uint64 `json:"deps"`
	Retries       uint64 `json:"retries"`
	Sessions      uint64 `json:"sessions"`

	LastError    string    `json:"last_error,omitempty"`   // Stats.LastError's text
	LastErrorAt  time.Time `json:"last_error_at,omitzero"` // Stats.LastErrorAt
	ConfirmedLSN string    `json:"confirmed_lsn"`          // Stats.ConfirmedLSN, as PostgreSQL writes it
	CaughtUpAt   time.Time `json:"caught_up_at,omitzero"`  // Stats.CaughtUpAt

	// IntervalMs is Config.LagInterval in milliseconds: a report not
	// updated for several intervals comes from a consumer that stopped.
	IntervalMs int64     `json:"interval_ms"`
	UpdatedAt  time.Time `json:"updated_at"`
}

// Report returns the consumer's report as it would publish it now.
func (c *Consumer) Report() Report {
	st := c.Stats()
	r := Report{
		Name: c.reportName(), Slot: c.cfg.Slot, Feed: c.cfg.Feed != "",
		Active: st.Active, Standby: st.Standby,
		LagBytes: st.LagBytes, LagMs: st.LagTime.Milliseconds(),
		Transactions: st.Transactions, Rows: st.Rows, Invalidations: st.Invalidations,
		Deps: st.Deps, Retries: st.Retries, Sessions: st.Sessions,
		LastErrorAt: st.LastErrorAt, ConfirmedLSN: st.ConfirmedLSN.String(), CaughtUpAt: st.CaughtUpAt,
		IntervalMs: c.cfg.LagInterval.Milliseconds(), UpdatedAt: time.Now(),
	}
	if st.LastError != nil {
		r.LastError = st.LastError.Error()
	}
	return r
}

func (c *Consumer) reportName() string {
	if c.cfg.Feed != "" {
		return c.cfg.Feed
	}
	return c.cfg.Slot
}

// publish stores the consumer's report through the Invalidator, when it is
// a FeedReporter. A failure is counted and logged, and is not the
// stream's error: the next interval tries again.
func (c *Consumer) publish(ctx context.Context) {
	if c.cfg.reporter == nil {
		return
	}
	b, err := json.Marshal(c.Report())
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, max(c.cfg.LagInterval, time.Second))
		err = c.cfg.reporter.ReportFeed(ctx, c.reportName(), b, ReportTTL)
		cancel()
	}
	if err != nil {
		c.stats.reportErrors.Add(1)
		c.cfg.Logger.Warn("pgcdc: could not publish the consumer's report", "name", c.reportName(), "err", fmt.Errorf("pgcdc: report: %w", err))
		return
	}
	c.stats.reports.Add(1)
}
