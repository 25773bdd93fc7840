package matroskagorm_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"go.uber.org/goleak"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/poll"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// GORM's prepared-statement cache (PrepareStmt) starts an expiry
		// goroutine that it never stops (gorm.io/gorm/internal/lru says so).
		goleak.IgnoreTopFunction("gorm.io/gorm/internal/lru.NewLRU[...].func1"))
}

// The models of the tests: articles with an author and comments, and a
// model with a composite primary key.
type User struct {
	ID   uint
	Name string
}

type Article struct {
	ID        uint
	Title     string
	Category  string
	Published bool
	AuthorID  uint
	Author    *User
	Comments  []Comment
}

type Comment struct {
	ID        uint
	ArticleID uint
	AuthorID  uint
	Author    User
	Body      string
}

type Tagging struct {
	Owner string `gorm:"primaryKey"`
	Name  string `gorm:"primaryKey"`
	Note  string
}

var models = []any{&User{}, &Article{}, &Comment{}, &Tagging{}}

// dialect opens a fresh, empty database of one kind for a test.
type dialect struct {
	name string
	// open returns a new connection pool on the test's database; every call
	// in one test reaches the same data.
	open func(t *testing.T, cfg *gorm.Config) *gorm.DB
}

// pgDSN is the local PostgreSQL of the tests; MATROSKA_TEST_PG overrides it.
func pgDSN() string {
	if dsn := os.Getenv("MATROSKA_TEST_PG"); dsn != "" {
		return dsn
	}
	return "host=127.0.0.1 port=5432 user=postgres dbname=test sslmode=disable"
}

var pgUp = sync.OnceValue(func() bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:5432", 300*time.Millisecond)
	if err != nil {
		return os.Getenv("MATROSKA_TEST_PG") != ""
	}
	_ = c.Close()
	return true
})

func quiet(cfg *gorm.Config) *gorm.Config {
	if cfg == nil {
		cfg = &gorm.Config{}
	}
	if cfg.Logger == nil {
		cfg.Logger = logger.Discard
	}
	return cfg
}

func closeDB(t *testing.T, db *gorm.DB) {
	t.Cleanup(func() {
		if sqlDB, err := db.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
}

var sqliteDialect = dialect{
	name: "sqlite",
	open: func(t *testing.T, cfg *gorm.Config) *gorm.DB {
		// A file, not :memory:, so that separate pools share the data; WAL so
		// that a reader sees the last commit instead of waiting for a writer.
		path := filepath.Join(testDir(t), "test.db")
		db, err := gorm.Open(sqlite.Open(path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)"), quiet(cfg))
		if err != nil {
			t.Fatal(err)
		}
		closeDB(t, db)
		return db
	},
}

var pgDialect = dialect{
	name: "postgres",
	open: func(t *testing.T, cfg *gorm.Config) *gorm.DB {
		if !pgUp() {
			t.Skip("PostgreSQL does not answer on 127.0.0.1:5432")
		}
		schema := pgSchema(t)
		db, err := gorm.Open(postgres.Open(pgDSN()+" search_path="+schema), quiet(cfg))
		if err != nil {
			t.Fatal(err)
		}
		closeDB(t, db)
		return db
	},
}

var testDirs sync.Map // *testing.T -> string

func testDir(t *testing.T) string {
	d, _ := testDirs.LoadOrStore(t, t.TempDir())
	t.Cleanup(func() { testDirs.Delete(t) })
	return d.(string)
}

var pgSchemas sync.Map // *testing.T -> string

// pgSchema returns the test's own PostgreSQL schema, created on first use
// and dropped when the test ends.
func pgSchema(t *testing.T) string {
	if s, ok := pgSchemas.Load(t); ok {
		return s.(string)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "matroska_test_" + hex.EncodeToString(b)
	admin, err := gorm.Open(postgres.Open(pgDSN()), quiet(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.Exec("CREATE SCHEMA " + name).Error; err != nil {
		t.Fatal(err)
	}
	pgSchemas.Store(t, name)
	t.Cleanup(func() {
		pgSchemas.Delete(t)
		if err := admin.Exec("DROP SCHEMA " + name + " CASCADE").Error; err != nil {
			t.Errorf("dropping schema %s: %v", name, err)
		}
		if sqlDB, err := admin.DB(); err == nil {
			_ = sqlDB.Close()
		}
	})
	return name
}

// eachDialect runs f against SQLite, and against PostgreSQL when it answers.
func eachDialect(t *testing.T, f func(t *testing.T, d dialect)) {
	for _, d := range []dialect{sqliteDialect, pgDialect} {
		t.Run(d.name, func(t *testing.T) { f(t, d) })
	}
}

// migrate creates the test tables.
func migrate(t *testing.T, db *gorm.DB) {
	t.Helper()
	if err := db.AutoMigrate(models...); err != nil {
		t.Fatal(err)
	}
}

// newCache starts a private Redis and a cache node on it.
func newCache(t *testing.T) (*tiered.Cache, *redistest.Server) {
	t.Helper()
	srv := redistest.Start(t)
	return newNode(t, srv), srv
}

// newNode starts one more cache node on srv.
func newNode(t *testing.T, srv *redistest.Server) *tiered.Cache {
	t.Helper()
	c, err := tiered.New(tiered.Config{
		Redis:        srv.Client(t),
		Namespace:    "gormtest",
		TrustWindow:  time.Second,
		Heartbeat:    50 * time.Millisecond,
		RedisTimeout: time.Second,
		StartTimeout: 5 * time.Second,
		Jitter:       -1,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// recorder is an Invalidator that passes every call on to a real cache and
// remembers it. check, when set, runs before each call is passed on.
type recorder struct {
	next interface {
		Invalidate(context.Context, ...deps.Dep) error
	}
	check func(ds []deps.Dep)

	mu    sync.Mutex
	calls [][]deps.Dep
}

func (r *recorder) Invalidate(ctx context.Context, ds ...deps.Dep) error {
	if r.check != nil {
		r.check(ds)
	}
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(ds))
	r.mu.Unlock()
	return r.next.Invalidate(ctx, ds...)
}

// take returns the dependencies invalidated since the last take, and the
// number of calls.
func (r *recorder) take() ([]deps.Dep, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []deps.Dep
	for _, c := range r.calls {
		all = append(all, c...)
	}
	n := len(r.calls)
	r.calls = nil
	return all, n
}

func has(ds []deps.Dep, d deps.Dep) bool { return slices.Contains(ds, d) }

func cond(category string) deps.Dep {
	return deps.Condition("article", map[string]any{"category": category})
}

func artID(id uint) deps.Dep { return deps.Id("articles", id) }

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, d, what, cond)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
