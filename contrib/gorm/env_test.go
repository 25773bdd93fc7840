package matroskagorm_test

import (
	"context"
	"sync/atomic"
	"testing"

	"gorm.io/gorm"

	"github.com/matroska-go/matroska"
	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// env is one test's database, cache and plugin, with the seed's data:
// user 1 wrote articles 10 and 11 in "go" and 12 in "rust".
type env struct {
	d        dialect
	db       *gorm.DB
	cache    *tiered.Cache
	srv      *redistest.Server
	rec      *recorder
	plugin   *matroskagorm.Plugin
	articles *scopes.Scopes[Article]
	loads    atomic.Int64 // loader calls of list
}

func newArticleScopes(t *testing.T) *scopes.Scopes[Article] {
	s := scopes.New[Article]("article", scopes.Options{})
	must(t, s.Describe(scopes.Signature[Article]{
		Params: []string{"category"},
		Extract: func(a Article) (scopes.P, error) {
			return scopes.P{"category": a.Category}, nil
		},
	}))
	return s
}

func setup(t *testing.T, d dialect, opts matroskagorm.Options, cfg *gorm.Config) *env {
	t.Helper()
	e := &env{d: d, articles: newArticleScopes(t)}
	e.db = d.open(t, cfg)
	migrate(t, e.db)
	e.cache, e.srv = newCache(t)
	e.rec = &recorder{next: e.cache}
	e.plugin = matroskagorm.New(e.rec, opts)
	must(t, e.db.Use(e.plugin))
	must(t, matroskagorm.Register(e.plugin, e.articles))
	must(t, e.db.Create(&User{ID: 1, Name: "kolypto"}).Error)
	for _, a := range []Article{
		{ID: 10, Title: "Python", Category: "go", AuthorID: 1},
		{ID: 11, Title: "Cache", Category: "go", AuthorID: 1},
		{ID: 12, Title: "Rust", Category: "rust", AuthorID: 1},
	} {
		must(t, e.db.Create(&a).Error)
	}
	e.rec.take()
	return e
}

// list is the cached list endpoint: the articles of a category with their
// authors, depending on their ids and on the category's condition.
func list(ctx context.Context, cache *tiered.Cache, db *gorm.DB, sc *scopes.Scopes[Article], key, category string, loads *atomic.Int64) ([]Article, error) {
	return matroska.GetOrLoad(ctx, cache, key,
		func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
			loads.Add(1)
			var arts []Article
			if err := db.WithContext(ctx).Preload("Author").Where("category = ?", category).Order("id").Find(&arts).Error; err != nil {
				return nil, err
			}
			ds, err := matroskagorm.Dependencies(db, arts, "Author")
			if err != nil {
				return nil, err
			}
			cs, err := sc.Condition(scopes.P{"category": category})
			if err != nil {
				return nil, err
			}
			rec.Depend(ds...)
			rec.Depend(cs...)
			return arts, nil
		})
}

// list reads a category's list through the env's cache and reports whether
// the loader ran.
func (e *env) list(t *testing.T, category string) ([]Article, bool) {
	t.Helper()
	before := e.loads.Load()
	arts, err := list(context.Background(), e.cache, e.db, e.articles, "articles:category="+category, category, &e.loads)
	must(t, err)
	return arts, e.loads.Load() != before
}

func ids(arts []Article) []uint {
	out := make([]uint, len(arts))
	for i, a := range arts {
		out[i] = a.ID
	}
	return out
}

// count caches the number of articles of a category. It depends on the
// category's condition alone (no ids), so only the old and new values of a
// write can reach it: an article leaving the category is not in it.
func (e *env) count(t *testing.T, category string) (int64, bool) {
	t.Helper()
	before := e.loads.Load()
	n, err := matroska.GetOrLoad(context.Background(), e.cache, "articles:count:"+category,
		func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
			e.loads.Add(1)
			var n int64
			if err := e.db.WithContext(ctx).Model(&Article{}).Where("category = ?", category).Count(&n).Error; err != nil {
				return 0, err
			}
			cs, err := e.articles.Condition(scopes.P{"category": category})
			rec.Depend(cs...)
			return n, err
		})
	must(t, err)
	return n, e.loads.Load() != before
}
