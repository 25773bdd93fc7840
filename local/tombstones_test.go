package local

import (
	"testing"

	"github.com/matroska-go/matroska/deps"
)

func TestTombstoneEvictionRaisesFloor(t *testing.T) {
	c := newTestCache(t, Config{Tombstones: 2})
	dA, dB, dC, dD := deps.Tag("a"), deps.Tag("b"), deps.Tag("c"), deps.Tag("d")
	c.Invalidate(5, []deps.Dep{dA})
	c.Invalidate(6, []deps.Dep{dB})
	if st := c.Stats(); st.Floor != 0 || st.Tombstones != 2 {
		t.Fatalf("stats %+v", st)
	}
	c.Invalidate(7, []deps.Dep{dC}) // forgets a@5
	st := c.Stats()
	if st.Floor != 5 || st.Tombstones != 2 || st.TombstoneEvictions != 1 {
		t.Fatalf("stats %+v", st)
	}
	if fill(c, "x", 4) {
		t.Error("fill below the raised floor accepted")
	}
	if !fill(c, "x", 5, dA) {
		t.Error("fill at the floor refused")
	}
	if fill(c, "y", 6, dC) {
		t.Error("fill before c's invalidation accepted")
	}
	// A tombstone at or below the floor is not kept (the floor says more).
	c.Invalidate(3, []deps.Dep{dD})
	if st := c.Stats(); st.Tombstones != 2 || st.Floor != 5 {
		t.Fatalf("stats %+v", st)
	}
	// An older invalidation does not lower a tombstone, nor refresh it.
	c.Invalidate(9, []deps.Dep{dB})
	c.Invalidate(8, []deps.Dep{dB})
	if fill(c, "z", 8, dB) {
		t.Error("tombstone lowered")
	}
	c.Invalidate(10, []deps.Dep{dD}) // forgets c@7 (b was refreshed at 9)
	if st := c.Stats(); st.Floor != 7 || st.TombstoneEvictions != 2 {
		t.Fatalf("stats %+v", st)
	}
	if !c.Stale(6, nil) || c.Stale(7, []deps.Dep{dC}) || !c.Stale(8, []deps.Dep{dB}) {
		t.Error("Stale disagrees")
	}
}
