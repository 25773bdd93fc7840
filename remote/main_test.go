package remote

import (
	"testing"

	"go.uber.org/goleak"
)

// The Store starts no goroutine; the tests' subscriptions and clients must
// not leave any either.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
