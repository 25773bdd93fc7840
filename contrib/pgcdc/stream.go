package pgcdc

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/matroska-go/matroska/deps"
)

// stream is one session's replication stream: it decodes the pgoutput
// messages, gathers each transaction's dependencies, invalidates them and
// confirms the transaction, one transaction after the other, on one
// goroutine. Nothing is confirmed that is not invalidated, and a
// transaction is invalidated only after every one before it: the order of
// the loop is the proof.
type stream struct {
	c    *Consumer
	conn *pgconn.PgConn
	reg  *regular
	m    *pgtype.Map
	rels map[uint32]*relation

	confirmed  pglogrepl.LSN // every transaction committed before it is invalidated
	nextStatus time.Time     // when to report the position again

	// The feed (Config.Feed): every Bound/4 (nextSample) the consumer
	// notes the server's WAL position and the time just before it asked
	// (samples). Once it has confirmed a position at or past a sample's,
	// every change committed before that time is invalidated: the feed's
	// key is renewed for what is left of Bound since then.
	samples    []walSample
	nextSample time.Time
	caughtUp   time.Time

	inTx   bool
	commit time.Time // the transaction's commit time
	sentAt time.Time // when the server sent the last change (its clock)

	// Transactions committed and received whose dependencies wait in
	// pending, to be invalidated together and confirmed by settle: while
	// the stream is behind (a transaction arrives well after its commit,
	// by this machine's clock against the server's: a skew only makes the
	// stream wait settleAfter more, or never), the transactions that
	// follow are already on their way, and one Invalidate for several of
	// them is one Redis round trip.
	waitTxs    uint64
	waitEnd    pglogrepl.LSN         // the end of the last of them
	waitCommit time.Time             // its commit time
	pending    []deps.Dep            // dependencies not yet invalidated, at most BatchSize
	seen       map[deps.Dep]struct{} // pending, as a set
}

// relation is what a Relation message said of a table, and its settings.
type relation struct {
	id        uint32
	name      string // "schema.table"
	cols      []*pglogrepl.RelationMessageColumn
	identity  uint8  // replica identity: 'd' default, 'f' full, 'i' index, 'n' nothing
	table     *Table // nil for a table not in Config.Tables
	key       []string
	keyErr    error // why key is empty
	warnedKey bool  // a fallback for lack of key was logged
	warnedOld bool  // a fallback for lack of old values was logged
}

// walSample is the server's WAL position (lsn) and a time before it was
// read (at): every transaction committed before at ends before lsn.
type walSample struct {
	lsn pglogrepl.LSN
	at  time.Time
}

func (s *stream) run(ctx context.Context) error {
	s.m = pgtype.NewMap()
	s.seen = map[deps.Dep]struct{}{}
	s.c.stats.confirmed.Store(uint64(s.confirmed))
	for {
		if time.Now().After(s.nextStatus) {
			if err := s.status(false); err != nil {
				return err
			}
		}
		deadline := s.nextStatus
		if s.c.cfg.keeper != nil {
			if !time.Now().Before(s.nextSample) {
				if err := s.sample(ctx); err != nil {
					return err
				}
			}
			if s.nextSample.Before(deadline) {
				deadline = s.nextSample
			}
		}
		if s.waitTxs > 0 {
			deadline = time.Now().Add(settleAfter) // nothing more comes at once: settle
		}
		rctx, cancel := context.WithDeadline(ctx, deadline)
		raw, err := s.conn.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			if ctx.Err() == nil && pgconn.Timeout(err) {
				if err := s.settle(ctx); err != nil {
					return err
				}
				continue
			}
			return fmt.Errorf("pgcdc: receive: %w", err)
		}
		switch msg := raw.(type) {
		case *pgproto3.ErrorResponse:
			return fmt.Errorf("pgcdc: replication: %w", pgconn.ErrorResponseToPgError(msg))
		case *pgproto3.CopyData:
			if err := s.copyData(ctx, msg.Data); err != nil {
				return err
			}
		default:
			return fmt.Errorf("pgcdc: unexpected message %T", raw)
		}
	}
}

func (s *stream) copyData(ctx context.Context, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("pgcdc: %w", err)
		}
		// Between transactions everything the server sent is invalidated:
		// the position it has reached is safe to confirm (so an idle slot,
		// or one whose other tables change, holds no WAL back).
		if !s.inTx && s.waitTxs == 0 && ka.ServerWALEnd > s.confirmed {
			s.confirm(ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			return s.status(false)
		}
	case pglogrepl.XLogDataByteID:
		x, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("pgcdc: %w", err)
		}
		m, err := pglogrepl.Parse(x.WALData)
		if err != nil {
			return fmt.Errorf("pgcdc: decode pgoutput message: %w", err)
		}
		return s.message(ctx, m)
	}
	return nil
}

func (s *stream) message(ctx context.Context, m pglogrepl.Message) error {
	switch m := m.(type) {
	case *pglogrepl.RelationMessage:
		return s.relation(ctx, m)
	case *pglogrepl.BeginMessage:
		s.inTx, s.commit = true, m.CommitTime
		if s.waitTxs == 0 { // else the lag runs from the oldest that waits
			s.c.stats.setPending(m.CommitTime)
		}
	case *pglogrepl.CommitMessage:
		s.inTx = false
		s.waitTxs, s.waitEnd, s.waitCommit = s.waitTxs+1, m.TransactionEndLSN, m.CommitTime
		if time.Since(m.CommitTime) > behindAfter && len(s.pending) < s.c.cfg.BatchSize {
			return nil // behind: the next transactions join this one's Invalidate
		}
		return s.settle(ctx)
	case *pglogrepl.InsertMessage:
		return s.change(ctx, m.RelationID, Insert, 0, nil, m.Tuple)
	case *pglogrepl.UpdateMessage:
		return s.change(ctx, m.RelationID, Update, m.OldTupleType, m.OldTuple, m.NewTuple)
	case *pglogrepl.DeleteMessage:
		return s.change(ctx, m.RelationID, Delete, m.OldTupleType, m.OldTuple, nil)
	case *pglogrepl.TruncateMessage:
		for _, id := range m.RelationIDs {
			rel := s.rels[id]
			if rel == nil || rel.table == nil {
				s.c.stats.ignored.Add(1)
				continue
			}
			s.c.stats.truncates.Add(1)
			if err := s.add(ctx, s.typeWide(rel)...); err != nil {
				return err
			}
		}
	}
	return nil
}

// relation records a table's description; it comes before the first
// change of the table in a session and again after its schema changed.
func (s *stream) relation(ctx context.Context, m *pglogrepl.RelationMessage) error {
	rel := &relation{id: m.RelationID, name: m.Namespace + "." + m.RelationName, cols: m.Columns, identity: m.ReplicaIdentity}
	if t, ok := s.c.cfg.tables[rel.name]; ok {
		rel.table = &t
		rel.key = t.Key
		if len(rel.key) == 0 {
			key, err := s.primaryKey(ctx, rel.id)
			if err != nil {
				return err
			}
			rel.key = key
			if len(key) == 0 {
				rel.keyErr = fmt.Errorf("table %s has no primary key (set Table.Key to a unique column)", rel.name)
			}
		}
		if len(t.Scopes) > 0 && rel.identity != 'f' {
			s.c.cfg.Logger.Warn("pgcdc: a table with Scopes lacks REPLICA IDENTITY FULL: its updates and deletes invalidate every list of its scopes",
				"table", rel.name, "fix", "ALTER TABLE "+rel.name+" REPLICA IDENTITY FULL")
		}
	}
	s.rels[rel.id] = rel
	return nil
}

// primaryKey returns the columns of the table's primary key, in index
// order, or none.
func (s *stream) primaryKey(ctx context.Context, relid uint32) ([]string, error) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	rows, err := s.reg.conn.Query(ctx, `SELECT a.attname
		FROM pg_index i
		CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
		WHERE i.indrelid = $1::oid AND i.indisprimary
		ORDER BY k.ord`, int64(relid))
	if err != nil {
		return nil, fmt.Errorf("pgcdc: primary key of relation %d: %w", relid, err)
	}
	var key []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("pgcdc: primary key of relation %d: %w", relid, err)
		}
		key = append(key, name)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("pgcdc: primary key of relation %d: %w", relid, err)
	}
	return key, nil
}

// change adds the dependencies of one row change.
func (s *stream) change(ctx context.Context, relid uint32, op Op, oldType uint8, oldTuple, newTuple *pglogrepl.TupleData) error {
	rel := s.rels[relid]
	if rel == nil {
		return fmt.Errorf("pgcdc: change of relation %d before its description", relid)
	}
	if rel.table == nil {
		s.c.stats.ignored.Add(1)
		return nil
	}
	s.c.stats.rows.Add(1)
	var old, keyOnly, new *Row
	switch oldType {
	case pglogrepl.UpdateMessageTupleTypeOld: // 'O', the same byte for a delete
		old = newRow(rel, oldTuple, s.m)
	case pglogrepl.UpdateMessageTupleTypeKey: // 'K'
		keyOnly = newRow(rel, oldTuple, s.m)
	}
	if newTuple != nil {
		new = newRow(rel, newTuple, s.m)
		new.fillUnchanged(old)
	}

	var ds []deps.Dep
	fellBack := false
	for _, r := range []*Row{new, old, keyOnly} {
		if r == nil {
			continue
		}
		d, err := s.id(rel, r)
		if err != nil {
			fellBack = true
			s.warnKey(rel, err)
			ds = append(ds, s.typeWide(rel)...)
			continue
		}
		ds = append(ds, d)
	}
	for _, sc := range rel.table.Scopes {
		if op != Insert && old == nil {
			fellBack = true
			if !rel.warnedOld {
				rel.warnedOld = true
				s.c.cfg.Logger.Warn("pgcdc: the log carries no old values of the table's rows; invalidating every list of its scopes",
					"table", rel.name, "fix", "ALTER TABLE "+rel.name+" REPLICA IDENTITY FULL")
			}
		}
		d, err := sc.Deps(op, old, new)
		if err != nil {
			fellBack = true
			s.c.cfg.Logger.Warn("pgcdc: scope of a row change", "table", rel.name, "err", err)
		}
		ds = append(ds, d...)
	}
	if fellBack {
		s.c.stats.fallbacks.Add(1)
	}
	return s.add(ctx, ds...)
}

// id returns the dependency of the row's key.
func (s *stream) id(rel *relation, r *Row) (deps.Dep, error) {
	if rel.keyErr != nil {
		return deps.Dep{}, rel.keyErr
	}
	k, err := r.key(rel.key)
	if err != nil {
		return deps.Dep{}, err
	}
	return deps.Id(rel.table.Type, k), nil
}

func (s *stream) warnKey(rel *relation, err error) {
	if rel.warnedKey {
		return
	}
	rel.warnedKey = true
	s.c.cfg.Logger.Warn("pgcdc: a row change without its key invalidates the table's type-wide dependencies",
		"table", rel.name, "type", rel.table.Type, "err", err)
}

// typeWide returns the type-wide dependencies of a table: deps.All of its
// type and of each of its scopes.
func (s *stream) typeWide(rel *relation) []deps.Dep {
	ds := []deps.Dep{deps.All(rel.table.Type)}
	for _, sc := range rel.table.Scopes {
		ds = append(ds, sc.All())
	}
	return ds
}

// add queues dependencies of the current transaction, invalidating a
// batch whenever BatchSize are queued. The transaction has committed (the
// server sends it only then), so a batch may go before its end; the slot
// is confirmed only after the last.
func (s *stream) add(ctx context.Context, ds ...deps.Dep) error {
	for _, d := range ds {
		if d.IsZero() {
			continue
		}
		if _, dup := s.seen[d]; dup {
			continue
		}
		s.seen[d] = struct{}{}
		s.pending = append(s.pending, d)
		if len(s.pending) >= s.c.cfg.BatchSize {
			if err := s.flush(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

// flush invalidates the queued dependencies, retrying with backoff until
// it succeeds or ctx ends. It keeps reporting the (unchanged) confirmed
// position meanwhile, so that the server does not drop the connection.
func (s *stream) flush(ctx context.Context) error {
	if len(s.pending) == 0 {
		return nil
	}
	wait := s.c.cfg.RetryMin
	for {
		err := s.c.cfg.Invalidator.Invalidate(ctx, s.pending...)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		s.c.stats.retries.Add(1)
		s.c.fail(fmt.Errorf("pgcdc: invalidate %d dependencies (commit %s): %w", len(s.pending), s.commit.Format(time.RFC3339Nano), err))
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		wait = min(2*wait, s.c.cfg.RetryMax)
		if time.Now().After(s.nextStatus) {
			if err := s.status(false); err != nil {
				return err
			}
		}
	}
	s.c.stats.invalidations.Add(1)
	s.c.stats.deps.Add(uint64(len(s.pending)))
	s.pending = s.pending[:0]
	clear(s.seen)
	return nil
}

// behindAfter is how long after its commit the server may send a
// transaction before the stream counts as behind (see stream.waitTxs);
// settleAfter, how long a stream that holds transactions back waits for
// the next message before it settles them.
const (
	behindAfter = 5 * time.Millisecond
	settleAfter = time.Millisecond
)

// settle invalidates the dependencies of the transactions that wait, and
// confirms the last of them.
func (s *stream) settle(ctx context.Context) error {
	if s.waitTxs == 0 {
		return nil
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	s.c.stats.transactions.Add(s.waitTxs)
	s.c.stats.applied(s.waitCommit)
	s.waitTxs = 0
	s.confirm(s.waitEnd)
	return s.status(false)
}

// confirm moves the position to report: only past what is invalidated.
func (s *stream) confirm(lsn pglogrepl.LSN) {
	if lsn > s.confirmed {
		s.confirmed = lsn
		s.c.stats.confirmed.Store(uint64(lsn))
		s.keepFeed()
	}
}

// sample notes the server's WAL position for the feed (see stream), and
// asks the server for a keepalive: an idle stream then confirms the
// position the server has sent, which covers the sample.
func (s *stream) sample(ctx context.Context) error {
	s.nextSample = time.Now().Add(s.c.cfg.Bound / 4)
	at := time.Now()
	var lsn pglogrepl.LSN
	s.reg.mu.Lock()
	err := s.reg.conn.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()").Scan(&lsn)
	s.reg.mu.Unlock()
	if err != nil {
		return fmt.Errorf("pgcdc: the server's WAL position: %w", err)
	}
	if len(s.samples) >= 64 { // a stream this far behind keeps the newest
		s.samples = s.samples[1:]
	}
	s.samples = append(s.samples, walSample{lsn, at})
	s.keepFeed() // the position may be confirmed already
	return s.status(true)
}

// keepFeed renews the feed's key when the confirmed position covers a
// sample newer than the last one covered.
func (s *stream) keepFeed() {
	if s.c.cfg.keeper == nil {
		return
	}
	n := 0
	for n < len(s.samples) && s.samples[n].lsn <= s.confirmed {
		n++
	}
	if n == 0 {
		return
	}
	s.caughtUp = s.samples[n-1].at
	s.samples = s.samples[n:]
	s.c.stats.caughtUp.Store(s.caughtUp.UnixNano())
	ttl := s.c.cfg.Bound - time.Since(s.caughtUp)
	if ttl < time.Millisecond {
		return // covered too late to vouch for anything
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.c.cfg.Bound/4)
	defer cancel()
	if err := s.c.cfg.keeper.KeepFeed(ctx, s.c.cfg.Feed, ttl); err != nil {
		s.c.stats.feedErrors.Add(1)
		s.c.fail(fmt.Errorf("pgcdc: keep feed %q: %w", s.c.cfg.Feed, err))
		return
	}
	s.c.stats.feedKeeps.Add(1)
}

// status reports the confirmed position to the server; reply asks for a
// keepalive back.
func (s *stream) status(reply bool) error {
	s.nextStatus = time.Now().Add(s.c.cfg.StatusInterval)
	err := pglogrepl.SendStandbyStatusUpdate(context.Background(), s.conn, pglogrepl.StandbyStatusUpdate{WALWritePosition: s.confirmed, ReplyRequested: reply})
	if err != nil {
		return fmt.Errorf("pgcdc: report position %s: %w", s.confirmed, err)
	}
	return nil
}

// cut splits "schema.table".
func cut(name string) (schema, table string, ok bool) {
	return strings.Cut(name, ".")
}
