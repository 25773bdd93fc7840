package pgcdc

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
)

// Stats are a consumer's counters since New, and the state of its slot.
type Stats struct {
	Active  bool // holds the lock and streams the slot
	Standby bool // waits for the lock that another consumer holds

	Transactions  uint64 // committed transactions invalidated and confirmed
	Rows          uint64 // row changes of the tables of Config.Tables
	Invalidations uint64 // Invalidate calls that succeeded (one per transaction, or per batch)
	Deps          uint64 // dependencies in those calls
	Ignored       uint64 // row changes and truncations of tables not in Config.Tables
	Truncates     uint64 // tables truncated (each invalidates its type-wide dependencies)
	Fallbacks     uint64 // row changes that invalidated type-wide dependencies: no key, no old values, a failing Scope
	Retries       uint64 // Invalidate calls that failed and were retried
	Sessions      uint64 // times the consumer started streaming (takeovers and reconnections)

	LastError   error     // the last error: a failed Invalidate, a lost connection; nil if none yet
	LastErrorAt time.Time // when LastError happened

	// ConfirmedLSN is the position the consumer confirmed to the server
	// last: every transaction committed before it is invalidated.
	ConfirmedLSN pglogrepl.LSN

	// LastCommit is the commit time (the server's clock) of the last
	// transaction invalidated; LastApplied is when that was done (ours).
	LastCommit, LastApplied time.Time

	// LagTime is how long ago the transaction being invalidated now
	// committed: zero when the consumer has invalidated every transaction
	// it received. It grows while Redis refuses the invalidations.
	LagTime time.Duration

	// LagBytes is the WAL the slot holds back and the consumer has yet to
	// confirm: pg_current_wal_lsn() - confirmed_flush_lsn of the slot, as
	// sampled at LagSampledAt (every Config.LagInterval while active);
	// -1 before the first sample. A slot whose lag grows while no
	// consumer is active makes the server keep WAL without bound: see the
	// package documentation.
	LagBytes     int64
	LagSampledAt time.Time

	// CaughtUpAt is the latest time at which every change committed before
	// it was invalidated, as far as the feed's samples tell (Config.Feed;
	// zero without a feed, or before the first); FeedKeeps counts the times
	// the feed's key was renewed, FeedErrors those that failed.
	CaughtUpAt            time.Time
	FeedKeeps, FeedErrors uint64

	// Reports counts the reports published (see Report), ReportErrors
	// those that failed.
	Reports, ReportErrors uint64
}

// counters are the consumer's Stats as they change.
type counters struct {
	active, standby atomic.Bool

	transactions, rows, invalidations, deps, ignored, truncates,
	fallbacks, retries, sessions atomic.Uint64
	feedKeeps, feedErrors atomic.Uint64
	reports, reportErrors atomic.Uint64
	caughtUp              atomic.Int64 // Unix nanoseconds, 0 for none

	confirmed atomic.Uint64 // a pglogrepl.LSN

	mu          sync.Mutex // guards the fields below
	lastErr     error
	lastErrAt   time.Time
	lastCommit  time.Time
	lastApplied time.Time
	pending     time.Time // commit time of the transaction being invalidated, or zero
	lagBytes    int64
	lagAt       time.Time
}

// Stats returns the consumer's counters and the state of its slot.
func (c *Consumer) Stats() Stats {
	s := &c.stats
	st := Stats{
		Active:        s.active.Load(),
		Standby:       s.standby.Load(),
		Transactions:  s.transactions.Load(),
		Rows:          s.rows.Load(),
		Invalidations: s.invalidations.Load(),
		Deps:          s.deps.Load(),
		Ignored:       s.ignored.Load(),
		Truncates:     s.truncates.Load(),
		Fallbacks:     s.fallbacks.Load(),
		Retries:       s.retries.Load(),
		Sessions:      s.sessions.Load(),
		ConfirmedLSN:  pglogrepl.LSN(s.confirmed.Load()),
		FeedKeeps:     s.feedKeeps.Load(),
		FeedErrors:    s.feedErrors.Load(),
		Reports:       s.reports.Load(),
		ReportErrors:  s.reportErrors.Load(),
	}
	if ns := s.caughtUp.Load(); ns != 0 {
		st.CaughtUpAt = time.Unix(0, ns)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st.LastError, st.LastErrorAt = s.lastErr, s.lastErrAt
	st.LastCommit, st.LastApplied = s.lastCommit, s.lastApplied
	if !s.pending.IsZero() {
		st.LagTime = max(time.Since(s.pending), 0)
	}
	st.LagBytes, st.LagSampledAt = s.lagBytes, s.lagAt
	return st
}

func (s *counters) setErr(err error) {
	s.mu.Lock()
	s.lastErr, s.lastErrAt = err, time.Now()
	s.mu.Unlock()
}

func (s *counters) setPending(commit time.Time) {
	s.mu.Lock()
	s.pending = commit
	s.mu.Unlock()
}

func (s *counters) applied(commit time.Time) {
	s.mu.Lock()
	s.pending = time.Time{}
	s.lastCommit, s.lastApplied = commit, time.Now()
	s.mu.Unlock()
}

func (s *counters) setLag(bytes int64) {
	s.mu.Lock()
	s.lagBytes, s.lagAt = bytes, time.Now()
	s.mu.Unlock()
}
