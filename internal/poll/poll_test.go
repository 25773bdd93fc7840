package poll

import (
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fatal records a Fatalf instead of failing the test.
type fatal struct {
	testing.TB
	msg string
}

func (f *fatal) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestUntil: it returns once the condition holds, and fails, naming what
// it waited for, when the condition never does.
func TestUntil(t *testing.T) {
	var n atomic.Int32
	Until(t, 5*time.Second, "the third look", func() bool { return n.Add(1) >= 3 })
	if n.Load() != 3 {
		t.Fatalf("%d looks, want 3", n.Load())
	}
	f := &fatal{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		Until(f, 20*time.Millisecond, "nothing", func() bool { return false })
	}()
	<-done
	if !strings.Contains(f.msg, "waiting for: nothing") {
		t.Fatalf("a condition that never holds: %q", f.msg)
	}
}
