// Package poll waits in tests for a condition that another goroutine, or
// another process, makes true.
package poll

import (
	"testing"
	"time"
)

// Until polls cond every 2 ms until it holds, and fails the test (naming
// what it waited for) if it does not within d.
func Until(tb testing.TB, d time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
