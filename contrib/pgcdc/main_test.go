package pgcdc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/pgtest"
	"github.com/matroska-go/matroska/internal/poll"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// pg is the private PostgreSQL cluster of the test binary; each test has
// its own database in it.
var pg *pgtest.Server

func TestMain(m *testing.M) {
	var err error
	if pg, err = pgtest.Launch(); err != nil {
		fmt.Fprintln(os.Stderr, err) // no PostgreSQL is a failure, not a skip
		os.Exit(1)
	}
	code := m.Run()
	pg.Stop()
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// quiet is the logger of the tests' nodes and consumers.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Article is the model of the table articles, as a GORM application has it.
type Article struct {
	ID        int64
	Title     string
	Category  string
	Published bool
}

// newScopes returns the Scopes of articles: lists by category.
func newScopes(t testing.TB) *scopes.Scopes[Article] {
	t.Helper()
	s := scopes.New[Article]("article", scopes.Options{})
	err := s.Describe(scopes.Signature[Article]{
		Params:  []string{"category"},
		Extract: func(a Article) (scopes.P, error) { return scopes.P{"category": a.Category}, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rig is one test's world: a database, a Redis, two application nodes (a,
// b) that read, and a third (inv) through which consumers invalidate.
type rig struct {
	t      testing.TB
	dsn    string
	db     *conn
	a, b   *tiered.Cache
	rec    *recorder
	scopes *scopes.Scopes[Article]
	loads  atomic.Int64
	name   string
	redis  *redistest.Server
}

func newRig(t testing.TB, name string) *rig {
	t.Helper()
	r := &rig{t: t, dsn: pg.CreateDB(t, name), scopes: newScopes(t)}
	r.db = dial(t, r.dsn)
	r.exec(`CREATE TABLE articles (id bigint PRIMARY KEY, title text NOT NULL, category text NOT NULL, published boolean NOT NULL DEFAULT false)`)
	r.exec(`ALTER TABLE articles REPLICA IDENTITY FULL`)
	r.name, r.redis = name, redistest.Start(t)
	r.a, r.b = r.node("a"), r.node("b")
	r.rec = &recorder{inv: r.node("inv")}
	return r
}

// node starts a cache node on the rig's Redis, configured by edit.
func (r *rig) node(id string, edit ...func(*tiered.Config)) *tiered.Cache {
	r.t.Helper()
	cfg := tiered.Config{Redis: r.redis.Client(r.t), Namespace: r.name, NodeID: id, Logger: quiet}
	for _, e := range edit {
		e(&cfg)
	}
	c, err := tiered.New(cfg)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = c.Close() })
	return c
}

// config returns a consumer configuration of the rig's articles table.
func (r *rig) config() pgcdc.Config {
	return pgcdc.Config{
		Conn:           r.dsn,
		Invalidator:    r.rec,
		Tables:         map[string]pgcdc.Table{"articles": {Scopes: []pgcdc.Scope{pgcdc.ScopesOf(r.scopes)}}},
		RetryMin:       10 * time.Millisecond,
		RetryMax:       100 * time.Millisecond,
		LockPoll:       20 * time.Millisecond,
		StatusInterval: time.Second,
		LagInterval:    50 * time.Millisecond,
		Logger:         quiet,
	}
}

// running is a consumer whose Run goroutine the test can stop.
type running struct {
	*pgcdc.Consumer
	cancel context.CancelFunc
	done   chan error
}

// start runs a consumer of cfg until stop (or the test's end).
func start(t testing.TB, cfg pgcdc.Config) *running {
	t.Helper()
	c, err := pgcdc.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Consumer: c, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- c.Run(ctx) }()
	t.Cleanup(r.stop)
	return r
}

// stop ends the consumer as a crash would for the database: its context
// ends, its connections close, nothing more is confirmed.
func (r *running) stop() {
	r.cancel()
	<-r.done
	r.done <- context.Canceled // for a second stop
}

// exec runs SQL on the rig's plain connection, as psql would.
func (r *rig) exec(sql string, args ...any) {
	r.t.Helper()
	if err := r.db.exec(sql, args...); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
}

// walLSN returns pg_current_wal_insert_lsn(): past the end of every
// commit before it (pg_current_wal_lsn() is the write position, which
// lags an asynchronous commit).
func (r *rig) walLSN() uint64 {
	r.t.Helper()
	var s string
	if err := r.db.queryRow([]any{&s}, "SELECT pg_current_wal_insert_lsn()::text"); err != nil {
		r.t.Fatal(err)
	}
	var hi, lo uint64
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		r.t.Fatal(err)
	}
	return hi<<32 | lo
}

// article reads an article through the cache of node n.
func (r *rig) article(n *tiered.Cache, id int64) Article {
	r.t.Helper()
	a, err := matroska.GetOrLoad(context.Background(), n, fmt.Sprintf("article:%d", id),
		func(ctx context.Context, rec *matroska.Recorder) (Article, error) {
			r.loads.Add(1)
			var a Article
			err := r.db.queryRow([]any{&a.ID, &a.Title, &a.Category, &a.Published},
				"SELECT id, title, category, published FROM articles WHERE id = $1", id)
			if errors.Is(err, pgx.ErrNoRows) {
				err = matroska.ErrNotFound
			}
			rec.Depend(deps.Id("articles", id))
			return a, err
		})
	if err != nil && !errors.Is(err, matroska.ErrNotFound) {
		r.t.Fatal(err)
	}
	return a
}

// count reads the number of articles of a category through the cache of
// node n: a list that holds no id, so only its condition invalidates it.
func (r *rig) count(n *tiered.Cache, category string) int64 {
	r.t.Helper()
	v, err := matroska.GetOrLoad(context.Background(), n, "count:category="+category,
		func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
			r.loads.Add(1)
			var c int64
			err := r.db.queryRow([]any{&c}, "SELECT count(*) FROM articles WHERE category = $1", category)
			cs, cerr := r.scopes.Condition(scopes.P{"category": category})
			rec.Depend(cs...)
			return c, errors.Join(err, cerr)
		})
	if err != nil {
		r.t.Fatal(err)
	}
	return v
}

// conn is a plain connection shared by the test and its loaders.
type conn struct {
	mu sync.Mutex
	c  *pgx.Conn
}

func dial(t testing.TB, dsn string) *conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return &conn{c: c}
}

func (c *conn) exec(sql string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.c.Exec(context.Background(), sql, args...)
	return err
}

func (c *conn) queryRow(dst []any, sql string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.c.QueryRow(context.Background(), sql, args...).Scan(dst...)
}

// recorder invalidates through inv, recording every call; while down is
// set it fails every call, as a lost Redis would.
type recorder struct {
	inv   *tiered.Cache
	down  atomic.Bool
	tried atomic.Int64

	mu    sync.Mutex
	calls [][]deps.Dep
	hook  func(ds []deps.Dep) error // called first, when set; its error fails the call
}

var errDown = errors.New("test: Redis is down")

func (r *recorder) Invalidate(ctx context.Context, ds ...deps.Dep) error {
	r.tried.Add(1)
	if r.down.Load() {
		return errDown
	}
	r.mu.Lock()
	hook := r.hook
	r.mu.Unlock()
	if hook != nil {
		if err := hook(ds); err != nil {
			return err
		}
	}
	if err := r.inv.Invalidate(ctx, ds...); err != nil {
		return err
	}
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(ds))
	r.mu.Unlock()
	return nil
}

func (r *recorder) setHook(h func(ds []deps.Dep) error) {
	r.mu.Lock()
	r.hook = h
	r.mu.Unlock()
}

// since returns the calls after the first n.
func (r *recorder) since(n int) [][]deps.Dep {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls[min(n, len(r.calls)):])
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

// sameDeps reports whether a and b hold the same dependencies.
func sameDeps(a, b []deps.Dep) bool {
	set := func(ds []deps.Dep) map[deps.Dep]bool {
		m := map[deps.Dep]bool{}
		for _, d := range ds {
			m[d] = true
		}
		return m
	}
	sa, sb := set(a), set(b)
	if len(sa) != len(sb) {
		return false
	}
	for d := range sa {
		if !sb[d] {
			return false
		}
	}
	return true
}
