package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// msFrom returns the time ms milliseconds after t0, for hand-made
// histories.
func msFrom(t0 time.Time) func(ms int) time.Time {
	return func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
}

// TestCheck feeds the checker hand-made histories: one key, versions 1
// (initial), 2 (invalidated by node 0 at t=100ms) and 3, a deletion
// (invalidated by node 1 at t=200ms), with a bound of 50ms.
func TestCheck(t *testing.T) {
	at := msFrom(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	writes := []Write{
		{Key: "k", Version: 1, Committed: at(0)},
		{Key: "k", Version: 2, Node: 0, Committed: at(90), Invalidated: at(100)},
		{Key: "k", Version: 3, Node: 1, Deleted: true, Committed: at(190), Invalidated: at(200)},
	}
	const bound = 50 * time.Millisecond
	read := func(node, start, end int, v uint64) Read {
		return Read{Key: "k", Node: node, Start: at(start), End: at(end), Version: v}
	}
	notFound := func(node, start, end int) Read {
		r := read(node, start, end, 0)
		r.NotFound = true
		return r
	}
	cases := []struct {
		name    string
		r       Read
		stale   bool
		phantom bool
		want    uint64
	}{
		{"old version before the invalidation", read(2, 95, 96, 1), false, false, 0},
		{"old version on the invalidating node after its Invalidate returned", read(0, 101, 102, 1), true, false, 2},
		{"old version on another node within the bound", read(2, 140, 141, 1), false, false, 2},
		{"old version on another node past the bound", read(2, 151, 152, 1), true, false, 2},
		{"new version before its invalidation", read(2, 91, 92, 2), false, false, 0},
		{"new version", read(2, 151, 152, 2), false, false, 2},
		{"not found after the deletion's invalidation", notFound(1, 201, 202), false, false, 3},
		{"version 2 on the deleting node after it invalidated", read(1, 201, 202, 2), true, false, 3},
		{"not found before any deletion was committed", notFound(2, 150, 160), false, true, 0},
		{"a version never committed", read(2, 150, 160, 7), false, true, 0},
		{"version 2 read before it was committed", read(2, 10, 20, 2), false, true, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Check(writes, []Read{c.r}, bound)
			if !c.stale && !c.phantom {
				if len(got) != 0 {
					t.Fatalf("correct read reported: %v", got[0])
				}
				return
			}
			if len(got) != 1 {
				t.Fatalf("got %d violations, want 1", len(got))
			}
			v := got[0]
			if v.Phantom != c.phantom {
				t.Fatalf("phantom = %v, want %v: %v", v.Phantom, c.phantom, v)
			}
			if c.stale && v.Want != c.want {
				t.Fatalf("want = %d, want %d: %v", v.Want, c.want, v)
			}
			if s := v.String(); !strings.Contains(s, `"k"`) {
				t.Fatalf("report does not name the key: %s", s)
			}
		})
	}
}

// TestCheckManyReads: only the stale reads of a history are reported, in
// order, whatever the order of the writes.
func TestCheckManyReads(t *testing.T) {
	at := msFrom(time.Now())
	writes := []Write{
		{Key: "b", Version: 2, Node: 1, Committed: at(10), Invalidated: at(11)},
		{Key: "a", Version: 1, Committed: at(0)},
		{Key: "b", Version: 1, Committed: at(0)},
		{Key: "a", Version: 2, Node: 1, Committed: at(10), Invalidated: at(11)},
	}
	reads := []Read{
		{Key: "a", Node: 1, Start: at(12), End: at(13), Version: 2},
		{Key: "b", Node: 1, Start: at(12), End: at(13), Version: 1}, // stale
		{Key: "a", Node: 0, Start: at(12), End: at(13), Version: 1}, // within the bound
		{Key: "a", Node: 0, Start: at(40), End: at(41), Version: 1}, // stale
	}
	got := Check(writes, reads, 20*time.Millisecond)
	if len(got) != 2 || got[0].Read != reads[1] || got[1].Read != reads[3] {
		t.Fatalf("got %v, want reads 1 and 3", got)
	}
}

// TestAround lists the rejected read's key near it, in time order, and
// nothing of other keys or outside the span.
func TestAround(t *testing.T) {
	at := msFrom(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	writes := []Write{
		{Key: "a", Version: 1, Committed: at(0)},
		{Key: "a", Version: 2, Node: 1, Committed: at(10), Invalidated: at(11)},
		{Key: "b", Version: 2, Node: 1, Committed: at(10), Invalidated: at(11)},
		{Key: "a", Version: 3, Node: 0, Committed: at(100), Invalidated: at(101)},
	}
	reads := []Read{
		{Key: "a", Node: 0, Start: at(9), End: at(10), Version: 1},
		{Key: "b", Node: 1, Start: at(12), End: at(13), Version: 1},
		{Key: "a", Node: 1, Start: at(12), End: at(13), Version: 1},
		{Key: "a", Node: 0, Start: at(60), End: at(61), Version: 2},
	}
	bad := Check(writes, reads, 20*time.Millisecond)
	if len(bad) != 2 || bad[0].Read != reads[1] || bad[1].Read != reads[2] {
		t.Fatalf("Check: %v", bad)
	}
	got := Around(writes, reads, bad[1], 5*time.Millisecond)
	want := []string{
		"00:00:00.009000 node 0 read v1, until 00:00:00.010000",
		"00:00:00.010000 committed v2",
		"00:00:00.011000 node 1's Invalidate of v2 returned",
		"00:00:00.012000 node 1 read v1, until 00:00:00.013000  <- rejected",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Around:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
