package deps_test

import (
	"fmt"

	"github.com/matroska-go/matroska/deps"
)

func Example() {
	fmt.Println(deps.Id("article", 7))
	fmt.Println(deps.Id("article", 7) == deps.Id("article", "7"))
	fmt.Println(deps.Condition("article", map[string]any{"status": "published", "author": 7}))
	fmt.Println(deps.Tag("home:page{1}"))

	d, err := deps.Parse("key:user%3A1")
	name, _ := d.KeyName()
	fmt.Println(d.Kind(), name, err)

	_, err = deps.Parse("key:user:1")
	fmt.Println(err)
	// Output:
	// id:article:7
	// true
	// cond:article:author=7&status=published
	// tag:home%3Apage%7B1%7D
	// key user:1 <nil>
	// deps: invalid dependency string: "key:user:1"
}
