package tiered

import (
	"context"
	"testing"
	"time"
)

type ctxKey struct{}

// Calls whose context cannot end share one deadline per window, RedisTimeout
// after the window's end; calls whose context can end, or has a deadline,
// get contexts of their own; Close releases the shared ones.
func TestDeadlines(t *testing.T) {
	const timeout = 100 * time.Millisecond
	d := newDeadlines(timeout)

	before := time.Now()
	a, cancelA := d.bound(context.Background())
	defer cancelA()
	b, cancelB := d.bound(context.TODO())
	defer cancelB()
	after := time.Now()
	dl, ok := a.Deadline()
	if !ok || dl.Before(before.Add(timeout)) || dl.After(after.Add(timeout+d.window)) {
		t.Fatalf("shared deadline %v (set %v), want %v to %v after the call", dl, ok, timeout, timeout+d.window)
	}
	if bdl, ok := b.Deadline(); !ok || bdl.Before(dl) || bdl.After(time.Now().Add(timeout+d.window)) {
		t.Fatalf("deadline of a later call %v, want from %v to %v after it", bdl, timeout, timeout+d.window)
	}

	// A caller's values pass through; the deadline is still shared.
	v, cancelV := d.bound(context.WithValue(context.Background(), ctxKey{}, "traced"))
	defer cancelV()
	if got := v.Value(ctxKey{}); got != "traced" {
		t.Fatalf("Value = %v, want the caller's", got)
	}
	if vdl, ok := v.Deadline(); !ok || vdl.Before(dl) || vdl.After(time.Now().Add(timeout+d.window)) {
		t.Fatalf("deadline of a call with values %v, want a shared one", vdl)
	}

	// A window is a sixteenth of the timeout (6.25ms here), not a fixed
	// millisecond: calls over 3ms see at most two shared contexts.
	seen := map[context.Context]bool{}
	for t0 := time.Now(); time.Since(t0) < 3*time.Millisecond; time.Sleep(100 * time.Microsecond) {
		x, cancelX := d.bound(context.Background())
		cancelX()
		seen[x] = true
	}
	if len(seen) > 2 {
		t.Fatalf("%d shared contexts over 3ms, want windows of %v", len(seen), timeout/windowShare)
	}

	// The next window has a later deadline.
	time.Sleep(2 * d.window)
	c, cancelC := d.bound(context.Background())
	defer cancelC()
	if cdl, _ := c.Deadline(); !cdl.After(dl) {
		t.Fatalf("a later window's deadline %v is not after %v", cdl, dl)
	}

	// A caller that can end reaches the call: its cancellation ends it.
	parent, cancelParent := context.WithCancel(context.Background())
	own, cancelOwn := d.bound(parent)
	defer cancelOwn()
	if odl, ok := own.Deadline(); !ok || odl.After(time.Now().Add(timeout)) {
		t.Fatalf("own deadline %v, want at most %v from now", odl, timeout)
	}
	cancelParent()
	if own.Err() == nil {
		t.Fatal("the caller's cancellation did not reach its call")
	}
	// So does a caller's own (earlier) deadline.
	short, cancelShort := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancelShort()
	s, cancelS := d.bound(short)
	defer cancelS()
	if sdl, _ := s.Deadline(); sdl.After(time.Now().Add(time.Millisecond)) {
		t.Fatalf("deadline %v ignores the caller's of 1ms", sdl)
	}

	// The shared contexts end at their deadline, or at close.
	d.close()
	for _, x := range []context.Context{a, b, c, v} {
		if x.Err() == nil {
			t.Fatalf("shared context %v still live after close", x)
		}
	}
	if len(d.live) != 0 || d.cur.Load() != nil {
		t.Fatal("close kept shared contexts")
	}
	z, cancelZ := d.bound(context.Background())
	defer cancelZ()
	if z.Err() != nil {
		t.Fatal("a call after close got an ended context")
	}
	if zdl, ok := z.Deadline(); !ok || zdl.After(time.Now().Add(timeout)) {
		t.Fatalf("a call after close has deadline %v, want its own", zdl)
	}
}

// Shared contexts whose deadline has passed are dropped as windows go by:
// the list does not grow with the calls.
func TestDeadlinesDropThePast(t *testing.T) {
	d := newDeadlines(5 * time.Millisecond)
	defer d.close()
	for range 50 {
		_, cancel := d.bound(context.Background())
		cancel()
		time.Sleep(d.window)
	}
	// Windows whose deadline has passed may linger until the next renewal
	// (their timers run on their own), but not many.
	if n := len(d.live); n > 15 {
		t.Fatalf("%d shared contexts kept with a 5ms timeout and %v windows", n, d.window)
	}
}
