package local_test

import (
	"fmt"
	"time"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/local"
)

func Example() {
	c, err := local.New(local.Config{MaxCost: 1 << 20})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	article := deps.Id("article", 7)

	// A value read from the source at sequence 1, which depends on article 7.
	gen := c.Generation()
	c.Fill("article:7", local.Item{Value: "Hello", Deps: []deps.Dep{article}, Mark: 1}, gen, time.Minute, 64)
	c.Wait() // Ristretto applies fills asynchronously
	it, ok := c.Get("article:7")
	fmt.Println(it.Value, ok)

	// Article 7 changes: invalidation 2 drops the entry...
	c.Invalidate(2, []deps.Dep{article})
	_, ok = c.Get("article:7")
	fmt.Println(ok)

	// ...and a value read before it (at sequence 1) is refused.
	fmt.Println(c.Fill("article:7", local.Item{Value: "Hello", Deps: []deps.Dep{article}, Mark: 1}, gen, time.Minute, 64))
	fmt.Println(c.Stats().Refused.Tombstone)
	// Output:
	// Hello true
	// false
	// false
	// 1
}
