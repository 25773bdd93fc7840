// Package readme holds tests, and nothing else, that run the code blocks of
// the repository's README.md that show the library's API (those that need
// GORM run in contrib/gorm's readme_test.go), and check that what the
// prose around each block says happens does happen. A change of the README's
// code belongs in these tests too.
package readme
