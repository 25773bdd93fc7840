// Package modcheck holds a test, and nothing else, that builds every nested
// module of this repository (contrib/gorm, contrib/otel, contrib/pgcdc,
// contrib/prometheus, examples/blog, bench) as a user outside the
// repository would: without the workspace (go.work), without replace
// directives, against the modules of this repository as a module proxy
// would serve them at the next release.
//
// Inside the repository, go.work makes the nested modules build against the
// local tree whatever version their go.mod requires, so a requirement on a
// version that will never exist (v0.0.0, a pseudo-version of nothing) goes
// unnoticed there; this test notices it. It also checks that each go.mod and
// go.sum are what `go mod tidy` makes of them, apart from the lines of this
// repository's own modules (their checksums are known only once they are
// tagged; see RELEASING.md).
package modcheck
