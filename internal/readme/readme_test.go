package readme_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The README's types.
type Author struct {
	ID   int
	Name string
}

type Article struct {
	ID        int
	Title     string
	Category  string
	Published bool
	Author    Author
}

// database stands in for the README's db: a list of articles, and a count
// of the queries that read it.
type database struct {
	mu       sync.Mutex
	articles []Article
	queries  int
}

func (d *database) Articles(ctx context.Context) ([]Article, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries++
	return slices.Clone(d.articles), nil
}

func (d *database) where(published bool, category string) []Article {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.queries++
	var out []Article
	for _, a := range d.articles {
		if a.Published == published && a.Category == category {
			out = append(out, a)
		}
	}
	return out
}

func (d *database) update(f func(a *Article)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := range d.articles {
		f(&d.articles[i])
	}
}

func (d *database) count() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.queries
}

// node is one process of the README's seed example: its cache and the two
// functions it writes.
type node struct {
	cache        *tiered.Cache
	articlesList func(ctx context.Context) ([]Article, error)
	modifyAuthor func(ctx context.Context, id int) error
}

// seedNode runs the code of "The seed's example, in Go" against addr.
func seedNode(t *testing.T, addr string, db *database) node {
	t.Helper()
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 []string{addr},
		ContextTimeoutEnabled: true, // required: lets the cache bound each Redis call
	})
	t.Cleanup(func() { _ = rdb.Close() })
	cache, err := tiered.New(tiered.Config{Redis: rdb, Namespace: "blog"}) // fails if Redis does not answer
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })

	articlesList := func(ctx context.Context) ([]Article, error) {
		return matroska.GetOrLoad(ctx, cache, "articles-list",
			func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
				arts, err := db.Articles(ctx) // only on a miss, once per key per node at a time
				for _, a := range arts {
					// If any of the articles or their authors change, the list is discarded.
					rec.Depend(deps.Id("article", a.ID), deps.Id("author", a.Author.ID))
				}
				return arts, err
			}, matroska.TTL(60*time.Second))
	}

	modifyAuthor := func(ctx context.Context, id int) error {
		// ... commit the change to the database, then:
		return cache.Invalidate(ctx, deps.Id("author", id))
	}
	return node{cache, articlesList, modifyAuthor}
}

// firstAuthor is the name of the list's first author, or the error.
func firstAuthor(arts []Article, err error) string {
	if err != nil {
		return "error: " + err.Error()
	}
	if len(arts) == 0 {
		return "an empty list"
	}
	return arts[0].Author.Name
}

// "When Invalidate returns, neither this node's L1 nor Redis serves the old
// list; the other nodes drop theirs as the broadcast reaches them."
func TestSeedExample(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	db := &database{articles: []Article{
		{ID: 1, Title: "Python", Author: Author{7, "Ada"}},
		{ID: 2, Title: "Cache", Author: Author{7, "Ada"}},
	}}
	a, b := seedNode(t, srv.Addr(), db), seedNode(t, srv.Addr(), db)

	for _, n := range []node{a, a, b, b} {
		if got := firstAuthor(n.articlesList(ctx)); got != "Ada" {
			t.Fatalf("author %q", got)
		}
	}
	if q := db.count(); q != 1 {
		t.Fatalf("%d queries for four reads on two nodes, want 1", q)
	}

	db.update(func(art *Article) { art.Author.Name = "Ada Lovelace" })
	if err := a.modifyAuthor(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := firstAuthor(a.articlesList(ctx)); got != "Ada Lovelace" {
		t.Fatalf("the invalidating node serves %q after Invalidate returned", got)
	}
	// Redis: a node that has not heard of the list reads it from there.
	c := seedNode(t, srv.Addr(), db)
	if got := firstAuthor(c.articlesList(ctx)); got != "Ada Lovelace" {
		t.Fatalf("Redis serves %q after Invalidate returned", got)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		if got := firstAuthor(b.articlesList(ctx)); got == "Ada Lovelace" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other node still serves the old list")
		}
		time.Sleep(time.Millisecond)
	}
}

// "Lists and scopes": the Describe block, a list that depends on its
// condition, and the write's InvalidateChange, which "drops the lists of
// both" categories when an article moves from go to rust.
func TestListsAndScopes(t *testing.T) {
	for _, lenient := range []bool{true, false} { // the README's, and strict as in tests
		ctx := context.Background()
		cache, err := tiered.New(tiered.Config{}) // one-process mode
		if err != nil {
			t.Fatal(err)
		}
		defer cache.Close()

		articleScopes := scopes.New[Article]("article", scopes.Options{Lenient: lenient}) // strict in tests
		err = articleScopes.Describe(scopes.Signature[Article]{
			Params: []string{"published", "category"},
			Extract: func(a Article) (scopes.P, error) {
				return scopes.P{"published": a.Published, "category": a.Category}, nil
			},
		})
		if err != nil {
			t.Fatal(err)
		}

		db := &database{articles: []Article{
			{ID: 1, Title: "Generics", Category: "go", Published: true},
			{ID: 2, Title: "Borrowing", Category: "rust", Published: true},
		}}
		// articlesView, with db.where standing in for GORM (contrib/gorm's
		// readme_test.go runs it with GORM).
		articlesView := func(ctx context.Context, category string) ([]Article, error) {
			return matroska.GetOrLoad(ctx, cache, "articles-list:published=true;category="+category,
				func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
					arts := db.where(true, category)
					for _, a := range arts {
						rec.Depend(deps.Id("article", a.ID))
					}
					cs, err := articleScopes.Condition(scopes.P{"published": true, "category": category})
					rec.Depend(cs...)
					return arts, err
				}, matroska.TTL(time.Minute))
		}
		ids := func(category string) []int {
			t.Helper()
			arts, err := articlesView(ctx, category)
			if err != nil {
				t.Fatal(err)
			}
			var out []int
			for _, a := range arts {
				out = append(out, a.ID)
			}
			return out
		}
		if g, r := ids("go"), ids("rust"); !slices.Equal(g, []int{1}) || !slices.Equal(r, []int{2}) {
			t.Fatalf("go %v, rust %v", g, r)
		}

		// An update moves article 1 from go to rust, commits, then:
		var before, after Article
		db.update(func(a *Article) {
			if a.ID == 1 {
				before = *a
				a.Category = "rust"
				after = *a
			}
		})
		if err := cache.Invalidate(ctx, deps.Id("article", 1)); err != nil {
			t.Fatal(err)
		}
		err = articleScopes.InvalidateChange(ctx, cache, before, after, "Category")
		if err != nil {
			t.Fatal(err)
		}
		if g, r := ids("go"), ids("rust"); len(g) != 0 || !slices.Equal(r, []int{1, 2}) {
			t.Fatalf("lenient=%v: after the move go %v, rust %v; want [] and [1 2]", lenient, g, r)
		}
	}
}

// "Writes with a start mark": Set with the mark taken before the source
// was read refuses a value that an invalidation overtook.
func TestWritesWithAStartMark(t *testing.T) {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	mark, _ := cache.Mark(ctx)
	v := "read from the source after the mark"
	if err := cache.Invalidate(ctx, deps.Id("article", 1)); err != nil { // another write
		t.Fatal(err)
	}
	err = cache.Set(ctx, "article:1", v, matroska.Depend(deps.Id("article", 1)), matroska.AtMark(mark))
	if !errors.Is(err, matroska.ErrStale) {
		t.Fatalf("Set overtaken by an invalidation: %v, want ErrStale", err)
	}
}

// "Redis Cluster and Sentinel": several seed addresses give a cluster
// client, which the cache speaks the cluster protocol to.
func TestRedisCluster(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	ctx := context.Background()

	// Redis Cluster: several seed addresses (or IsClusterMode) give a *redis.ClusterClient.
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs:                 rc.Addrs(),
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	cache, err := tiered.New(tiered.Config{Redis: rdb, Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	if _, ok := rdb.(*redis.ClusterClient); !ok {
		t.Fatalf("NewUniversalClient with %d addresses gave a %T", len(rc.Addrs()), rdb)
	}
	loads := 0
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		loads++
		rec.Depend(deps.Id("product", 1))
		return loads, nil
	}
	for range 2 {
		if v, err := matroska.GetOrLoad(ctx, cache, "product:1", load); err != nil || v != 1 {
			t.Fatalf("GetOrLoad = %d, %v", v, err)
		}
	}
	if err := cache.Invalidate(ctx, deps.Id("product", 1)); err != nil {
		t.Fatal(err)
	}
	if v, err := matroska.GetOrLoad(ctx, cache, "product:1", load); err != nil || v != 2 {
		t.Fatalf("after Invalidate: %d, %v; want a new load", v, err)
	}
}

// "MasterName without RouteByLatency/RouteRandomly gives a failover
// *redis.Client"; with either, go-redis returns a cluster client.
func TestSentinelClientType(t *testing.T) {
	rdb := redis.NewUniversalClient(&redis.UniversalOptions{
		MasterName:            "mymaster",
		Addrs:                 []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"},
		ContextTimeoutEnabled: true,
	})
	defer rdb.Close()
	if _, ok := rdb.(*redis.Client); !ok {
		t.Fatalf("MasterName gave a %T, want *redis.Client", rdb)
	}
	routed := redis.NewUniversalClient(&redis.UniversalOptions{
		MasterName:     "mymaster",
		Addrs:          []string{"10.0.0.1:26379"},
		RouteByLatency: true,
	})
	defer routed.Close()
	if _, ok := routed.(*redis.ClusterClient); !ok {
		t.Fatalf("MasterName with RouteByLatency gave a %T, want *redis.ClusterClient", routed)
	}
}
