package matroskagorm

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"gorm.io/gorm"

	"github.com/matroska-go/matroska/deps"
)

// pool wraps the connection pool of a *gorm.DB so that every transaction
// begun on it is a *txPool, which holds the transaction's invalidations
// until its COMMIT.
type pool struct {
	inner gorm.ConnPool
	p     *Plugin
}

var (
	_ gorm.ConnPool         = (*pool)(nil)
	_ gorm.ConnPoolBeginner = (*pool)(nil)
	_ gorm.GetDBConnector   = (*pool)(nil)
)

func (c *pool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.inner.PrepareContext(ctx, query)
}

func (c *pool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.inner.ExecContext(ctx, query, args...)
}

func (c *pool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.inner.QueryContext(ctx, query, args...)
}

func (c *pool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.inner.QueryRowContext(ctx, query, args...)
}

// BeginTx begins a transaction on the wrapped pool and returns it tracked.
func (c *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (gorm.ConnPool, error) {
	var (
		tx  gorm.ConnPool
		err error
	)
	switch b := c.inner.(type) {
	case gorm.TxBeginner:
		var t *sql.Tx
		t, err = b.BeginTx(ctx, opts)
		if err == nil {
			tx = t
		}
	case gorm.ConnPoolBeginner:
		tx, err = b.BeginTx(ctx, opts)
	default:
		return nil, gorm.ErrInvalidTransaction
	}
	if err != nil {
		return nil, err
	}
	sqlDB, _ := c.GetDBConn()
	return c.p.track(ctx, tx, sqlDB), nil
}

// GetDBConn returns the *sql.DB under the pool, for gorm.DB.DB.
func (c *pool) GetDBConn() (*sql.DB, error) {
	switch in := c.inner.(type) {
	case *sql.DB:
		return in, nil
	case gorm.GetDBConnector:
		return in.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// Ping pings the wrapped pool when it can.
func (c *pool) Ping() error {
	if p, ok := c.inner.(interface{ Ping() error }); ok {
		return p.Ping()
	}
	return nil
}

// txPool is a transaction whose invalidations wait for its COMMIT.
//
// The write callbacks add the dependencies of each statement to pending;
// Commit runs the real COMMIT and then invalidates them; Rollback drops
// them. A nested gorm Transaction is a SAVEPOINT on the same txPool: its
// dependencies stay pending even if it is rolled back to the savepoint, so
// the COMMIT of the outer transaction may invalidate more than it changed.
// That costs a few cache misses and never leaves a stale entry.
type txPool struct {
	tx    gorm.ConnPool
	p     *Plugin
	ctx   context.Context // the BeginTx context without its cancellation
	sqlDB *sql.DB

	mu      sync.Mutex
	pending []deps.Dep            // guarded by mu
	seen    map[deps.Dep]struct{} // guarded by mu
	done    bool                  // guarded by mu; set by Commit and Rollback
}

var (
	_ gorm.Tx             = (*txPool)(nil)
	_ gorm.GetDBConnector = (*txPool)(nil)
)

func (t *txPool) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return t.tx.PrepareContext(ctx, query)
}

func (t *txPool) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, query, args...)
}

func (t *txPool) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, query, args...)
}

func (t *txPool) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, query, args...)
}

// StmtContext returns a transaction-specific prepared statement.
func (t *txPool) StmtContext(ctx context.Context, stmt *sql.Stmt) *sql.Stmt {
	if s, ok := t.tx.(interface {
		StmtContext(context.Context, *sql.Stmt) *sql.Stmt
	}); ok {
		return s.StmtContext(ctx, stmt)
	}
	return stmt
}

// GetDBConn returns the *sql.DB the transaction runs on.
func (t *txPool) GetDBConn() (*sql.DB, error) {
	if t.sqlDB != nil {
		return t.sqlDB, nil
	}
	if c, ok := t.tx.(gorm.GetDBConnector); ok {
		return c.GetDBConn()
	}
	return nil, gorm.ErrInvalidDB
}

// add records dependencies to invalidate after the COMMIT. It reports false
// when the transaction has already ended.
func (t *txPool) add(ds []deps.Dep) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return false
	}
	for _, d := range ds {
		if _, ok := t.seen[d]; ok {
			continue
		}
		t.seen[d] = struct{}{}
		t.pending = append(t.pending, d)
	}
	return true
}

// take ends the transaction's tracking and returns what it recorded.
func (t *txPool) take() []deps.Dep {
	t.mu.Lock()
	defer t.mu.Unlock()
	ds := t.pending
	t.pending, t.seen, t.done = nil, nil, true
	return ds
}

// Commit commits the transaction, then invalidates what it changed.
//
// A COMMIT that fails may still have committed (the connection can die after
// the server applied it), so the invalidations run after any Commit error but
// sql.ErrTxDone, which says the transaction had already ended. Invalidating
// after a COMMIT that did not apply costs cache misses, nothing else. A
// failure of the invalidation itself is not returned here, since the data is
// committed: it goes to Options.OnError.
func (t *txPool) Commit() error {
	c, ok := t.tx.(gorm.TxCommitter)
	if !ok {
		return gorm.ErrInvalidTransaction
	}
	err := c.Commit()
	ds := t.take()
	if errors.Is(err, sql.ErrTxDone) {
		return err
	}
	t.p.invalidate(t.ctx, ds)
	return err
}

// Rollback rolls the transaction back and drops its invalidations.
func (t *txPool) Rollback() error {
	c, ok := t.tx.(gorm.TxCommitter)
	if !ok {
		return gorm.ErrInvalidTransaction
	}
	err := c.Rollback()
	if ds := t.take(); len(ds) > 0 {
		t.p.stats.rolledBack.Add(uint64(len(ds)))
	}
	return err
}

// track wraps a transaction begun on ctx.
func (p *Plugin) track(ctx context.Context, tx gorm.ConnPool, sqlDB *sql.DB) *txPool {
	if ctx == nil {
		ctx = context.Background()
	}
	return &txPool{
		tx:    tx,
		p:     p,
		ctx:   context.WithoutCancel(ctx),
		sqlDB: sqlDB,
		seen:  map[deps.Dep]struct{}{},
	}
}

// connKind tells how a statement's connection relates to transactions.
type connKind int

const (
	connPlain     connKind = iota // no transaction: each statement commits on its own
	connTracked                   // a transaction this plugin tracks
	connUntracked                 // a transaction begun around the plugin
)

// classify returns the statement connection's kind and, when tracked, its
// txPool.
func classify(cp gorm.ConnPool) (connKind, *txPool) {
	if ps, ok := cp.(*gorm.PreparedStmtTX); ok && ps != nil {
		cp = ps.Tx
	}
	switch c := cp.(type) {
	case *txPool:
		return connTracked, c
	case gorm.TxCommitter:
		return connUntracked, nil
	}
	return connPlain, nil
}
