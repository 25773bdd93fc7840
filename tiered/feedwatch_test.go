package tiered

import (
	"testing"
	"time"
)

// TestFeedWatchExpires: a look that found the feeds alive vouches for
// them until expiry only; a newer look extends it, and a feed found
// behind stays behind.
func TestFeedWatchExpires(t *testing.T) {
	var f feedWatch
	f.init([]string{"pg"}, 100*time.Millisecond)
	if f.behind.Load() == nil {
		t.Fatal("a feed never looked at is not behind")
	}
	f.alive()
	if f.behind.Load() != nil {
		t.Fatal("a feed found alive is behind")
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.behind.Load() == nil {
		if time.Now().After(deadline) {
			t.Fatal("no look came, yet the feed is still vouched for")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// A newer look extends it: the timer of an older one does nothing.
	f.expiry = 20 * time.Millisecond
	f.alive()
	f.expiry = time.Hour
	f.alive()
	time.Sleep(200 * time.Millisecond)
	if f.behind.Load() != nil {
		t.Fatal("the timer of an older look set the feed behind")
	}
}
