package local

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/matroska-go/matroska/deps"
)

// Item is one L1 entry, as given to [Cache.Fill] and returned by
// [Cache.Get]. The Value and the Deps returned by Get are shared with every
// other caller and must be treated as read-only.
type Item struct {
	Value    any        // the value as decoded; nil for a not-found entry
	NotFound bool       // a negative entry: the source said the value does not exist
	Deps     []deps.Dep // what the value depends on (zero Deps are ignored)
	Mark     uint64     // start mark: the sequence read before the value was read

	// Refresh, when positive, makes [Cache.Due] report the entry due for a
	// refresh this long after Fill (at most its TTL).
	Refresh time.Duration
	// Grace keeps the entry this long past its TTL for [Cache.GetStale]
	// only: Get misses for it from its TTL on, as for any expired entry.
	Grace time.Duration

	due int64 // Refresh as a time on Cache.now's scale; 0: never due
}

// Cache is the L1: a Ristretto cache of decoded values, a dependency index
// and tombstones. All its methods are safe for concurrent use, except that
// [Cache.Close] must not overlap other calls (as with Ristretto, whose
// Close this calls): call it once the cache's users have stopped. After
// Close, every method is a safe no-op (Get misses, Fill refuses).
type Cache struct {
	rc      *ristretto.Cache[string, *item]
	maxTTL  time.Duration
	maxCost int64

	// The time source of expiry (see Cache.now): coarse, or clock (and
	// base) when Config.Clock is set.
	coarse *coarseClock
	clock  Clock
	base   time.Time

	// Read without mu: gen and closed on the Get path, applied by every L1
	// hit of the composer. gen and closed are written under mu; applied by
	// Advance (a CAS loop) and Reset.
	gen     atomic.Uint64
	applied atomic.Uint64
	closed  atomic.Bool

	pq pruneQueue // own lock; written by Ristretto's callbacks, drained under mu

	// staged holds, by key, the fills that Ristretto may not hold yet (see
	// Fill): those not handed to it (waiting counts them) and those handed
	// to it whose Set it may not have applied. Written under mu and smu;
	// Get reads it under smu alone, after a Ristretto miss.
	smu     sync.RWMutex
	staged  map[string]*item
	waiting int // under mu

	// life keeps Close from closing Ristretto under a Wait: Wait holds it
	// shared (waits run concurrently, without mu), Close exclusively.
	life sync.RWMutex

	// mu serialises every change of the index, the tombstones and Ristretto's
	// contents: Fill and Invalidate are atomic with respect to each other (a
	// fill either lands in the index before an invalidation, which then drops
	// it, or sees its tombstone). It is never taken by Ristretto's callbacks,
	// so holding it while calling Ristretto's Set, Del, Wait or Clear is safe.
	mu    sync.Mutex
	idx   index
	tombs *tombstones
	spare []*item // the prune queue's other slice
	n     counters
}

// New returns an empty cache configured by cfg (see [Config] for the
// defaults). The error wraps [ErrConfig] if cfg is invalid.
func New(cfg Config) (*Cache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cache{
		maxTTL:  cfg.MaxTTL,
		maxCost: cfg.MaxCost,
		idx:     newIndex(),
		tombs:   newTombstones(cfg.Tombstones),
		clock:   cfg.Clock,
		staged:  map[string]*item{},
	}
	c.gen.Store(1)
	rc, err := ristretto.NewCache(&ristretto.Config[string, *item]{
		NumCounters:        cfg.NumCounters,
		MaxCost:            cfg.MaxCost,
		BufferItems:        cfg.BufferItems,
		IgnoreInternalCost: true,
		OnExit:             c.onExit,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	c.rc = rc
	if c.clock != nil {
		c.base = c.clock.Now()
	} else {
		c.coarse = startCoarseClock(c.tick, c.sweep)
	}
	return c, nil
}

// onExit is Ristretto's OnExit callback, called whenever a value leaves (or
// never enters) its store: eviction by the policy, refusal by the
// admission policy, Clear, Del, a replacement by a Set of the same key, and
// the buffered delete of an earlier Del (which removes whatever the key holds
// by then, possibly a newer fill: OnEvict and OnReject alone would miss
// that one and leave it indexed). It runs on Ristretto's goroutine, or inside
// Ristretto's Set, Del and Clear under mu, so it must not take mu: it queues
// the item, and the next holder of mu removes it from the index if it is
// still the entry of its key. Items already out of the index (dead, or of an
// earlier generation) are not queued.
func (c *Cache) onExit(it *item) {
	if it == nil || it.dead.Load() || it.gen != c.gen.Load() {
		return
	}
	c.pq.push(it)
}

// Get returns the entry of key. A hit allocates nothing and writes no
// shared state of its own: Ristretto records the access in its striped
// buffers (which, as for any Ristretto Get, allocate a new stripe once per
// BufferItems accesses the policy accepts). The Item is the cache's own,
// shared with every caller (a hit copies nothing): treat it, its Value and
// its Deps as read-only.
//
// Get misses for an entry that was invalidated, deleted or reset, even while
// Ristretto may still hold it (G6), and for an expired one, which it drops
// (see [Config.Clock] for the resolution of expiry).
func (c *Cache) Get(key string) (_ *Item, _ bool) {
	if c.closed.Load() {
		return
	}
	defer c.recoverClosed()
	it, ok := c.rc.Get(key)
	// dead and gen are read after Ristretto's store: an item whose Set landed
	// after the Del of its invalidation is seen dead (the dead flag was set
	// before the Del, which precedes the Set under the store's shard lock).
	if !ok || it == nil || it.dead.Load() || it.gen != c.gen.Load() {
		if it, ok = c.findSlow(key); !ok {
			return
		}
	}
	if now := c.now(); now >= it.expires {
		if now >= it.keep {
			c.expire(it)
		}
		return
	}
	return &it.Item, true
}

// Due reports whether it, returned by Get, is due for a refresh (see
// Item.Refresh). It costs one comparison for an entry filled without
// Refresh.
func (c *Cache) Due(it *Item) bool {
	return it.due != 0 && c.now() >= it.due
}

// GetStale returns the entry of key as Get does, but also during its grace
// time past its TTL (see Item.Grace). An invalidated, deleted or reset
// entry is never returned.
func (c *Cache) GetStale(key string) (_ *Item, _ bool) {
	if c.closed.Load() {
		return
	}
	defer c.recoverClosed()
	it, ok := c.rc.Get(key)
	if !ok || it == nil || it.dead.Load() || it.gen != c.gen.Load() {
		if it, ok = c.findSlow(key); !ok {
			return
		}
	}
	if c.now() >= it.keep {
		return nil, false
	}
	return &it.Item, true
}

// findSlow finds key's entry after Ristretto's store did not give a live
// one: staged, or else in the store again. A fill leaves the stage only once
// the store holds it (see unstageLocked), so a Get that missed both looked in
// the store before the fill landed there and in the stage after it left:
// the second look in the store finds it.
func (c *Cache) findSlow(key string) (*item, bool) {
	if it, ok := c.getStaged(key); ok {
		return it, true
	}
	it, ok := c.rc.Get(key)
	if !ok || it == nil || it.dead.Load() || it.gen != c.gen.Load() {
		return nil, false
	}
	return it, true
}

// getStaged returns key's staged fill (see Fill) unless it left the index
// (dead) or is of an earlier generation.
func (c *Cache) getStaged(key string) (*item, bool) {
	c.smu.RLock()
	it := c.staged[key]
	c.smu.RUnlock()
	if it == nil || it.dead.Load() || it.gen != c.gen.Load() {
		return nil, false
	}
	return it, true
}

// expire drops it, found expired by Get, from the index and from Ristretto,
// unless it has already left the index (then it is dead, or of an earlier
// generation, and Get misses for it anyway). Entries carry their expiry
// themselves instead of a Ristretto TTL, whose check reads the system clock
// on every Get. Those that expire unread are dropped by sweep, or evicted
// by Ristretto's cost-based policy (whose exit callback prunes the index).
func (c *Cache) expire(it *item) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.drainLocked()
	if c.idx.keys[it.key] == it {
		c.dropLocked(it)
		c.n.expired++
	}
}

// recoverClosed turns a panic of a Get that overlapped Close into a miss
// (Ristretto's Close closes channels a concurrent Get may send on). Any
// other panic goes on.
func (c *Cache) recoverClosed() {
	if c.closed.Load() {
		_ = recover()
	}
}

// Generation returns the current generation, which [Cache.Reset] bumps.
// Read it before reading a value from L2 or the source, and pass it to
// [Cache.Fill]: a fill whose read started before a Reset is refused.
func (c *Cache) Generation() uint64 { return c.gen.Load() }

// Fill stores it under key for ttl (cut to MaxTTL) at the given cost
// (bytes; at least 1), unless it is stale. It returns false, and counts the
// reason in [Stats], if the fill is refused:
//   - gen is not the current [Cache.Generation];
//   - ttl <= 0, or cost > MaxCost;
//   - it.Mark is below the floor;
//   - a dependency in it.Deps, or deps.Key(key), has a tombstone > it.Mark
//     (an invalidation the value was read before);
//   - key holds an entry read at a later mark than it.Mark (the fill is
//     older than what is cached);
//   - the cache is closed.
//
// True means the entry is in the index, and a Get right after Fill hits it.
// With the cache's own clock (Config.Clock nil), the entry is staged: Get
// finds it in a map of its own, and the clock's goroutine hands it to
// Ristretto within about ClockResolution (or Fill does, once stageLimit
// entries wait), so that the caller of Fill does not pay for waking
// Ristretto's goroutine. Ristretto may still refuse it then (its admission
// policy, or a full buffer, counted as Dropped): the entry then leaves the
// cache, as an evicted one does. With a Config.Clock, Fill hands the entry
// to Ristretto at once, returns false if Ristretto dropped it, and waits
// until Ristretto has applied it (unless its policy refused it, a Get
// right after hits).
//
// Fill replaces key's previous entry. It copies it.Deps; it.Value is kept
// as is and shared with every Get: do not modify it after Fill.
func (c *Cache) Fill(key string, it Item, gen uint64, ttl time.Duration, cost int64) bool {
	return c.FillKeyed(key, deps.Key(key), it, gen, ttl, cost)
}

// FillKeyed is Fill for a caller that holds deps.Key(key) already: self
// must be that dependency (its tombstone refuses the fill as Fill's own
// does); passing it spares building it again.
func (c *Cache) FillKeyed(key string, self deps.Dep, it Item, gen uint64, ttl time.Duration, cost int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drainLocked()
	if c.coarse != nil {
		c.smu.Lock()
		ok := c.stageLocked(key, self, &it, gen, ttl, cost)
		c.smu.Unlock()
		if c.waiting >= stageLimit {
			c.handOverLocked()
		}
		return ok
	}
	ni := c.acceptLocked(key, self, &it, gen, ttl, cost)
	if ni == nil || !c.setLocked(ni, c.idx.keys[key] != nil) {
		return false
	}
	if old := c.idx.insert(ni); old != nil {
		old.dead.Store(true) // it may still land in Ristretto after ni (both buffered)
	}
	c.n.fills++
	// With a Clock (tests that move time by hand) there is no stage: wait
	// until Ristretto has applied the Set, so that a Get right after hits.
	c.rc.Wait()
	return true
}

// A Filling is one entry of [Cache.FillMany]: the arguments of
// [Cache.FillKeyed] but the generation.
type Filling struct {
	Key  string
	Self deps.Dep // deps.Key(Key)
	Item Item
	TTL  time.Duration
	Cost int64
}

// FillMany fills each of fills as FillKeyed does, in one hold of the
// cache's lock, and returns how many it refused. The fills are of
// generation gen; fills of one key replace each other in order.
func (c *Cache) FillMany(gen uint64, fills []Filling) (refused int) {
	if c.coarse == nil {
		for i := range fills {
			f := &fills[i]
			if !c.FillKeyed(f.Key, f.Self, f.Item, gen, f.TTL, f.Cost) {
				refused++
			}
		}
		return refused
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.drainLocked()
	c.smu.Lock()
	for i := range fills {
		f := &fills[i]
		if !c.stageLocked(f.Key, f.Self, &f.Item, gen, f.TTL, f.Cost) {
			refused++
		}
	}
	c.smu.Unlock()
	if c.waiting >= stageLimit {
		c.handOverLocked()
	}
	return refused
}

// acceptLocked returns the entry of a fill, or nil (the reason counted) if
// the fill is refused.
func (c *Cache) acceptLocked(key string, self deps.Dep, it *Item, gen uint64, ttl time.Duration, cost int64) *item {
	if reason := c.refusalLocked(key, it, gen, ttl, cost, self); reason != nil {
		*reason++
		return nil
	}
	ni := &item{Item: *it, key: key, gen: gen, cost: max(cost, 1), expires: c.expiry(min(ttl, c.maxTTL))}
	ni.keep = ni.expires
	if it.Grace > 0 {
		ni.keep = c.expiry(min(ttl, c.maxTTL) + it.Grace)
	}
	ni.due = 0
	if it.Refresh > 0 {
		ni.due = min(c.expiry(it.Refresh), ni.expires)
	}
	ni.Deps = cloneDeps(it.Deps)
	return ni
}

// stageLocked is a fill with the cache's own clock: the entry goes into
// the index and the stage, for the clock's goroutine to hand to Ristretto
// (see Fill). Under mu and smu; the caller hands the stage over when
// stageLimit fills wait.
func (c *Cache) stageLocked(key string, self deps.Dep, it *Item, gen uint64, ttl time.Duration, cost int64) bool {
	ni := c.acceptLocked(key, self, it, gen, ttl, cost)
	if ni == nil {
		return false
	}
	if old := c.idx.insert(ni); old != nil {
		old.dead.Store(true) // Ristretto may still hold it, or apply its buffered Set
	}
	if old := c.staged[key]; old != nil && !old.handed {
		c.waiting--
	}
	c.staged[key] = ni
	c.waiting++
	c.n.fills++
	return true
}

// stageLimit is the number of waiting fills at which Fill hands them to
// Ristretto itself instead of leaving them to the clock's goroutine.
const stageLimit = 256

// tick, called by the clock's goroutine on every tick, hands the waiting
// fills to Ristretto and unstages those it holds. It skips its turn when mu
// is busy: the clock's goroutine never waits on it.
func (c *Cache) tick() {
	c.smu.RLock()
	n := len(c.staged)
	c.smu.RUnlock()
	if n == 0 || !c.mu.TryLock() {
		return
	}
	defer c.mu.Unlock()
	if !c.closed.Load() {
		c.drainLocked()
		c.unstageLocked()
		c.handOverLocked()
	}
}

// handOverLocked hands every waiting fill that is still the entry of its
// key to Ristretto. A fill that Ristretto drops leaves the index. The fills
// stay staged until Ristretto holds them (see unstageLocked), so that Get
// never misses in between.
func (c *Cache) handOverLocked() {
	if c.waiting == 0 {
		return
	}
	c.waiting = 0
	var gone []*item
	for key, it := range c.staged { // read under mu: only holders of mu write it
		switch {
		case it.handed:
		case it.dead.Load() || c.idx.keys[key] != it:
			gone = append(gone, it)
		case !c.setLocked(it, true):
			it.dead.Store(true)
			c.idx.remove(it)
			gone = append(gone, it)
		default:
			it.handed = true
		}
	}
	c.unstage(gone)
}

// unstageLocked removes from staged the fills handed to Ristretto that it
// now holds, and those that left the index (Ristretto refused or evicted
// them, or they were invalidated, deleted or replaced).
func (c *Cache) unstageLocked() {
	var gone []*item
	for key, it := range c.staged {
		switch {
		case it.dead.Load() || c.idx.keys[key] != it:
			if !it.handed {
				c.waiting--
			}
			gone = append(gone, it)
		case it.handed:
			if got, ok := c.rc.Get(key); ok && got == it {
				gone = append(gone, it)
			}
		}
	}
	c.unstage(gone)
}

// unstage removes items from staged, unless their key was staged again.
func (c *Cache) unstage(items []*item) {
	if len(items) == 0 {
		return
	}
	c.smu.Lock()
	for _, it := range items {
		if c.staged[it.key] == it {
			delete(c.staged, it.key)
		}
	}
	c.smu.Unlock()
}

// setLocked hands ni to Ristretto. mayHold says whether Ristretto may hold
// an earlier entry of its key, or have its Set buffered (a flush of staged
// fills cannot tell, and assumes so). It returns false, counted as Dropped,
// if Ristretto dropped the Set.
func (c *Cache) setLocked(ni *item, mayHold bool) bool {
	key := ni.key
	if mayHold {
		// A Set of a key that Ristretto's store holds replaces the value in
		// place. If the store does not hold it yet (the previous fill is
		// still buffered), the Set is buffered as new and Ristretto's policy
		// would reject it once the previous one lands (the key is then
		// known): order a delete between the two instead. (If the previous
		// fill lands between this Del and the Set, the Set updates it in
		// place and the buffered Del then removes the new value: a miss,
		// never an old value. Closing that gap would take a Wait on
		// Ristretto's whole buffer.)
		if _, stored := c.rc.GetTTL(key); !stored {
			c.rc.Del(key)
		}
	}
	// No Ristretto TTL: Get checks ni.expires (see Cache.expire).
	if !c.rc.Set(key, ni, ni.cost) {
		// Nothing was stored: Set returns false only for a new key
		// whose Set did not fit in the buffer. The previous entry, if any,
		// stays as valid as it was.
		c.n.dropped++
		return false
	}
	// The caller updates the index under the same lock hold as the Set,
	// so an invalidation sees either both or neither. If Ristretto rejects
	// ni before that, its callback's prune is queued and applied by a later
	// holder of mu, when ni is in the index.
	return true
}

// refusalLocked returns the counter of the reason a fill is refused, or nil
// if it is accepted.
func (c *Cache) refusalLocked(key string, it *Item, gen uint64, ttl time.Duration, cost int64, self deps.Dep) *uint64 {
	r := &c.n.refused
	switch {
	case c.closed.Load():
		return &r.Closed
	case gen != c.gen.Load():
		return &r.Generation
	case ttl <= 0:
		return &r.TTL
	case cost > c.maxCost:
		return &r.Cost
	case it.Mark < c.tombs.floor:
		return &r.Floor
	case c.tombs.stale(it.Mark, it.Deps, self):
		return &r.Tombstone
	}
	// An expired entry does not count: Get no longer serves it.
	if old := c.idx.keys[key]; old != nil && old.Mark > it.Mark && c.now() < old.expires {
		return &r.Superseded
	}
	return nil
}

// cloneDeps copies ds without its zero dependencies.
func cloneDeps(ds []deps.Dep) []deps.Dep {
	var out []deps.Dep
	for _, d := range ds {
		if !d.IsZero() {
			if out == nil {
				out = make([]deps.Dep, 0, len(ds))
			}
			out = append(out, d)
		}
	}
	return out
}

// Stale reports whether a value read at start mark mark with dependencies ds
// would be refused by the floor or a tombstone: an invalidation of one of ds
// after mark has been applied here. It counts nothing. Include deps.Key(key)
// in ds to check the key's own tombstone as Fill does.
func (c *Cache) Stale(mark uint64, ds []deps.Dep) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tombs.stale(mark, ds, deps.Dep{})
}

// Unchanged reports whether this cache knows that no invalidation of ds,
// nor of self (unless zero), came after mark and up to upto: it has applied
// every sequence up to upto, mark is not below the floor, and none of them
// has a tombstone above mark. False means it cannot tell, not that one came.
func (c *Cache) Unchanged(mark, upto uint64, ds []deps.Dep, self deps.Dep) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed.Load() && c.applied.Load() >= upto && !c.tombs.stale(mark, ds, self)
}

// Invalidate applies the invalidation seq of ds: each dependency gets a
// tombstone at max(its tombstone, seq), and every entry read before seq
// (Mark < seq) that depends on one of ds is dropped; deps.Key(k) also drops
// entry k itself. Entries with Mark >= seq were read after the invalidation
// and stay. It is idempotent, and it does not advance [Cache.Applied] (the
// composer calls [Cache.Advance] once every earlier sequence is applied).
func (c *Cache) Invalidate(seq uint64, ds []deps.Dep) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.drainLocked()
	c.n.invalidations++
	for _, d := range ds {
		if d.IsZero() {
			continue
		}
		c.tombs.record(d, seq)
		// dropLocked removes k from this set (and the set from byDep when it
		// empties) while each ranges over it, which each allows.
		c.idx.byDep[d].each(func(k string) {
			if it := c.idx.keys[k]; it.Mark < seq {
				c.dropLocked(it)
				c.n.invalidated++
			}
		})
		if k, ok := d.KeyName(); ok {
			if it := c.idx.keys[k]; it != nil && it.Mark < seq {
				c.dropLocked(it)
				c.n.invalidated++
			}
		}
	}
}

// dropLocked removes it from the index and from Ristretto. The dead flag is
// set first: Ristretto may still apply a buffered Set of it after the Del.
func (c *Cache) dropLocked(it *item) {
	it.dead.Store(true)
	c.idx.remove(it)
	c.rc.Del(it.key)
}

// Delete drops key's entry from this cache, without a tombstone: a later
// Fill of key is accepted as usual.
func (c *Cache) Delete(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.drainLocked()
	if it := c.idx.keys[key]; it != nil {
		it.dead.Store(true)
		c.idx.remove(it)
		c.n.deleted++
	}
	// Also when key is not indexed: Ristretto may hold a dead item of it.
	c.rc.Del(key)
}

// Advance records that every invalidation up to seq has been applied:
// applied = max(applied, seq).
func (c *Cache) Advance(seq uint64) {
	for {
		cur := c.applied.Load()
		if seq <= cur || c.applied.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// Applied returns the sequence up to which every invalidation has been
// applied (see [Cache.Advance]); an L1 hit is known fresh up to it. One
// atomic load.
func (c *Cache) Applied() uint64 { return c.applied.Load() }

// Reset drops every entry and forgets every tombstone; the floor and the
// applied sequence become seq (which may be lower than before: a new epoch
// restarts the sequence), and the generation is bumped, so fills whose read
// started before Reset are refused. Get misses for every earlier entry as
// soon as the generation is bumped, before Ristretto is cleared.
func (c *Cache) Reset(seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.gen.Add(1)
	c.idx.clear()
	c.smu.Lock()
	clear(c.staged)
	c.smu.Unlock()
	c.waiting = 0
	c.tombs.reset(seq)
	c.applied.Store(seq)
	c.n.resets++
	// Clear runs the callbacks for every item it drops; they are of the old
	// generation and are not queued.
	c.rc.Clear()
	c.drainLocked() // items queued before the bump: no longer indexed, a no-op
}

// Wait hands the staged fills to Ristretto and blocks until Ristretto has
// applied every Fill made before it, and the index has caught up with
// Ristretto's evictions and refusals: after Wait, every Fill accepted before
// it is in Ristretto's store (and no longer staged) or has left the index. Waits run
// concurrently with each other and with every other method but Close.
func (c *Cache) Wait() {
	c.life.RLock()
	defer c.life.RUnlock()
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.handOverLocked()
	c.mu.Unlock()
	c.rc.Wait()
	c.mu.Lock()
	c.drainLocked()
	c.unstageLocked()
	c.mu.Unlock()
}

// Close releases the cache and stops its goroutines (Ristretto's and the
// clock's). It is idempotent. It must not overlap other calls (a Get that
// overlaps it misses and does not panic, but the race detector may report
// Ristretto's unsynchronised close flag). After Close, Get misses, Fill
// refuses and the other methods do nothing.
func (c *Cache) Close() {
	if c.coarse != nil {
		c.coarse.halt()
	}
	c.life.Lock()
	defer c.life.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return
	}
	c.closed.Store(true)
	c.rc.Close()
	c.idx = newIndex()
	c.smu.Lock()
	clear(c.staged)
	c.smu.Unlock()
	c.waiting = 0
	c.drainLocked()
}

// drainLocked applies the prunes queued by Ristretto's callbacks: an item
// leaves the index only if it is still the entry of its key (a newer fill of
// the key is not touched).
func (c *Cache) drainLocked() {
	batch := c.pq.swap(c.spare)
	for i, it := range batch {
		if c.idx.remove(it) {
			it.dead.Store(true)
			c.n.prunes++
		}
		batch[i] = nil
	}
	c.spare = batch[:0]
}
