package scopes_test

import (
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"pgregory.net/rapid"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
)

// The G7 property: random objects, random list filters, random creates,
// updates and deletes. An oracle evaluates every filter against the old and
// the new object; every list it says is affected (its filter matches the
// old or the new object) must be invalidated by what the write invalidates:
// the object's id and Scopes' conditions. Lists depend, as the package
// documents, on their filter's Condition and on the ids of their members.
// Some lists are aggregates (a count) that record no ids: for them the
// oracle requires an invalidation when the object enters or leaves the
// filter, which only the old and the new values can tell.
//
// The model stands in for the cache: an entry is dropped when any of its
// dependencies is invalidated, which is what every tier does with them.

type item struct {
	ID        int
	Category  string
	Published bool
	Rating    int
	Tags      []string
	Title     string
}

var (
	categories = []string{"a", "b", "c"}
	tagNames   = []string{"x", "y", "z"}
)

// filter is a list filter: for each parameter, the values it accepts (one
// value, or several for an IN), as the Go values a caller would pass.
type filter map[string][]any

// oracle reports whether it matches an object, evaluating the filter on the
// object's fields directly (not through Scopes).
func (f filter) matches(it item) bool {
	for param, vals := range f {
		ok := false
		for _, v := range vals {
			want := deps.FormatValue(v)
			switch param {
			case "category":
				ok = ok || it.Category == want
			case "published":
				ok = ok || fmt.Sprint(it.Published) == want
			case "rating":
				ok = ok || fmt.Sprint(it.Rating) == want
			case "title": // no signature describes it
				ok = ok || it.Title == want
			case "tag":
				ok = ok || slices.Contains(it.Tags, want)
			default:
				panic("unknown param " + param)
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (f filter) params() scopes.P {
	p := scopes.P{}
	for k, vals := range f {
		if len(vals) == 1 {
			p[k] = vals[0]
		} else {
			p[k] = scopes.In(vals)
		}
	}
	return p
}

func itemScopes(t interface{ Fatal(...any) }) *scopes.Scopes[item] {
	s := scopes.New[item]("item", scopes.Options{Lenient: true, Logger: discard})
	sigs := []scopes.Signature[item]{
		{Params: []string{"category"}, Watch: []string{"Category"}, Extract: func(it item) (scopes.P, error) {
			return scopes.P{"category": it.Category}, nil
		}},
		{Params: []string{"published", "category"}, Watch: []string{"Published", "Category"}, Extract: func(it item) (scopes.P, error) {
			return scopes.P{"published": it.Published, "category": it.Category}, nil
		}},
		{Params: []string{"rating"}, Watch: []string{"Rating"}, Extract: func(it item) (scopes.P, error) {
			return scopes.P{"rating": it.Rating}, nil
		}},
		{Params: []string{"tag"}, Watch: []string{"Tags"}, Extract: func(it item) (scopes.P, error) {
			in := scopes.In{}
			for _, tag := range it.Tags {
				in = append(in, tag)
			}
			return scopes.P{"tag": in}, nil
		}},
	}
	for _, sig := range sigs {
		if err := s.Describe(sig); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func drawItem(t *rapid.T, id int) item {
	return item{
		ID:        id,
		Category:  rapid.SampledFrom(categories).Draw(t, "category"),
		Published: rapid.Bool().Draw(t, "published"),
		Rating:    rapid.IntRange(1, 3).Draw(t, "rating"),
		Tags:      rapid.SliceOfNDistinct(rapid.SampledFrom(tagNames), 0, 2, rapid.ID[string]).Draw(t, "tags"),
		Title:     rapid.SampledFrom([]string{"t1", "t2"}).Draw(t, "title"),
	}
}

// drawValue draws a value of param in one of the spellings that must be
// equal to the object's: 2, int64(2), 2.0, "2"; true, "true".
func drawValue(t *rapid.T, param string) any {
	switch param {
	case "category":
		return rapid.SampledFrom(categories).Draw(t, "v")
	case "published":
		b := rapid.Bool().Draw(t, "v")
		return rapid.SampledFrom([]any{b, fmt.Sprint(b)}).Draw(t, "spelling")
	case "rating":
		r := rapid.IntRange(1, 3).Draw(t, "v")
		return rapid.SampledFrom([]any{r, int64(r), float64(r), fmt.Sprint(r)}).Draw(t, "spelling")
	case "tag":
		return rapid.SampledFrom(tagNames).Draw(t, "v")
	default:
		return rapid.SampledFrom([]string{"t1", "t2"}).Draw(t, "v")
	}
}

func drawFilter(t *rapid.T) filter {
	shapes := [][]string{{}, {"category"}, {"published", "category"}, {"rating"}, {"tag"}, {"title"}, {"title", "category"}}
	shape := rapid.SampledFrom(shapes).Draw(t, "shape")
	f := filter{}
	for _, p := range shape {
		n := rapid.IntRange(1, 3).Draw(t, "values") // IN of up to 3 values
		for range n {
			f[p] = append(f[p], drawValue(t, p))
		}
	}
	return f
}

type list struct {
	f     filter
	count bool // an aggregate: depends on no ids
	deps  map[deps.Dep]bool
}

// cache builds the list's dependencies as a loader would: its condition and
// the ids of its members.
func (l *list) cache(t *rapid.T, s *scopes.Scopes[item], db map[int]item) {
	ds, _ := s.Condition(l.f.params()) // lenient: undescribed filters fall back
	l.deps = map[deps.Dep]bool{}
	for _, d := range ds {
		l.deps[d] = true
	}
	for _, it := range db {
		if !l.count && l.f.matches(it) {
			l.deps[deps.Id("item", it.ID)] = true
		}
	}
}

func (l *list) hit(ds []deps.Dep) bool {
	for _, d := range ds {
		if l.deps[d] {
			return true
		}
	}
	return false
}

func changedFields(a, b item) []string {
	var out []string
	if a.Category != b.Category {
		out = append(out, "Category")
	}
	if a.Published != b.Published {
		out = append(out, "Published")
	}
	if a.Rating != b.Rating {
		out = append(out, "Rating")
	}
	if !slices.Equal(a.Tags, b.Tags) {
		out = append(out, "Tags")
	}
	if a.Title != b.Title {
		out = append(out, "Title")
	}
	return out
}

func TestG7_ScopeCompletenessProperty(t *testing.T) {
	var affected, needless, writes atomic.Int64
	rapid.Check(t, func(t *rapid.T) {
		s := itemScopes(t)
		db := map[int]item{}
		nextID := 1
		for range rapid.IntRange(0, 5).Draw(t, "initial") {
			db[nextID] = drawItem(t, nextID)
			nextID++
		}
		lists := make([]*list, rapid.IntRange(1, 12).Draw(t, "lists"))
		for i := range lists {
			lists[i] = &list{f: drawFilter(t), count: rapid.Bool().Draw(t, "count")}
			lists[i].cache(t, s, db)
		}
		for range rapid.IntRange(1, 20).Draw(t, "ops") {
			var before, after *item
			var invalidated []deps.Dep
			var err error
			op := rapid.SampledFrom([]string{"create", "update", "delete"}).Draw(t, "op")
			if len(db) == 0 {
				op = "create"
			}
			switch op {
			case "create":
				it := drawItem(t, nextID)
				nextID++
				db[it.ID] = it
				after = &it
				invalidated, err = s.ObjectDeps(it)
			case "delete":
				ids := mapKeys(db)
				id := rapid.SampledFrom(ids).Draw(t, "id")
				it := db[id]
				delete(db, id)
				before = &it
				invalidated, err = s.ObjectDeps(it)
			case "update":
				ids := mapKeys(db)
				id := rapid.SampledFrom(ids).Draw(t, "id")
				old := db[id]
				nu := drawItem(t, id)
				db[id] = nu
				before, after = &old, &nu
				modified := changedFields(old, nu)
				// Change tracking may report more names than changed.
				if rapid.Bool().Draw(t, "extra name") {
					modified = append(modified, "Unrelated")
				}
				invalidated, err = s.ChangeDeps(old, nu, modified...)
			}
			if err != nil {
				t.Fatalf("%s: %v", op, err)
			}
			// The writer invalidates the object's id as well.
			obj := before
			if obj == nil {
				obj = after
			}
			invalidated = append(invalidated, deps.Id("item", obj.ID))
			writes.Add(1)

			for i, l := range lists {
				was := before != nil && l.f.matches(*before)
				is := after != nil && l.f.matches(*after)
				must := was || is
				if l.count {
					must = was != is
				}
				got := l.hit(invalidated)
				if must && !got {
					t.Fatalf("G7: %s of %+v -> %+v does not invalidate list %d %v (deps %v); invalidated %v",
						op, before, after, i, l.f, l.deps, invalidated)
				}
				if must {
					affected.Add(1)
				}
				if got && !must {
					needless.Add(1)
				}
				if got {
					l.cache(t, s, db) // reloaded on the next read
				}
			}
		}
	})
	t.Logf("G7 property: %d writes, %d list invalidations required, %d needless (a list invalidated that the oracle did not require: the fallback of undescribed filters, and aggregates whose members stayed)",
		writes.Load(), affected.Load(), needless.Load())
	if affected.Load() == 0 {
		t.Fatal("the generator never produced an affected list")
	}
}

func mapKeys(m map[int]item) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
