package matroska_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

type Article struct {
	ID       int
	Title    string
	AuthorID int
}

// A read-through list that knows what it depends on, in one-process mode
// (no Redis needed; with Config.Redis set the code is the same).
func Example() {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	db := map[int]Article{1: {1, "Python", 7}, 2: {2, "Cache", 7}}
	queries := 0
	list := func() []Article {
		arts, err := matroska.GetOrLoad(ctx, cache, "articles", func(ctx context.Context, rec *matroska.Recorder) ([]Article, error) {
			queries++
			arts := []Article{db[1], db[2]}
			for _, a := range arts {
				rec.Depend(deps.Id("article", a.ID), deps.Id("author", a.AuthorID))
			}
			return arts, nil
		})
		if err != nil {
			panic(err)
		}
		return arts
	}

	list()
	list()
	fmt.Println("queries after two reads:", queries)

	// A write commits, then invalidates what it changed.
	db[2] = Article{2, "Caching", 7}
	if err := cache.Invalidate(ctx, deps.Id("article", 2)); err != nil {
		panic(err)
	}
	fmt.Println("after the write:", list()[1].Title, "- queries:", queries)
	// Output:
	// queries after two reads: 1
	// after the write: Caching - queries: 2
}

// A loader that finds nothing returns ErrNotFound: the answer is cached
// with its dependencies, so creating the row and invalidating its id ends it.
func ExampleGetOrLoad_notFound() {
	ctx := context.Background()
	cache, _ := tiered.New(tiered.Config{})
	defer cache.Close()

	db := map[int]string{}
	user := func(id int) (string, error) {
		return matroska.GetOrLoad(ctx, cache, fmt.Sprint("user:", id), func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			rec.Depend(deps.Id("user", id))
			name, ok := db[id]
			if !ok {
				return "", matroska.ErrNotFound
			}
			return name, nil
		})
	}

	_, err := user(42)
	fmt.Println(errors.Is(err, matroska.ErrNotFound))
	db[42] = "Ada"
	_ = cache.Invalidate(ctx, deps.Id("user", 42))
	name, err := user(42)
	fmt.Println(name, err)
	// Output:
	// true
	// Ada <nil>
}

// A GetOrLoad inside a loader is recorded by the outer entry: invalidating
// the inner entry's dependencies, or the inner key itself, drops the outer.
func ExampleGetOrLoad_nested() {
	ctx := context.Background()
	cache, _ := tiered.New(tiered.Config{})
	defer cache.Close()

	authorName := "Ada"
	author := func(ctx context.Context) (string, error) {
		return matroska.GetOrLoad(ctx, cache, "author:7", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			rec.Depend(deps.Id("author", 7))
			return authorName, nil
		})
	}
	page := func() string {
		p, _ := matroska.GetOrLoad(ctx, cache, "page:home", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			name, err := author(ctx)
			return "Home, by " + name, err
		})
		return p
	}

	fmt.Println(page())
	authorName = "Ada Lovelace"
	_ = cache.Invalidate(ctx, deps.Id("author", 7))
	fmt.Println(page())
	// Output:
	// Home, by Ada
	// Home, by Ada Lovelace
}

// Ready for a readiness probe: nil when Redis answers and the bus is in
// sync (a one-process cache, as here, is always ready).
func ExampleCache_Ready() {
	cache, err := tiered.New(tiered.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if err := cache.Ready(r.Context()); err != nil {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
		}
	})
	fmt.Println("ready:", cache.Ready(context.Background()))
	// Output:
	// ready: <nil>
}

// A loader that knows how long its value holds sets the entry's TTL itself,
// in place of the call's.
func ExampleRecorder_TTL() {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	issued := 0
	token := func() string {
		tok, err := matroska.GetOrLoad(ctx, cache, "token", func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			issued++
			rec.TTL(50 * time.Millisecond) // the token's own validity
			return fmt.Sprint("token-", issued), nil
		}, matroska.TTL(time.Hour))
		if err != nil {
			panic(err)
		}
		return tok
	}
	fmt.Println(token(), token())
	time.Sleep(200 * time.Millisecond)
	fmt.Println(token())
	// Output:
	// token-1 token-1
	// token-2
}

// A page of articles in one call: L1 first, then Redis in one round trip,
// then one query for what is still missing, each article cached with its
// own dependency.
func ExampleGetOrLoadMany() {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	db := map[string]Article{"article:1": {1, "Python", 7}, "article:2": {2, "Cache", 7}}
	queries := 0
	byKey := func(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]Article, error) {
		queries++ // SELECT ... WHERE id IN (...)
		out := map[string]Article{}
		for _, k := range keys {
			if a, ok := db[k]; ok {
				out[k] = a
				rec.For(k).Depend(deps.Id("article", a.ID))
			} // a key left out is not found, and cached so
		}
		return out, nil
	}
	keys := []string{"article:1", "article:2", "article:3"}
	page, err := matroska.GetOrLoadMany(ctx, cache, keys, byKey)
	fmt.Println(len(page), page["article:2"].Title, err, queries)
	page, err = matroska.GetOrLoadMany(ctx, cache, keys, byKey)
	fmt.Println(len(page), err, queries)
	// Output:
	// 2 Cache <nil> 1
	// 2 <nil> 1
}
