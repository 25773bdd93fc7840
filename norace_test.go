//go:build !race

package matroska_test

const raceEnabled = false
