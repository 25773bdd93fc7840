package matroskagorm_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// G7 through GORM: creates, moves between categories and deletes reach the
// cached lists of the old and the new category, and only those.
func TestPlugin_G7_CreateMoveDelete(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		fill := func() {
			t.Helper()
			for _, c := range []string{"go", "rust", "zig"} {
				e.list(t, c)
				e.count(t, c)
				if _, loaded := e.list(t, c); loaded {
					t.Fatalf("list %s not cached", c)
				}
				if _, loaded := e.count(t, c); loaded {
					t.Fatalf("count %s not cached", c)
				}
			}
		}
		expect := func(what string, want map[string][]uint) {
			t.Helper()
			for _, c := range []string{"go", "rust", "zig"} {
				arts, loaded := e.list(t, c)
				_, changed := want[c]
				if loaded != changed {
					t.Errorf("%s: list %s reloaded = %v, want %v", what, c, loaded, changed)
				}
				if changed && !slices.Equal(ids(arts), want[c]) {
					t.Errorf("%s: list %s = %v, want %v", what, c, ids(arts), want[c])
				}
				n, loaded := e.count(t, c)
				if loaded != changed || (changed && n != int64(len(want[c]))) {
					t.Errorf("%s: count %s = %d, reloaded = %v; want %d, %v", what, c, n, loaded, len(want[c]), changed)
				}
			}
		}

		fill()
		must(t, e.db.Create(&Article{ID: 13, Title: "New", Category: "go", AuthorID: 1}).Error)
		expect("create in go", map[string][]uint{"go": {10, 11, 13}})

		fill()
		must(t, e.db.Model(&Article{ID: 10}).Update("category", "rust").Error)
		expect("move 10 from go to rust", map[string][]uint{"go": {11, 13}, "rust": {10, 12}})

		fill()
		must(t, e.db.Delete(&Article{ID: 12}).Error)
		expect("delete 12", map[string][]uint{"rust": {10}})

		fill()
		a := Article{ID: 11}
		must(t, e.db.First(&a).Error)
		a.Category = "zig"
		must(t, e.db.Save(&a).Error)
		expect("save 11 into zig", map[string][]uint{"go": {13}, "zig": {11}})

		fill()
		must(t, e.db.Model(&Article{}).Where("category = ?", "go").Updates(map[string]any{"category": "zig"}).Error)
		expect("bulk move go to zig", map[string][]uint{"go": nil, "zig": {11, 13}})

		fill()
		must(t, e.db.Where("category = ?", "zig").Delete(&Article{}).Error)
		expect("bulk delete zig", map[string][]uint{"zig": nil})

		// Save of a slice is an upsert (ON CONFLICT on the key, UPDATE ALL).
		fill()
		must(t, e.db.Save(&[]Article{{ID: 10, Title: "Python", Category: "go", AuthorID: 1}}).Error)
		expect("upsert 10 into go", map[string][]uint{"go": {10}, "rust": nil})
	})
}

// A change of fields no scope watches skips the scope conditions; the
// object's own id still goes.
func TestPlugin_ModifiedNames(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		// The newest "go" article alone: article 10 is not in it, so only the
		// category condition could drop it when 10 changes.
		var loads atomic.Int64
		latest := func() bool {
			before := loads.Load()
			_, err := latestOf(e, "go", &loads)
			must(t, err)
			return loads.Load() != before
		}
		latest()

		titleOnly := []struct {
			name  string
			write func() error
		}{
			{"Update", func() error { return e.db.Model(&Article{ID: 10}).Update("title", "T1").Error }},
			{"Updates map", func() error {
				return e.db.Model(&Article{ID: 10}).Updates(map[string]any{"Title": "T2"}).Error
			}},
			{"Updates struct", func() error {
				return e.db.Model(&Article{ID: 10}).Updates(Article{Title: "T3"}).Error
			}},
			{"Select Omit", func() error {
				return e.db.Model(&Article{ID: 10}).Select("title", "category").Omit("category").
					Updates(Article{Title: "T4", Category: "rust"}).Error
			}},
			{"UpdateColumn", func() error { return e.db.Model(&Article{ID: 10}).UpdateColumn("title", "T5").Error }},
		}
		for _, tc := range titleOnly {
			must(t, tc.write())
			ds, _ := e.rec.take()
			if !has(ds, artID(10)) {
				t.Errorf("%s: title change did not invalidate article 10: %v", tc.name, ds)
			}
			if has(ds, cond("go")) || has(ds, deps.All("article")) {
				t.Errorf("%s: title change invalidated the category lists: %v", tc.name, ds)
			}
			if latest() {
				t.Errorf("%s: the latest-go list was dropped by a title change of another article", tc.name)
			}
		}

		var a Article
		must(t, e.db.First(&a, 10).Error)
		categoryChanges := []struct {
			name  string
			write func() error
		}{
			{"Update", func() error { return e.db.Model(&Article{ID: 10}).Update("category", "rust").Error }},
			{"Updates struct", func() error { return e.db.Model(&Article{ID: 10}).Updates(Article{Category: "go"}).Error }},
			{"Save", func() error { a.Category = "rust"; return e.db.Save(&a).Error }},
			{"Updates map by field name", func() error {
				return e.db.Model(&Article{ID: 10}).Updates(map[string]any{"Category": "go"}).Error
			}},
		}
		for _, tc := range categoryChanges {
			must(t, tc.write())
			ds, _ := e.rec.take()
			if !has(ds, artID(10)) || !has(ds, cond("go")) || !has(ds, cond("rust")) {
				t.Errorf("%s: category change invalidated %v, want article 10 and both conditions", tc.name, ds)
			}
			if !latest() {
				t.Errorf("%s: the latest-go list was not dropped", tc.name)
			}
		}
	})
}

// latestOf caches the newest article of a category, depending on its id
// and the category condition.
func latestOf(e *env, category string, loads *atomic.Int64) ([]Article, error) {
	return list(context.Background(), e.cache, e.db.Order("id DESC").Limit(1), e.articles, "articles:latest:"+category, category, loads)
}

// Invalidations run after COMMIT: the invalidator, when called, sees the
// committed row from another connection; inside the transaction nothing has
// been invalidated yet.
func TestPlugin_AfterCommit(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		other := d.open(t, nil) // a separate pool on the same database
		var checked, stale atomic.Int64
		var want atomic.Value
		e.rec.check = func(ds []deps.Dep) {
			if !has(ds, artID(10)) {
				return
			}
			checked.Add(1)
			var title string
			if err := other.Raw("SELECT title FROM articles WHERE id = 10").Scan(&title).Error; err != nil || title != want.Load() {
				stale.Add(1)
				t.Errorf("invalidated before the commit: another connection reads %q, want %q (err %v)", title, want.Load(), err)
			}
		}
		// GORM's default transaction around one write.
		want.Store("one")
		must(t, e.db.Model(&Article{ID: 10}).Update("title", "one").Error)
		if ds, n := e.rec.take(); n != 1 || !has(ds, artID(10)) {
			t.Fatalf("default transaction: %d calls, %v", n, ds)
		}
		// An explicit transaction: nothing goes before the COMMIT.
		want.Store("two")
		err := e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Article{ID: 10}).Update("title", "two").Error; err != nil {
				return err
			}
			if err := tx.Model(&Article{ID: 11}).Update("category", "rust").Error; err != nil {
				return err
			}
			if _, n := e.rec.take(); n != 0 {
				t.Errorf("%d invalidations inside the transaction", n)
			}
			return nil
		})
		must(t, err)
		ds, n := e.rec.take()
		if n != 1 || !has(ds, artID(10)) || !has(ds, artID(11)) || !has(ds, cond("go")) || !has(ds, cond("rust")) {
			t.Fatalf("after COMMIT: %d calls, %v", n, ds)
		}
		if checked.Load() < 2 || stale.Load() != 0 {
			t.Fatalf("checked %d invalidations, %d before the commit", checked.Load(), stale.Load())
		}
	})
}

// A rolled back transaction invalidates nothing.
func TestPlugin_Rollback(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		e.list(t, "go")
		boom := errors.New("boom")
		err := e.db.Transaction(func(tx *gorm.DB) error {
			must(t, tx.Create(&Article{ID: 20, Category: "go", AuthorID: 1}).Error)
			must(t, tx.Model(&Article{ID: 10}).Update("category", "rust").Error)
			must(t, tx.Delete(&Article{ID: 11}).Error)
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		tx := e.db.Begin()
		must(t, tx.Model(&Article{ID: 12}).Update("title", "x").Error)
		must(t, tx.Rollback().Error)

		if ds, n := e.rec.take(); n != 0 {
			t.Fatalf("rolled back writes invalidated %v", ds)
		}
		if got := e.plugin.Stats().RolledBack; got == 0 {
			t.Fatalf("Stats.RolledBack = %d", got)
		}
		if arts, loaded := e.list(t, "go"); loaded || !slices.Equal(ids(arts), []uint{10, 11}) {
			t.Fatalf("list after rollback: loaded=%v %v", loaded, ids(arts))
		}
	})
}

// A nested transaction is a SAVEPOINT: rolling back to it keeps what it
// recorded (more invalidation, never less); the outer ROLLBACK drops all.
func TestPlugin_Savepoint(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		boom := errors.New("boom")
		err := e.db.Transaction(func(tx *gorm.DB) error {
			must(t, tx.Model(&Article{ID: 10}).Update("title", "kept").Error)
			if err := tx.Transaction(func(tx2 *gorm.DB) error {
				must(t, tx2.Model(&Article{ID: 11}).Update("title", "undone").Error)
				return boom
			}); !errors.Is(err, boom) {
				t.Fatal(err)
			}
			return nil
		})
		must(t, err)
		ds, n := e.rec.take()
		if n != 1 || !has(ds, artID(10)) || !has(ds, artID(11)) {
			t.Fatalf("outer commit: %d calls, %v; want both articles", n, ds)
		}
		var a Article
		must(t, e.db.First(&a, 11).Error)
		if a.Title == "undone" {
			t.Fatal("savepoint not rolled back")
		}

		_ = e.db.Transaction(func(tx *gorm.DB) error {
			must(t, tx.Transaction(func(tx2 *gorm.DB) error {
				return tx2.Model(&Article{ID: 12}).Update("title", "x").Error
			}))
			return boom
		})
		if ds, n := e.rec.take(); n != 0 {
			t.Fatalf("outer rollback invalidated %v", ds)
		}
	})
}

// Without a transaction each write has committed when it returns, and
// invalidates at once.
func TestPlugin_NoTransaction(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, &gorm.Config{SkipDefaultTransaction: true})
		e.list(t, "go")
		must(t, e.db.Model(&Article{ID: 10}).Update("category", "rust").Error)
		ds, n := e.rec.take()
		if n != 1 || !has(ds, artID(10)) || !has(ds, cond("go")) || !has(ds, cond("rust")) {
			t.Fatalf("%d calls, %v", n, ds)
		}
		if arts, loaded := e.list(t, "go"); !loaded || !slices.Equal(ids(arts), []uint{11}) {
			t.Fatalf("loaded=%v %v", loaded, ids(arts))
		}
	})
}

// NoLookup reads no rows: updates and deletes of a model with Scopes fall
// back to the type-wide dependency; ids are still exact.
func TestPlugin_NoLookup(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{NoLookup: true}, nil)
		e.list(t, "zig")
		must(t, e.db.Model(&Article{ID: 10}).Update("category", "rust").Error)
		ds, _ := e.rec.take()
		if !has(ds, artID(10)) || !has(ds, deps.All("article")) || has(ds, artID(11)) {
			t.Fatalf("update by key: %v", ds)
		}
		if _, loaded := e.list(t, "zig"); !loaded {
			t.Fatal("the type-wide fallback did not drop an unrelated list")
		}
		if got := e.plugin.Stats().Lookups; got != 0 {
			t.Fatalf("Lookups = %d for writes by key", got)
		}
		// A WHERE without keys: the keys are still selected, the ids exact.
		must(t, e.db.Where("category = ?", "rust").Delete(&Article{}).Error)
		ds, _ = e.rec.take()
		if !has(ds, artID(10)) || !has(ds, artID(12)) || has(ds, artID(11)) || !has(ds, deps.All("article")) {
			t.Fatalf("bulk delete: %v", ds)
		}
	})
}

// A write in a transaction begun around the plugin is refused, and writes
// nothing; GORM's default transaction on a pinned connection is tracked.
func TestPlugin_UntrackedTx(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		// A transaction begun on a pinned connection: GORM hands the raw
		// *sql.Tx to the write.
		err := e.db.Connection(func(conn *gorm.DB) error {
			return conn.Transaction(func(tx *gorm.DB) error {
				return tx.Model(&Article{ID: 11}).Update("title", "untracked").Error
			})
		})
		if !errors.Is(err, matroskagorm.ErrUntrackedTx) {
			t.Fatalf("err = %v, want ErrUntrackedTx", err)
		}
		var a Article
		must(t, e.db.First(&a, 11).Error)
		if a.Title == "untracked" {
			t.Fatal("the refused write was committed")
		}
		if ds, n := e.rec.take(); n != 0 {
			t.Fatalf("the refused write invalidated %v", ds)
		}
		// GORM's own transaction around a write on a pinned connection is
		// tracked.
		must(t, e.db.Connection(func(conn *gorm.DB) error {
			return conn.Model(&Article{ID: 10}).Update("title", "pinned").Error
		}))
		if ds, n := e.rec.take(); n != 1 || !has(ds, artID(10)) {
			t.Fatalf("default transaction on a pinned connection: %d calls, %v", n, ds)
		}
	})
}

// With GORM's prepared statements the transaction is still tracked.
func TestPlugin_PrepareStmt(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, &gorm.Config{PrepareStmt: true})
		err := e.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Model(&Article{ID: 10}).Update("category", "rust").Error; err != nil {
				return err
			}
			if _, n := e.rec.take(); n != 0 {
				t.Errorf("%d invalidations before COMMIT", n)
			}
			return nil
		})
		must(t, err)
		if ds, n := e.rec.take(); n != 1 || !has(ds, cond("go")) || !has(ds, cond("rust")) {
			t.Fatalf("%d calls, %v", n, ds)
		}
		if _, err := e.db.DB(); err != nil {
			t.Fatal(err)
		}
	})
}

// A failed invalidation leaves the commit standing and reaches OnError.
func TestPlugin_InvalidateError(t *testing.T) {
	db := sqliteDialect.open(t, nil)
	migrate(t, db)
	c, err := tiered.New(tiered.Config{})
	must(t, err)
	must(t, c.Close()) // every Invalidate now fails with ErrClosed
	var got []deps.Dep
	var gotErr error
	p := matroskagorm.New(c, matroskagorm.Options{OnError: func(_ context.Context, err error, ds []deps.Dep) {
		gotErr, got = err, ds
	}})
	must(t, db.Use(p))
	if err := db.Create(&Article{ID: 1, Category: "go"}).Error; err != nil {
		t.Fatalf("Create returned the invalidation's error: %v", err)
	}
	if !errors.Is(gotErr, tiered.ErrClosed) || !slices.Equal(got, []deps.Dep{artID(1)}) {
		t.Fatalf("OnError(%v, %v)", gotErr, got)
	}
	var n int64
	must(t, db.Model(&Article{}).Count(&n).Error)
	if st := p.Stats(); n != 1 || st.Failures != 1 || st.Invalidations != 0 {
		t.Fatalf("rows %d, stats %+v", n, st)
	}
}

// A strict Scopes whose extractor fails makes the write fail (and its
// default transaction roll back); a lenient one invalidates the type.
func TestPlugin_ExtractorError(t *testing.T) {
	for _, lenient := range []bool{false, true} {
		db := sqliteDialect.open(t, nil)
		migrate(t, db)
		c, err := tiered.New(tiered.Config{})
		must(t, err)
		t.Cleanup(func() { _ = c.Close() })
		rec := &recorder{next: c}
		p := matroskagorm.New(rec, matroskagorm.Options{})
		must(t, db.Use(p))
		s := scopes.New[*Article]("article", scopes.Options{Lenient: lenient, Logger: discard()})
		must(t, s.Describe(scopes.Signature[*Article]{
			Params:  []string{"category"},
			Extract: func(a *Article) (scopes.P, error) { return nil, errors.New("no") },
		}))
		must(t, matroskagorm.Register(p, s))
		err = db.Create(&Article{ID: 1, Category: "go"}).Error
		var n int64
		must(t, db.Model(&Article{}).Count(&n).Error)
		ds, _ := rec.take()
		if lenient {
			if err != nil || n != 1 || !has(ds, deps.All("article")) {
				t.Fatalf("lenient: err %v, rows %d, invalidated %v", err, n, ds)
			}
		} else if !errors.Is(err, scopes.ErrExtract) || n != 0 || len(ds) != 0 {
			t.Fatalf("strict: err %v, rows %d, invalidated %v", err, n, ds)
		}
	}
}

func TestRegister_Errors(t *testing.T) {
	p := matroskagorm.New(nil, matroskagorm.Options{})
	if err := matroskagorm.Register(p, scopes.New[int]("x", scopes.Options{})); !errors.Is(err, matroskagorm.ErrInvalidObject) {
		t.Fatalf("Register[int]: %v", err)
	}
	if err := matroskagorm.Register[Article](nil, nil); !errors.Is(err, matroskagorm.ErrNotInitialized) {
		t.Fatalf("Register(nil): %v", err)
	}
	db := sqliteDialect.open(t, nil)
	if err := db.Use(p); !errors.Is(err, matroskagorm.ErrNoInvalidator) {
		t.Fatalf("Use without an invalidator: %v", err)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
