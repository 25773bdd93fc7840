package pgcdc

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Consumer turns the committed changes of a PostgreSQL database into
// invalidations. Make one with New and run it with Run.
type Consumer struct {
	cfg     settings
	lockKey int64
	running atomic.Bool
	stats   counters
}

// New returns a consumer of cfg. It connects to nothing: Run does.
func New(cfg Config) (*Consumer, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	if _, err := pgconn.ParseConfig(s.Conn); err != nil {
		return nil, fmt.Errorf("%w: Conn: %w", ErrConfig, err)
	}
	h := fnv.New64a()
	h.Write([]byte("matroska/pgcdc:" + s.Slot))
	c := &Consumer{cfg: s, lockKey: int64(h.Sum64())}
	c.stats.lagBytes = -1
	return c, nil
}

// Run consumes the slot until ctx ends, and returns ctx's error then. It
// first takes the slot's advisory lock, waiting as a standby while another
// consumer holds it; then it creates the publication and the slot if they
// are missing, and streams. Any error (a lost connection, a refused
// statement) is logged, kept in Stats.LastError, and followed by a new
// attempt after a backoff: Run does not return for it. A failed
// Invalidate is retried, never skipped.
func (c *Consumer) Run(ctx context.Context) error {
	if !c.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer c.running.Store(false)
	wait := c.cfg.RetryMin
	for {
		streamed, err := c.session(ctx)
		if ctx.Err() == nil {
			c.fail(err)
		}
		if streamed {
			c.publish(context.WithoutCancel(ctx)) // no longer active, and why
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if streamed {
			wait = c.cfg.RetryMin
		}
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, c.cfg.RetryMax)
	}
}

// fail records and logs err.
func (c *Consumer) fail(err error) {
	if err == nil {
		return
	}
	c.stats.setErr(err)
	c.cfg.Logger.Error("pgcdc: consumer error; retrying", "slot", c.cfg.Slot, "err", err)
}

// session runs one connection's life: lock, set-up, stream. streamed
// reports whether it got as far as streaming.
func (c *Consumer) session(ctx context.Context) (streamed bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	db, err := pgx.Connect(ctx, c.cfg.Conn)
	if err != nil {
		return false, fmt.Errorf("pgcdc: connect: %w", err)
	}
	reg := &regular{conn: db}
	defer reg.close()

	if err := c.lock(ctx, reg); err != nil {
		return false, err
	}
	start, err := c.setUp(ctx, reg)
	if err != nil {
		return false, err
	}

	rcfg, err := pgconn.ParseConfig(c.cfg.Conn)
	if err != nil {
		return false, fmt.Errorf("pgcdc: %w", err)
	}
	rcfg.RuntimeParams["replication"] = "database"
	repl, err := pgconn.ConnectConfig(ctx, rcfg)
	if err != nil {
		return false, fmt.Errorf("pgcdc: replication connection: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = repl.Close(closeCtx)
	}()
	err = pglogrepl.StartReplication(ctx, repl, c.cfg.Slot, 0, pglogrepl.StartReplicationOptions{
		PluginArgs: []string{"proto_version '1'", "publication_names " + quoteLiteral(c.cfg.Publication)},
	})
	if err != nil {
		return false, fmt.Errorf("pgcdc: start replication of slot %q: %w", c.cfg.Slot, err)
	}

	c.stats.sessions.Add(1)
	c.stats.active.Store(true)
	defer c.stats.active.Store(false)

	// The lag sampler uses the lock's connection: its failure means the
	// lock may be gone, and ends the session. It publishes the consumer's
	// report after each sample.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.sampleLag(ctx, reg); err != nil {
			cancel(err)
		}
	}()
	defer wg.Wait()
	defer cancel(nil)

	s := &stream{c: c, conn: repl, reg: reg, rels: map[uint32]*relation{}, confirmed: start}
	err = s.run(ctx)
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause
	}
	return true, err
}

// regular is the consumer's regular connection: it holds the advisory
// lock, and serves the set-up, the key look-ups and the lag samples.
type regular struct {
	mu   sync.Mutex // one statement at a time: the stream and the sampler share it
	conn *pgx.Conn
}

func (r *regular) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = r.conn.Close(ctx) // ends the session, and releases the lock with it
}

func (r *regular) queryRow(ctx context.Context, dst []any, sql string, args ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn.QueryRow(ctx, sql, args...).Scan(dst...)
}

// lock takes the slot's advisory lock, polling every LockPoll while
// another session holds it. The lock is the session's: it lasts until the
// regular connection closes, whichever way it closes.
func (c *Consumer) lock(ctx context.Context, reg *regular) error {
	defer c.stats.standby.Store(false)
	for {
		var ok bool
		if err := reg.queryRow(ctx, []any{&ok}, "SELECT pg_try_advisory_lock($1)", c.lockKey); err != nil {
			return fmt.Errorf("pgcdc: advisory lock: %w", err)
		}
		if ok {
			return nil
		}
		c.stats.standby.Store(true)
		if !sleep(ctx, c.cfg.LockPoll) {
			return ctx.Err()
		}
	}
}

// setUp creates the publication and the slot when they are missing, and
// adds to the publication the configured tables it lacks. It returns the
// slot's confirmed position, where the stream resumes.
func (c *Consumer) setUp(ctx context.Context, reg *regular) (pglogrepl.LSN, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	db := reg.conn
	pub := pgx.Identifier{c.cfg.Publication}.Sanitize()
	var all bool
	err := db.QueryRow(ctx, "SELECT puballtables FROM pg_publication WHERE pubname = $1", c.cfg.Publication).Scan(&all)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		sql := "CREATE PUBLICATION " + pub + " FOR ALL TABLES"
		if !c.cfg.AllTables {
			sql = "CREATE PUBLICATION " + pub + " FOR TABLE " + c.tableList(nil)
		}
		if _, err := db.Exec(ctx, sql); err != nil {
			return 0, fmt.Errorf("pgcdc: create publication %q: %w", c.cfg.Publication, err)
		}
	case err != nil:
		return 0, fmt.Errorf("pgcdc: publication %q: %w", c.cfg.Publication, err)
	case !all:
		rows, err := db.Query(ctx, "SELECT schemaname || '.' || tablename FROM pg_publication_tables WHERE pubname = $1", c.cfg.Publication)
		if err != nil {
			return 0, fmt.Errorf("pgcdc: publication %q: %w", c.cfg.Publication, err)
		}
		have, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return 0, fmt.Errorf("pgcdc: publication %q: %w", c.cfg.Publication, err)
		}
		if missing := c.tableList(have); missing != "" {
			if _, err := db.Exec(ctx, "ALTER PUBLICATION "+pub+" ADD TABLE "+missing); err != nil {
				return 0, fmt.Errorf("pgcdc: add tables to publication %q: %w", c.cfg.Publication, err)
			}
		}
	}

	const slotSQL = "SELECT coalesce(plugin, ''), coalesce(database, ''), coalesce(confirmed_flush_lsn, '0/0')::text FROM pg_replication_slots WHERE slot_name = $1"
	var plugin, database string
	var lsn pglogrepl.LSN
	err = db.QueryRow(ctx, slotSQL, c.cfg.Slot).Scan(&plugin, &database, &lsn)
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := db.Exec(ctx, "SELECT pg_create_logical_replication_slot($1, 'pgoutput')", c.cfg.Slot); err != nil {
			return 0, fmt.Errorf("pgcdc: create slot %q: %w", c.cfg.Slot, err)
		}
		err = db.QueryRow(ctx, slotSQL, c.cfg.Slot).Scan(&plugin, &database, &lsn)
	}
	if err != nil {
		return 0, fmt.Errorf("pgcdc: slot %q: %w", c.cfg.Slot, err)
	}
	if plugin != "pgoutput" || database != db.Config().Database {
		return 0, fmt.Errorf("pgcdc: slot %q exists with plugin %q on database %q, not pgoutput on %q", c.cfg.Slot, plugin, database, db.Config().Database)
	}
	return lsn, nil
}

// tableList returns the configured tables not in have, quoted and joined
// with commas.
func (c *Consumer) tableList(have []string) string {
	skip := map[string]bool{}
	for _, h := range have {
		skip[h] = true
	}
	var out string
	for name := range c.cfg.tables {
		if skip[name] {
			continue
		}
		schema, table, _ := cut(name)
		if out != "" {
			out += ", "
		}
		out += pgx.Identifier{schema, table}.Sanitize()
	}
	return out
}

// sampleLag samples the slot's lag every LagInterval until ctx ends.
func (c *Consumer) sampleLag(ctx context.Context, reg *regular) error {
	t := time.NewTicker(c.cfg.LagInterval)
	defer t.Stop()
	for {
		var lag *int64
		err := reg.queryRow(ctx, []any{&lag},
			"SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1", c.cfg.Slot)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("pgcdc: sample the slot's lag (the lock's connection): %w", err)
		}
		if lag != nil {
			c.stats.setLag(*lag)
		}
		c.publish(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}
