package pgcdc_test

import (
	"fmt"

	"github.com/matroska-go/matroska/contrib/pgcdc"
	"github.com/matroska-go/matroska/deps"
)

// A row of a table whose primary key has two columns is invalidated under
// the id contrib/gorm gives the same model: the parts in the order of
// Table.Key, canonicalised, commas escaped (and the
// escape escaped again in the dependency string).
func ExampleCompositeKey() {
	fmt.Println(deps.Id("tags", pgcdc.CompositeKey(7, "go,rust")))
	// Output: id:tags:7,go%252Crust
}
