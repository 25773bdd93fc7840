package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/matroska-go/matroska/scopes"
)

// Errors of the package. Test for them with errors.Is; they are wrapped with
// details.
var (
	// ErrConfig is returned by New for a configuration it cannot run.
	ErrConfig = errors.New("pgcdc: invalid configuration")

	// ErrRunning is returned by Run when the consumer already runs.
	ErrRunning = errors.New("pgcdc: consumer already running")
)

// Config configures a Consumer. Conn, Invalidator and Tables are required;
// the other fields have the defaults their comments give. New never changes
// the Config it is given.
type Config struct {
	// Conn is the connection string of the database (a URL or key=value
	// DSN, as pgx takes it). The consumer opens two connections with it: a
	// regular one, which holds the advisory lock, creates the publication
	// and the slot and samples the lag, and a replication connection
	// (replication=database is added). The user needs the REPLICATION
	// attribute, and the right to create the publication unless it exists.
	Conn string

	// Invalidator receives one Invalidate call per committed transaction
	// (or per batch of a large one): a *tiered.Cache.
	Invalidator scopes.Invalidator

	// Tables maps a table's name to what its rows invalidate. The name is
	// "schema.table", or "table" for the schema public. Changes of other
	// tables that reach the publication are ignored and counted.
	Tables map[string]Table

	// Publication is the publication the slot streams. It is created when
	// missing, FOR TABLE the tables of Tables (or FOR ALL TABLES with
	// AllTables); the tables of Tables that an existing publication lacks
	// are added to it (unless it is FOR ALL TABLES).
	// default: "matroska"
	Publication string

	// AllTables creates a missing publication FOR ALL TABLES (which needs
	// a superuser) rather than FOR TABLE the tables of Tables.
	// default: false
	AllTables bool

	// Slot is the logical replication slot, created (durable, with the
	// pgoutput plugin) when missing. Its name is also the name of the
	// advisory lock that makes one consumer of the slot active at a time.
	// default: "matroska"
	Slot string

	// BatchSize bounds the dependencies of one Invalidate call: a
	// transaction that changes more rows is invalidated in several calls,
	// in order, so that no Redis script runs long. The slot is confirmed
	// after the last.
	// default: 1000
	BatchSize int

	// RetryMin and RetryMax bound the wait between two attempts of a failed
	// Invalidate (doubling from RetryMin) and between two attempts to
	// connect, lock and stream after an error.
	// default: 100 ms and 5 s
	RetryMin, RetryMax time.Duration

	// Feed, when set, names the invalidation feed this consumer keeps for
	// the nodes that follow it (tiered.Config.Feeds): while the consumer
	// has invalidated every change committed up to Bound before now, it
	// keeps the feed's key alive in Redis through the Invalidator (which
	// must then have a KeepFeed method, as *tiered.Cache has), and a node
	// that follows the feed serves cached values; once the consumer falls
	// behind, or stops, the key runs out and the nodes answer from their
	// loaders. A change made outside the application is then served stale
	// at most Bound plus twice the nodes' Heartbeat after its commit.
	// default: none (the nodes do not wait for the consumer)
	Feed string

	// Bound is the feed's bound (see Feed). The consumer looks at the
	// server's WAL position every Bound/4.
	// default: 5 s
	Bound time.Duration

	// LockPoll is how often a standby tries the advisory lock.
	// default: 1 s
	LockPoll time.Duration

	// StatusInterval is how often the consumer reports its confirmed
	// position to the server while nothing else moves it; it must stay
	// below the server's wal_sender_timeout (60 s by default).
	// default: 10 s
	StatusInterval time.Duration

	// LagInterval is how often the slot's lag in bytes is sampled from
	// pg_replication_slots (Stats.LagBytes), and the consumer's Report
	// published (when the Invalidator is a FeedReporter).
	// default: 5 s
	LagInterval time.Duration

	// Logger receives errors (each also kept in Stats.LastError) and
	// warnings about tables that invalidate more than needed.
	// default: slog.Default()
	Logger *slog.Logger
}

// Table says what the rows of one table invalidate.
type Table struct {
	// Type names the table's rows in their dependencies,
	// deps.Id(Type, key), and in deps.All(Type) for a TRUNCATE. Keep it
	// what the GORM plugin (contrib/gorm) uses for the model, so that both
	// paths invalidate the same entries: the table name unless its
	// Options.TypeName says otherwise.
	// default: the table name without its schema
	Type string

	// Key are the primary-key columns, in the order of the model's key
	// fields (the order contrib/gorm's CompositeKey joins them in). A row's
	// key is the column's value for one column, CompositeKey of the values
	// for several.
	// default: the columns of the table's primary key, in index order
	Key []string

	// Scopes give the list conditions of a row's old and new values: see
	// ScopesOf. An UPDATE or DELETE of a table with Scopes needs REPLICA
	// IDENTITY FULL for the old values; without it the consumer logs a
	// warning and invalidates each Scope's type-wide dependency (All) for
	// the old side.
	Scopes []Scope
}

// settings is a Config with its defaults filled in.
type settings struct {
	Config
	tables   map[string]Table // by "schema.table"
	keeper   FeedKeeper       // the Invalidator, when Feed is set
	reporter FeedReporter     // the Invalidator, when it is one
}

func (c Config) settings() (settings, error) {
	s := settings{Config: c, tables: make(map[string]Table, len(c.Tables))}
	if c.Conn == "" {
		return s, fmt.Errorf("%w: Conn is empty", ErrConfig)
	}
	if c.Invalidator == nil {
		return s, fmt.Errorf("%w: Invalidator is nil", ErrConfig)
	}
	if len(c.Tables) == 0 {
		return s, fmt.Errorf("%w: Tables is empty", ErrConfig)
	}
	for name, t := range c.Tables {
		full := qualified(name)
		if _, dup := s.tables[full]; dup || name == "" || strings.Count(full, ".") != 1 {
			return s, fmt.Errorf("%w: table name %q (want \"table\" or \"schema.table\", once)", ErrConfig, name)
		}
		if t.Type == "" {
			_, t.Type, _ = strings.Cut(full, ".")
		}
		for _, sc := range t.Scopes {
			if sc == nil {
				return s, fmt.Errorf("%w: table %q: nil Scope", ErrConfig, name)
			}
		}
		s.tables[full] = t
	}
	if s.Publication == "" {
		s.Publication = "matroska"
	}
	if s.Slot == "" {
		s.Slot = "matroska"
	}
	if s.BatchSize <= 0 {
		s.BatchSize = 1000
	}
	if s.RetryMin <= 0 {
		s.RetryMin = 100 * time.Millisecond
	}
	if s.RetryMax <= 0 {
		s.RetryMax = 5 * time.Second
	}
	s.RetryMax = max(s.RetryMax, s.RetryMin)
	if s.LockPoll <= 0 {
		s.LockPoll = time.Second
	}
	if s.StatusInterval <= 0 {
		s.StatusInterval = 10 * time.Second
	}
	if s.LagInterval <= 0 {
		s.LagInterval = 5 * time.Second
	}
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.Bound <= 0 {
		s.Bound = 5 * time.Second
	}
	if s.Feed != "" {
		k, ok := c.Invalidator.(FeedKeeper)
		if !ok {
			return s, fmt.Errorf("%w: Feed is set but the Invalidator (%T) has no KeepFeed method", ErrConfig, c.Invalidator)
		}
		s.keeper = k
	}
	s.reporter, _ = c.Invalidator.(FeedReporter)
	return s, nil
}

// FeedKeeper keeps a feed's key alive: *tiered.Cache is one (KeepFeed).
type FeedKeeper interface {
	KeepFeed(ctx context.Context, name string, ttl time.Duration) error
}

// qualified returns "schema.table" for "table" (schema public) or itself.
func qualified(name string) string {
	if strings.Contains(name, ".") {
		return name
	}
	return "public." + name
}
