package local

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: every
// Cache starts Ristretto's goroutines, and Close must stop them.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
