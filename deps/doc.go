// Package deps defines the dependencies a cached entry declares and an
// invalidation names: [Id], [Tag], [Key], [Condition] and [All].
//
// Every dependency has one canonical string form ([Dep.String]) in which the
// user-supplied parts are percent-escaped, so two different dependencies never
// share a string and no user string can forge a separator or a Redis Cluster
// hash tag. [Parse] accepts exactly the canonical forms and nothing else.
//
// Values (ids, condition values) are canonicalised by [FormatValue]: integers
// of any width print in decimal, so Id("article", 1), Id("article", int64(1))
// and Id("article", "1") are the same dependency; a float with an integral
// value prints as that integer; booleans print as "true" and "false", so the
// string "true" and the boolean true match; nil prints as "~", which no string
// value can produce.
//
// A dependency with an empty type or name (Id("", 7), Tag(""), Key(""),
// All(""), Condition("", p)) is the zero [Dep], which the cache refuses
// wherever it takes a dependency (ErrInvalidDep), and [Parse] refuses its
// would-be string form.
//
// This package imports nothing of the project.
package deps
