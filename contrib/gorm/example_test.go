package matroskagorm_test

import (
	"context"
	"fmt"

	"github.com/glebarez/sqlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/matroska-go/matroska"
	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// A list cached by category, and writes through GORM that drop it after
// their commit: a create in the category, and a move out of it.
func Example() {
	ctx := context.Background()
	db, _ := gorm.Open(sqlite.Open(":memory:"), &gorm.Config{Logger: logger.Discard})
	sqlDB, _ := db.DB()
	defer sqlDB.Close()
	sqlDB.SetMaxOpenConns(1) // one in-memory database
	_ = db.AutoMigrate(&User{}, &Article{})

	cache, _ := tiered.New(tiered.Config{}) // one process; give it Redis to share it
	defer cache.Close()

	articles := scopes.New[Article]("article", scopes.Options{})
	_ = articles.Describe(scopes.Signature[Article]{
		Params:  []string{"category"},
		Extract: func(a Article) (scopes.P, error) { return scopes.P{"category": a.Category}, nil },
	})
	plugin := matroskagorm.New(cache, matroskagorm.Options{})
	_ = db.Use(plugin)
	_ = matroskagorm.Register(plugin, articles)

	byCategory := func(category string) []uint {
		arts, _ := matroska.GetOrLoad(ctx, cache, "articles:"+category,
			func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
				fmt.Println("  loading", category)
				var arts []Article
				err := db.WithContext(ctx).Preload("Author").Where("category = ?", category).Order("id").Find(&arts).Error
				ds, _ := matroskagorm.Dependencies(db, arts, "Author")
				cs, _ := articles.Condition(scopes.P{"category": category})
				rec.Depend(ds...)
				rec.Depend(cs...)
				return arts, err
			})
		return ids(arts)
	}

	db.Create(&User{ID: 1, Name: "kolypto"})
	db.Create(&Article{ID: 10, Title: "Python", Category: "go", AuthorID: 1})
	fmt.Println(byCategory("go"), byCategory("rust"))
	fmt.Println(byCategory("go"), byCategory("rust"))

	fmt.Println("create 11 in go")
	db.Create(&Article{ID: 11, Title: "Cache", Category: "go", AuthorID: 1})
	fmt.Println(byCategory("go"), byCategory("rust"))

	fmt.Println("move 10 to rust")
	db.Model(&Article{ID: 10}).Update("category", "rust")
	fmt.Println(byCategory("go"), byCategory("rust"))
	// Output:
	//   loading go
	//   loading rust
	// [10] []
	// [10] []
	// create 11 in go
	//   loading go
	// [10 11] []
	// move 10 to rust
	//   loading go
	//   loading rust
	// [11] [10]
}
