package matroskagorm_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"gorm.io/gorm"

	matroskagorm "github.com/matroska-go/matroska/contrib/gorm"
	"github.com/matroska-go/matroska/tiered"
)

// Two service nodes, each with its own database pool and cache node, on one
// database and one Redis. Writes go through node A (and its plugin); node A
// sees them at once, node B as soon as the broadcast reaches it.
func TestEndToEnd_TwoNodes(t *testing.T) {
	eachDialect(t, func(t *testing.T, d dialect) {
		a := setup(t, d, matroskagorm.Options{}, nil)
		b := &node{cache: newNode(t, a.srv), db: d.open(t, nil)}
		ctx := context.Background()

		read := func(n *node, cache *tiered.Cache, db *gorm.DB, category string) []uint {
			t.Helper()
			arts, err := list(ctx, cache, db, a.articles, "articles:category="+category, category, &n.loads)
			must(t, err)
			return ids(arts)
		}
		nodeA := &node{cache: a.cache, db: a.db}
		// expect checks that A shows want at once, and B within the deadline.
		expect := func(what, category string, want []uint) {
			t.Helper()
			if got := read(nodeA, a.cache, a.db, category); !slices.Equal(got, want) {
				t.Fatalf("%s: node A reads %s = %v right after the write, want %v", what, category, got, want)
			}
			var got []uint
			waitFor(t, 5*time.Second, what+": node B sees "+category, func() bool {
				got = read(b, b.cache, b.db, category)
				return slices.Equal(got, want)
			})
		}
		warm := func() {
			t.Helper()
			for _, c := range []string{"go", "rust"} {
				read(nodeA, a.cache, a.db, c)
				read(b, b.cache, b.db, c)
			}
			before := b.loads.Load() + nodeA.loads.Load()
			for _, c := range []string{"go", "rust"} {
				read(nodeA, a.cache, a.db, c)
				read(b, b.cache, b.db, c)
			}
			if after := b.loads.Load() + nodeA.loads.Load(); after != before {
				t.Fatalf("warm lists loaded again (%d loads)", after-before)
			}
		}

		warm()
		must(t, a.db.Create(&Article{ID: 20, Title: "New", Category: "go", AuthorID: 1}).Error)
		expect("create", "go", []uint{10, 11, 20})
		expect("create", "rust", []uint{12})

		warm()
		must(t, a.db.Model(&Article{ID: 11}).Update("category", "rust").Error)
		expect("move", "go", []uint{10, 20})
		expect("move", "rust", []uint{11, 12})

		warm()
		must(t, a.db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Delete(&Article{ID: 10}).Error; err != nil {
				return err
			}
			return tx.Model(&Article{}).Where("category = ?", "rust").Update("category", "go").Error
		}))
		expect("delete and bulk move", "go", []uint{11, 12, 20})
		expect("delete and bulk move", "rust", nil)
	})
}

type node struct {
	cache *tiered.Cache
	db    *gorm.DB
	loads atomic.Int64
}
