package local

import (
	"sync"
	"sync/atomic"

	"github.com/matroska-go/matroska/deps"
)

// item is what Ristretto stores for a key. Everything but dead is written
// before the item is handed to Ristretto and never again, so Get reads it
// without a lock.
type item struct {
	Item           // as filled; Deps is the cache's own copy
	key     string // the key it was filled under
	gen     uint64 // the generation it was filled in
	cost    int64  // Ristretto cost (at least 1)
	handed  bool   // a staged fill handed to Ristretto (under Cache.mu)
	expires int64  // Get misses from this time on (Cache.now's scale)
	keep    int64  // the entry leaves the index from this time on: expires plus Item.Grace

	// dead is set, under Cache.mu and before the item leaves Ristretto, when
	// the item leaves the index (invalidated, deleted, replaced by a newer
	// fill, pruned). Get treats a dead item as a miss: Ristretto may still
	// make a buffered Set of it visible after its Del (G6).
	dead atomic.Bool
}

// index is the dependency index: for every entry that may be in Ristretto,
// key to item and, for each of the item's dependencies, dep to key. It is
// guarded by Cache.mu.
//
// Invariant (checked by the tests): keys[k].key == k; k is in byDep[d] iff d
// is in keys[k].Deps; no set in byDep is empty; every item in keys is live
// (not dead, current generation). Ristretto may hold items that are not in
// the index (they are all dead); once its buffers are applied and the prune
// queue is drained, every item in the index is in Ristretto (or expired).
type index struct {
	keys  map[string]*item
	byDep map[deps.Dep]depKeys
}

func newIndex() index {
	return index{
		keys:  make(map[string]*item),
		byDep: make(map[deps.Dep]depKeys),
	}
}

// clear empties the index and keeps its maps' room: after a reset L1 fills
// up again to about the size it had, without growing its maps anew.
func (x *index) clear() {
	clear(x.keys)
	clear(x.byDep)
}

// depKeys is the set of keys that depend on one dependency. Most
// dependencies name one entity, on which one entry depends: that key is
// held inline, and a map is made only for a second key (it saves the
// map's allocation, about 200 bytes, on most fills). The zero value is the
// empty set.
type depKeys struct {
	one  string              // the only key, when single
	many map[string]struct{} // every key, once there have been two
	// single reports that one holds the only key (many is nil then).
	single bool
}

func (s depKeys) len() int {
	if s.single {
		return 1
	}
	return len(s.many)
}

func (s depKeys) has(k string) bool {
	if s.single {
		return s.one == k
	}
	_, ok := s.many[k]
	return ok
}

// add returns the set with k added.
func (s depKeys) add(k string) depKeys {
	switch {
	case s.many != nil:
		s.many[k] = struct{}{}
	case !s.single:
		s.one, s.single = k, true
	case s.one != k:
		s.many = map[string]struct{}{s.one: {}, k: {}}
		s.one, s.single = "", false
	}
	return s
}

// remove returns the set without k.
func (s depKeys) remove(k string) depKeys {
	switch {
	case s.single && s.one == k:
		return depKeys{}
	case s.many != nil:
		delete(s.many, k)
	}
	return s
}

// each calls f with every key of the set. f may remove keys from the set
// (through the index) meanwhile: each sees a key at most once, and not one
// removed before its turn.
func (s depKeys) each(f func(k string)) {
	if s.single {
		f(s.one)
		return
	}
	for k := range s.many {
		f(k)
	}
}

// insert makes it the entry of its key and returns the item it replaces, if
// any, after removing that item's index entries. It does not mark the old
// item dead: the caller does.
func (x *index) insert(it *item) (old *item) {
	old = x.keys[it.key]
	if old != nil {
		x.unlink(old)
	}
	x.keys[it.key] = it
	for _, d := range it.Deps {
		x.byDep[d] = x.byDep[d].add(it.key)
	}
	return old
}

// remove removes it from the index if it is still the entry of its key,
// and reports whether it was.
func (x *index) remove(it *item) bool {
	if x.keys[it.key] != it {
		return false
	}
	delete(x.keys, it.key)
	x.unlink(it)
	return true
}

// unlink removes it's key from the sets of it's deps.
func (x *index) unlink(it *item) {
	for _, d := range it.Deps {
		if set := x.byDep[d].remove(it.key); set.len() == 0 {
			delete(x.byDep, d)
		} else {
			x.byDep[d] = set
		}
	}
}

// pruneQueue carries the items that left Ristretto's store (see
// Cache.onExit) from Ristretto's callback to the index. The callbacks run on Ristretto's goroutine (and in
// Ristretto's Clear), and Ristretto's Del blocks on a channel that goroutine
// drains: a callback that waited for Cache.mu while the holder of Cache.mu
// waits in Del would deadlock. So the callbacks only append here, under this
// queue's own lock, and the holders of Cache.mu drain the queue (golang-lru
// gathers its evictions the same way and calls back outside its lock).
type pruneQueue struct {
	mu    sync.Mutex
	items []*item
}

// push queues it for pruning.
func (q *pruneQueue) push(it *item) {
	q.mu.Lock()
	q.items = append(q.items, it)
	q.mu.Unlock()
}

// swap returns the queued items and leaves spare (emptied) as the queue, so
// that two slices are reused back and forth.
func (q *pruneQueue) swap(spare []*item) []*item {
	q.mu.Lock()
	out := q.items
	q.items = spare[:0]
	q.mu.Unlock()
	return out
}
