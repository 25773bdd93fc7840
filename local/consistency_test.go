package local

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// checkConsistency hands the staged fills to Ristretto, waits until it has
// applied its buffers, applies
// the pending prunes, and checks the index invariant (see index): every
// indexed item is live, of the current generation, indexed under each of
// its deps, and is what Ristretto holds for its key; every dep set is
// non-empty and names only indexed keys that have the dep. It assumes no
// indexed entry has expired.
func (c *Cache) checkConsistency() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil
	}
	c.handOverLocked()
	c.rc.Wait()
	c.drainLocked()
	c.unstageLocked()
	c.smu.RLock()
	staged := len(c.staged)
	c.smu.RUnlock()
	if staged != 0 || c.waiting != 0 {
		return fmt.Errorf("%d fills still staged (%d waiting) after a hand-over", staged, c.waiting)
	}
	gen := c.gen.Load()
	for k, it := range c.idx.keys {
		switch {
		case it.key != k:
			return fmt.Errorf("index: key %q maps to the item of %q", k, it.key)
		case it.dead.Load():
			return fmt.Errorf("index: key %q maps to a dead item", k)
		case it.gen != gen:
			return fmt.Errorf("index: key %q is of generation %d, not %d", k, it.gen, gen)
		}
		got, ok := c.rc.Get(k)
		if !ok || got != it {
			return fmt.Errorf("index: key %q is indexed but Ristretto holds %p (found %v), not %p", k, got, ok, it)
		}
		for _, d := range it.Deps {
			if !c.idx.byDep[d].has(k) {
				return fmt.Errorf("index: key %q is missing from the set of its dep %s", k, d)
			}
		}
	}
	for d, set := range c.idx.byDep {
		if set.len() == 0 {
			return fmt.Errorf("index: empty set for dep %s", d)
		}
		if set.single && set.many != nil {
			return fmt.Errorf("index: the set of dep %s is both single and a map", d)
		}
		var err error
		set.each(func(k string) {
			it := c.idx.keys[k]
			switch {
			case err != nil:
			case it == nil:
				err = fmt.Errorf("index: dep %s names key %q, which is not indexed", d, k)
			case !slices.Contains(it.Deps, d):
				err = fmt.Errorf("index: dep %s names key %q, which does not depend on it", d, k)
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// newTestCache returns a cache closed at the end of the test.
func newTestCache(tb testing.TB, cfg Config) *Cache {
	tb.Helper()
	c, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// mustConsistent fails the test if the index is out of step.
func mustConsistent(tb testing.TB, c *Cache) {
	tb.Helper()
	if err := c.checkConsistency(); err != nil {
		tb.Fatal(err)
	}
}

// fill fills key with mark and deps for a minute at cost 1 and reports
// whether it was accepted.
func fill(c *Cache, key string, mark uint64, ds ...deps.Dep) bool {
	return c.Fill(key, Item{Value: key, Deps: ds, Mark: mark}, c.Generation(), time.Minute, 1)
}
