package matroskagorm_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/scopes"
)

// The README's "Lists and scopes" blocks with GORM: articlesView, and the
// plugin that makes every write invalidate the lists it changes, after its
// commit. What the prose says: moving an article from go to rust drops the
// lists of both; a title-only update drops the lists holding the article
// (through its id) and leaves the others.
func TestREADME_ListsWithGORM(t *testing.T) {
	ctx := context.Background()
	db := sqliteDialect.open(t, nil)
	migrate(t, db)
	cache, _ := newCache(t)

	articleScopes := scopes.New[Article]("article", scopes.Options{}) // strict in tests
	err := articleScopes.Describe(scopes.Signature[Article]{
		Params: []string{"published", "category"},
		Extract: func(a Article) (scopes.P, error) {
			return scopes.P{"published": a.Published, "category": a.Category}, nil
		},
	})
	must(t, err)

	loads := map[string]int{}
	articlesView := func(ctx context.Context, category string) ([]Article, error) {
		return matroska.GetOrLoad(ctx, cache, "articles-list:published=true;category="+category,
			func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
				loads[category]++
				var arts []Article
				err := db.WithContext(ctx).Preload("Author").
					Where("published = ? AND category = ?", true, category).Find(&arts).Error
				// One dependency per article and per author (each once): the seed's sa_dependencies.
				ds, _ := matroskagorm.Dependencies(db, arts, "Author")
				rec.Depend(ds...)
				cs, _ := articleScopes.Condition(scopes.P{"published": true, "category": category})
				rec.Depend(cs...)
				return arts, err
			}, matroska.TTL(time.Minute))
	}

	plugin := matroskagorm.New(cache, matroskagorm.Options{})
	err = db.Use(plugin) // right after gorm.Open
	must(t, err)
	err = matroskagorm.Register(plugin, articleScopes) // writes of Article reach its lists
	must(t, err)

	must(t, db.Create(&User{ID: 1, Name: "kolypto"}).Error)
	must(t, db.Create(&Article{ID: 10, Title: "Python", Category: "go", Published: true, AuthorID: 1}).Error)
	must(t, db.Create(&Article{ID: 12, Title: "Rust", Category: "rust", Published: true, AuthorID: 1}).Error)

	// view reads both lists and reports their ids and which ones loaded.
	view := func() (goIDs, rustIDs []uint, loaded []string) {
		t.Helper()
		before := map[string]int{"go": loads["go"], "rust": loads["rust"]}
		g, err := articlesView(ctx, "go")
		must(t, err)
		r, err := articlesView(ctx, "rust")
		must(t, err)
		for _, c := range []string{"go", "rust"} {
			if loads[c] != before[c] {
				loaded = append(loaded, c)
			}
		}
		return ids(g), ids(r), loaded
	}
	step := func(what string, wantGo, wantRust []uint, wantLoaded ...string) {
		t.Helper()
		g, r, loaded := view()
		if !slices.Equal(g, wantGo) || !slices.Equal(r, wantRust) || !slices.Equal(loaded, wantLoaded) {
			t.Fatalf("%s: go %v, rust %v, loaded %v; want %v, %v, %v", what, g, r, loaded, wantGo, wantRust, wantLoaded)
		}
	}
	step("first read", []uint{10}, []uint{12}, "go", "rust")
	step("second read", []uint{10}, []uint{12})

	must(t, db.Model(&Article{ID: 10}).Update("category", "rust").Error)
	step("moving 10 from go to rust drops both lists", nil, []uint{10, 12}, "go", "rust")

	must(t, db.Model(&Article{ID: 12}).Update("title", "Rust 2").Error)
	step("a title-only update drops the list holding it, not the others", nil, []uint{10, 12}, "rust")

	must(t, db.Create(&Article{ID: 13, Title: "Generics", Category: "go", Published: true, AuthorID: 1}).Error)
	step("a create in go", []uint{13}, []uint{10, 12}, "go")

	must(t, db.Delete(&Article{ID: 10}).Error)
	step("a delete", []uint{13}, []uint{12}, "rust")
}
