package tiered_test

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
)

// An L2 hit fills L1 for the entry's remaining time to live, not for its
// whole TTL again: a value is never served longer than its TTL after it
// was loaded. Standalone reads it from the entry's expiry (an unchecked
// read), Redis Cluster from PTTL.
func TestL2HitKeepsTheRemainingTTL(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 2)
		a, b := cl.nodes[0], cl.nodes[1]
		const ttl = 2 * time.Second
		var n atomic.Int64
		put := time.Now()
		if _, err := matroska.GetOrLoad(bg(), a, "k", counted(&n, 1, deps.Tag("x")), matroska.TTL(ttl), matroska.NoJitter()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(ttl / 2)
		if v, err := matroska.GetOrLoad(bg(), b, "k", counted(&n, 2, deps.Tag("x")), matroska.TTL(ttl), matroska.NoJitter()); err != nil || v != 1 || n.Load() != 1 {
			t.Fatalf("B's read = %d, %v after %d loads; want an L2 hit of 1", v, err, n.Load())
		}
		if !b.InL1("k") {
			t.Fatal("the L2 hit did not fill B's L1")
		}
		waitFor(t, 3*ttl, "B's L1 entry expires", func() bool {
			ok := b.InL1("k")
			return !ok
		})
		// Filled with the whole TTL, it would live until ttl after B's
		// read: at least 1.5*ttl after the put.
		if held := time.Since(put); held > ttl+ttl/4 {
			t.Fatalf("B's L1 served the entry %v after its load, past its TTL %v", held, ttl)
		}
	})
}
