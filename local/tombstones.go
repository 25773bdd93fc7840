package local

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/matroska-go/matroska/deps"
)

// tombstones remembers, for the most recently invalidated dependencies, the
// sequence number of their last applied invalidation, and a floor below
// which no start mark is accepted. Guarded by Cache.mu (hence the
// non-thread-safe simplelru).
//
// A fill with start mark S is stale if S < floor or if a dependency has a
// tombstone > S: the value was read before that invalidation. When the LRU
// forgets a tombstone, the floor rises to its sequence, so forgetting only
// ever refuses more fills, never fewer. Tombstones at or below the floor say
// nothing the floor does not, and are not kept.
type tombstones struct {
	size      int
	lru       *simplelru.LRU[deps.Dep, uint64]
	floor     uint64
	evictions uint64 // tombstones forgotten by the LRU (each may raise the floor)
}

func newTombstones(size int) *tombstones {
	t := &tombstones{size: size}
	t.reset(0)
	return t
}

// onEvict is the LRU's eviction callback: it runs inside record, under
// Cache.mu.
func (t *tombstones) onEvict(_ deps.Dep, seq uint64) {
	t.evictions++
	t.floor = max(t.floor, seq)
}

// record tombstones d at max(its tombstone, seq).
func (t *tombstones) record(d deps.Dep, seq uint64) {
	if seq <= t.floor {
		return
	}
	// Peek, not Get: recency is the order of invalidations, so that the LRU
	// forgets the oldest (lowest) sequences first and the floor rises least.
	if old, ok := t.lru.Peek(d); ok && old >= seq {
		return
	}
	t.lru.Add(d, seq)
}

// stale reports whether a value read at mark with dependencies ds (and
// self, unless zero) was read before an invalidation recorded here.
func (t *tombstones) stale(mark uint64, ds []deps.Dep, self deps.Dep) bool {
	if mark < t.floor {
		return true
	}
	if t.lru.Len() == 0 {
		return false
	}
	for _, d := range ds {
		if seq, ok := t.lru.Peek(d); ok && seq > mark {
			return true
		}
	}
	if !self.IsZero() {
		if seq, ok := t.lru.Peek(self); ok && seq > mark {
			return true
		}
	}
	return false
}

// reset forgets every tombstone (without raising the floor) and sets the
// floor.
func (t *tombstones) reset(floor uint64) {
	lru, err := simplelru.NewLRU(t.size, t.onEvict)
	if err != nil {
		panic("local: tombstones: " + err.Error()) // size is validated by New
	}
	t.lru = lru
	t.floor = floor
}

func (t *tombstones) len() int { return t.lru.Len() }
