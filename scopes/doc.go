// Package scopes tells a cached list when an object enters or leaves it.
//
// A list such as "published articles in category sci-fi" depends on the ids
// of the articles it holds, so editing one of them drops it. But a new
// article, or one moved into sci-fi, is not in the list yet: no id of the
// list names it. Scopes close that gap. A Scopes[T] describes the filters
// that lists of T use (their parameter names) and how to read those
// parameters off an object. A list records the condition of its filter:
//
//	articles := scopes.New[Article]("article", scopes.Options{})
//	err := articles.Describe(scopes.Signature[Article]{
//		Params: []string{"published", "category"},
//		Extract: func(a Article) (scopes.P, error) {
//			return scopes.P{"published": a.Published, "category": a.Category}, nil
//		},
//	})
//	...
//	ds, err := articles.Condition(scopes.P{"published": true, "category": "sci-fi"})
//	rec.Depend(ds...)
//
// and a write, after its commit, invalidates the conditions the object
// matches, before and after the change (G7):
//
//	err := articles.InvalidateChange(ctx, cache, before, after, "Category")
//
// An object that leaves a list through an update is matched by its old
// values; one that enters, by its new ones. A list whose filter has no
// described signature cannot be matched precisely: it falls back to Every,
// the condition with no parameters that every write of the type
// invalidates, so it is dropped too often but never missed. In strict mode
// that is an error, so that tests find undescribed filters; in lenient mode
// (production) it is logged through slog and never silent. Every list also
// depends on the type-wide All, which a write invalidates when its object
// cannot be matched to its lists (a failing extractor).
//
// # Values
//
// Parameter values are compared by their canonical text, deps.FormatValue:
// 1, int64(1), 1.0 and "1" are one value; true and "true" are one value; nil
// is its own value, distinct from "" and from "~". A condition over several
// values of one parameter (category IN (a, b)) is written with In and
// expands to one condition per value; several In parameters expand to their
// product, up to Options.MaxConditions. An extractor may return In too, for
// an object with several values of a field (its tags): the object then
// belongs to the lists of each value.
//
// Lists must also depend on the ids of the objects they hold (deps.Id):
// a change that moves no object in or out of any list (a new title) reaches
// the lists through those ids, and the change-tracking shortcut below relies
// on it.
//
// # Modified names
//
// InvalidateFor and InvalidateChange take the names of the fields a write
// changed, as the caller's change tracking reports them. A signature that
// watches none of those fields (Signature.Watch, by default its Params) is
// skipped: that change cannot move an object in or out of its lists. With
// no names given, every signature is used.
//
// Names are matched to the fields of T (a struct, or a pointer to one) by
// the field's Go name, its json name and its GORM column (`gorm:"column:x"`),
// compared case-insensitively and ignoring underscores: "Category",
// "category", "AuthorID" and "author_id" name the fields Category and
// AuthorID, so a parameter named after its column ("category") watches the
// field that a Go change tracker reports as "Category". Describe refuses a
// signature that watches a name of no field (a misspelt Watch, or a
// parameter not named after its field without a Watch). A changed name that
// names no field is ErrUnknownField in strict mode and a logged warning in
// lenient mode, and every signature is used, so the misspelt name cannot
// leave a list stale. For a T without fields (a map, an interface) names
// are compared in the same folded form and not checked.
//
// Scopes import nothing of the cache but package deps; anything with an
// Invalidate(ctx, ...deps.Dep) error method, such as *tiered.Cache, is an
// Invalidator.
package scopes
