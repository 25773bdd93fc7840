package matroskagorm_test

import (
	"errors"
	"slices"
	"testing"

	"gorm.io/gorm/schema"

	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/deps"
)

// The seed's "ORM dependencies" scenario: a list of articles with their
// authors depends on exactly [Article 10, User 1, Article 11], the user once,
// and invalidating User 1 removes the list.
func TestDependencies_Seed(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		var arts []Article
		must(t, e.db.Preload("Author").Where("id IN ?", []uint{10, 11}).Order("id").Find(&arts).Error)
		got, err := matroskagorm.Dependencies(e.db, arts, "Author")
		must(t, err)
		want := []deps.Dep{deps.Id("articles", 10), deps.Id("users", 1), deps.Id("articles", 11)}
		if !slices.Equal(got, want) {
			t.Fatalf("Dependencies = %v, want %v", got, want)
		}

		if _, loaded := e.list(t, "go"); !loaded {
			t.Fatal("first read did not load")
		}
		if _, loaded := e.list(t, "go"); loaded {
			t.Fatal("second read loaded again")
		}
		// The author's rename reaches the list through User 1, via the plugin.
		must(t, e.db.Model(&User{ID: 1}).Update("name", "Mark").Error)
		ds, _ := e.rec.take()
		if !has(ds, deps.Id("users", 1)) {
			t.Fatalf("renaming user 1 invalidated %v, want users 1 among them", ds)
		}
		arts, loaded := e.list(t, "go")
		if !loaded || arts[0].Author == nil || arts[0].Author.Name != "Mark" {
			t.Fatalf("after the rename: loaded=%v, list %+v", loaded, arts)
		}
	})
}

func TestDependencies_Shapes(t *testing.T) {
	db := sqliteDialect.open(t, nil)
	migrate(t, db)
	must(t, db.Create(&User{ID: 1, Name: "a"}).Error)
	must(t, db.Create(&User{ID: 2, Name: "b"}).Error)
	must(t, db.Create(&Article{ID: 10, AuthorID: 1, Comments: []Comment{
		{ID: 100, AuthorID: 2, Body: "x"}, {ID: 101, AuthorID: 1, Body: "y"},
	}}).Error)
	must(t, db.Create(&Article{ID: 11, AuthorID: 2}).Error)

	var arts []*Article
	must(t, db.Preload("Author").Preload("Comments.Author").Order("id").Find(&arts).Error)
	got, err := matroskagorm.Dependencies(db, arts, "Comments.Author", "Author")
	must(t, err)
	want := []deps.Dep{
		deps.Id("articles", 10), deps.Id("comments", 100), deps.Id("users", 2),
		deps.Id("comments", 101), deps.Id("users", 1), deps.Id("articles", 11),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("slice of pointers, nested path: %v, want %v", got, want)
	}

	// One model, by value and by pointer; an association not loaded is skipped.
	var one Article
	must(t, db.First(&one, 10).Error)
	for _, obj := range []any{one, &one, []Article{one}, [1]Article{one}} {
		got, err := matroskagorm.Dependencies(db, obj, "Author", "Comments")
		must(t, err)
		if !slices.Equal(got, []deps.Dep{deps.Id("articles", 10)}) {
			t.Fatalf("%T without preloads: %v", obj, got)
		}
	}
	// Nothing in, nothing out.
	for _, obj := range []any{nil, (*Article)(nil), []Article{}} {
		got, err := matroskagorm.Dependencies(db, obj, "Author")
		if err != nil || len(got) != 0 {
			t.Fatalf("%T: %v, %v", obj, got, err)
		}
	}

	// Bad input is a sentinel error.
	for _, path := range []string{"Nope", "Author.Nope", "Comments..Author", "", "Title"} {
		if _, err := matroskagorm.Dependencies(db, arts, path); !errors.Is(err, matroskagorm.ErrUnknownPath) {
			t.Errorf("path %q: err = %v, want ErrUnknownPath", path, err)
		}
	}
	for _, obj := range []any{42, "x", []int{1}, map[string]any{"id": 1}} {
		if _, err := matroskagorm.Dependencies(db, obj); !errors.Is(err, matroskagorm.ErrInvalidObject) {
			t.Errorf("%T: err = %v, want ErrInvalidObject", obj, err)
		}
	}
	if _, err := matroskagorm.Dependencies(nil, arts); !errors.Is(err, matroskagorm.ErrNotInitialized) {
		t.Errorf("nil db: err = %v", err)
	}
}

// The plugin's TypeName names the dependencies of Dependencies too.
func TestDependencies_TypeName(t *testing.T) {
	db := sqliteDialect.open(t, nil)
	migrate(t, db)
	c, _ := newCache(t)
	must(t, db.Use(matroskagorm.New(c, matroskagorm.Options{
		TypeName: func(s *schema.Schema) string { return s.Name },
	})))
	got, err := matroskagorm.Dependencies(db, Article{ID: 3})
	must(t, err)
	if !slices.Equal(got, []deps.Dep{deps.Id("Article", 3)}) {
		t.Fatalf("got %v", got)
	}
}

func TestCompositeKey(t *testing.T) {
	a := matroskagorm.CompositeKey("a,b", "c")
	b := matroskagorm.CompositeKey("a", "b,c")
	if a == b {
		t.Fatalf("(a,b; c) and (a; b,c) collide: %q", a)
	}
	if x, y := matroskagorm.CompositeKey("a%2Cb", "c"), a; x == y {
		t.Fatalf("an escaped comma collides with a comma: %q", x)
	}
	if got := matroskagorm.CompositeKey(1, int64(2), true); got != "1,2,true" {
		t.Fatalf("parts are not canonical: %q", got)
	}

	eachDialect(t, func(t *testing.T, d dialect) {
		e := setup(t, d, matroskagorm.Options{}, nil)
		must(t, e.db.Create(&Tagging{Owner: "a,b", Name: "c", Note: "1"}).Error)
		must(t, e.db.Create(&Tagging{Owner: "a", Name: "b,c", Note: "2"}).Error)
		e.rec.take()
		var ts []Tagging
		must(t, e.db.Order("owner DESC").Find(&ts).Error)
		got, err := matroskagorm.Dependencies(e.db, ts)
		must(t, err)
		want := []deps.Dep{deps.Id("taggings", a), deps.Id("taggings", b)}
		if !slices.Equal(got, want) || got[0] == got[1] {
			t.Fatalf("Dependencies = %v, want %v", got, want)
		}
		// An update of one invalidates its dependency, not the other's.
		must(t, e.db.Model(&Tagging{Owner: "a", Name: "b,c"}).Update("note", "3").Error)
		ds, _ := e.rec.take()
		if !has(ds, want[1]) || has(ds, want[0]) {
			t.Fatalf("update of (a; b,c) invalidated %v", ds)
		}
		must(t, e.db.Where("note = ?", "1").Delete(&Tagging{}).Error)
		ds, _ = e.rec.take()
		if !has(ds, want[0]) || has(ds, want[1]) {
			t.Fatalf("delete of (a,b; c) invalidated %v", ds)
		}
	})
}
