package tiered_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// source is a row whose loads can be held: a loader reads the version, then
// blocks while hold is set.
type source struct {
	version atomic.Int64
	calls   atomic.Int64
	mu      sync.Mutex
	gate    chan struct{} // nil: loads do not block
	started chan struct{}
}

func newSource() *source {
	s := &source{started: make(chan struct{}, 16)}
	s.version.Store(1)
	return s
}

func (s *source) hold() {
	s.mu.Lock()
	s.gate = make(chan struct{})
	s.mu.Unlock()
}

func (s *source) let() {
	s.mu.Lock()
	close(s.gate)
	s.gate = nil
	s.mu.Unlock()
}

func (s *source) load(ctx context.Context, rec *matroska.Recorder) (int, error) {
	s.calls.Add(1)
	rec.Depend(deps.Id("row", 1))
	v := int(s.version.Load())
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		s.started <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	return v, nil
}

// TestRefreshAhead: past the soft TTL every node keeps answering with the
// current value while one refresh, across the three nodes (lease on), loads
// the next; then every node answers with the refreshed value.
func TestRefreshAhead(t *testing.T) {
	forTopologies(t, testRefreshAhead)
}

func testRefreshAhead(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 0)
	nodes := leaseNodes(t, cl, 3, 10*time.Second, time.Minute)
	src := newSource()
	opts := []matroska.Option{matroska.TTL(10 * time.Second), matroska.RefreshAfter(200 * time.Millisecond)}
	get := func(c *tiered.Cache) int {
		v, err := matroska.GetOrLoad(bg(), c, "k", src.load, opts...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := get(nodes[0]); v != 1 {
		t.Fatal(v)
	}
	time.Sleep(250 * time.Millisecond)
	src.hold()
	src.version.Store(2)
	for range 3 {
		for _, c := range nodes {
			t0 := time.Now()
			if v := get(c); v != 1 {
				t.Fatalf("served %d while refreshing, want 1", v)
			}
			if d := time.Since(t0); d > 200*time.Millisecond {
				t.Fatalf("a hit past the soft TTL took %v: it waited for the refresh", d)
			}
		}
	}
	<-src.started
	waitFor(t, 5*time.Second, "every node refreshes", func() bool {
		return sumStats(nodes, func(s tiered.Stats) uint64 { return s.Refreshes }) == 3
	})
	src.let()
	waitFor(t, 5*time.Second, "every node serves the refreshed value", func() bool {
		for _, c := range nodes {
			if get(c) != 2 {
				return false
			}
		}
		return true
	})
	if n := src.calls.Load(); n != 2 {
		t.Fatalf("%d loads, want 2 (the first and one refresh across the nodes)", n)
	}
	if n := sumStats(nodes, func(s tiered.Stats) uint64 { return s.RefreshesStored }); n != 1 {
		t.Fatalf("%d refreshes stored, want 1", n)
	}
}

// TestG1_RefreshOvertakenIsNotStored: an invalidation overtakes a refresh
// in flight; the refreshed (stale) value is stored nowhere, and the next
// call loads the new one.
func TestG1_RefreshOvertakenIsNotStored(t *testing.T) {
	for _, mode := range []string{"redis", "one-process"} {
		t.Run(mode, func(t *testing.T) {
			var nodes []*tiered.Cache
			if mode == "redis" {
				nodes = leaseNodes(t, newClusterOn(t, "standalone", 0), 2, 10*time.Second, time.Minute)
			} else {
				nodes = []*tiered.Cache{newNode(t, nil)}
			}
			c := nodes[0]
			src := newSource()
			opts := []matroska.Option{matroska.TTL(10 * time.Second), matroska.RefreshAfter(100 * time.Millisecond)}
			get := func(c *tiered.Cache) int {
				v, err := matroska.GetOrLoad(bg(), c, "k", src.load, opts...)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			get(c)
			time.Sleep(150 * time.Millisecond)
			src.hold()
			src.version.Store(2)
			if v := get(c); v != 1 {
				t.Fatal(v)
			}
			<-src.started // the refresh read version 2 and waits
			src.version.Store(3)
			if err := c.Invalidate(bg(), deps.Id("row", 1)); err != nil {
				t.Fatal(err)
			}
			src.let()
			waitFor(t, 5*time.Second, "the refresh ends", func() bool {
				s := c.Stats()
				return s.RefreshesRefused+s.RefreshesStored == 1
			})
			if s := c.Stats(); s.RefreshesRefused != 1 {
				t.Fatalf("refresh refused %d, stored %d", s.RefreshesRefused, s.RefreshesStored)
			}
			for _, n := range nodes {
				if v := get(n); v != 3 {
					t.Fatalf("served %d after the invalidation, want 3", v)
				}
			}
		})
	}
}

var errSource = errors.New("source down")

// TestStaleIfError: a failed load answers with the last value while it is
// within StaleIfError past its TTL; never once it was invalidated; not
// after that time.
func TestStaleIfError(t *testing.T) {
	for _, mode := range []string{"redis", "one-process"} {
		t.Run(mode, func(t *testing.T) {
			var c *tiered.Cache
			if mode == "redis" {
				c = newNode(t, redistest.Start(t).Client(t))
			} else {
				c = newNode(t, nil)
			}
			const ttl, keep = 200 * time.Millisecond, 600 * time.Millisecond
			opts := []matroska.Option{matroska.TTL(ttl), matroska.StaleIfError(keep)}
			var fail atomic.Bool
			load := func(v int) matroska.LoadFunc[int] {
				return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
					rec.Depend(deps.Id("row", 1))
					if fail.Load() {
						return 0, errSource
					}
					return v, nil
				}
			}
			fill := func(key string) {
				fail.Store(false)
				if v, err := matroska.GetOrLoad(bg(), c, key, load(1), opts...); err != nil || v != 1 {
					t.Fatal(v, err)
				}
				fail.Store(true)
			}
			// Within the kept time: the last value, no error.
			fill("a")
			time.Sleep(ttl + 50*time.Millisecond)
			if v, err := matroska.GetOrLoad(bg(), c, "a", load(2), opts...); err != nil || v != 1 {
				t.Fatalf("within the kept time: %d, %v; want 1, nil", v, err)
			}
			if n := c.Stats().StaleServed; n != 1 {
				t.Fatalf("StaleServed %d", n)
			}
			// A load that works within the kept time gets the new value.
			fail.Store(false)
			if v, err := matroska.GetOrLoad(bg(), c, "a", load(2), opts...); err != nil || v != 2 {
				t.Fatalf("a working load: %d, %v; want 2", v, err)
			}
			// Invalidated: never served, before or after its TTL.
			fill("b")
			if err := c.Invalidate(bg(), deps.Id("row", 1)); err != nil {
				t.Fatal(err)
			}
			if _, err := matroska.GetOrLoad(bg(), c, "b", load(2), opts...); !errors.Is(err, errSource) {
				t.Fatalf("after an invalidation: %v; want the loader's error", err)
			}
			time.Sleep(ttl + 50*time.Millisecond)
			if _, err := matroska.GetOrLoad(bg(), c, "b", load(2), opts...); !errors.Is(err, errSource) {
				t.Fatalf("after an invalidation and the TTL: %v; want the loader's error", err)
			}
			// Past the kept time: the error.
			fill("c")
			time.Sleep(ttl + keep + 100*time.Millisecond)
			if _, err := matroska.GetOrLoad(bg(), c, "c", load(2), opts...); !errors.Is(err, errSource) {
				t.Fatalf("past the kept time: %v; want the loader's error", err)
			}
			if n := c.Stats().StaleServed; n != 1 {
				t.Fatalf("StaleServed %d, want 1", n)
			}
		})
	}
}

// TestAheadOptionsChecked: bad soft TTLs are ErrInvalidTTL.
func TestAheadOptionsChecked(t *testing.T) {
	c := newNode(t, nil)
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) { return 1, nil }
	for _, opts := range [][]matroska.Option{
		{matroska.TTL(time.Second), matroska.RefreshAfter(time.Second)},
		{matroska.RefreshAfter(-time.Second)},
		{matroska.StaleIfError(-time.Second)},
	} {
		if _, err := matroska.GetOrLoad(bg(), c, "k", load, opts...); !errors.Is(err, matroska.ErrInvalidTTL) {
			t.Fatalf("%v: %v", opts, err)
		}
	}
}

// TestRefreshThatJoinsAMissRunsAgain: a refresh goes through the node's
// shared flight of its key. When that flight is another caller's miss (here
// a caller that asked for the key's value as another type, whose load is
// held), the refresh gets a result that refreshed nothing: it must run
// again once that flight has ended, not count itself done.
func TestRefreshThatJoinsAMissRunsAgain(t *testing.T) {
	c := newNode(t, nil)
	opts := []matroska.Option{matroska.TTL(10 * time.Second), matroska.RefreshAfter(50 * time.Millisecond)}
	var loads atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
		return int(loads.Add(1)), nil
	}
	if v, err := matroska.GetOrLoad(bg(), c, "k", load, opts...); err != nil || v != 1 {
		t.Fatal(v, err)
	}
	time.Sleep(80 * time.Millisecond) // due for a refresh
	started, release := make(chan struct{}), make(chan struct{})
	missDone := make(chan error, 1)
	go func() {
		// A miss of k while L1 holds it, as GetOrLoad's after an L1 miss.
		_, err := c.MissWith(bg(), "k", func(ctx context.Context, rec *matroska.Recorder) (any, error) {
			close(started)
			<-release
			return nil, errSource
		}, nil)
		missDone <- err
	}()
	<-started // the miss's flight holds the key
	if v, err := matroska.GetOrLoad(bg(), c, "k", load, opts...); err != nil || v != 1 {
		t.Fatalf("a hit past the soft TTL: %d, %v", v, err)
	}
	time.Sleep(50 * time.Millisecond) // the refresh joins the miss's flight
	close(release)
	if err := <-missDone; !errors.Is(err, errSource) {
		t.Fatalf("the held miss: %v", err)
	}
	waitFor(t, 5*time.Second, "the refresh stores a value", func() bool {
		return c.Stats().RefreshesStored == 1
	})
	if s := c.Stats(); s.Refreshes != 1 {
		t.Fatalf("%d refreshes started, want 1", s.Refreshes)
	}
	if v, err := matroska.GetOrLoad(bg(), c, "k", load, opts...); err != nil || v != 2 {
		t.Fatalf("after the refresh: %d, %v; want 2", v, err)
	}
}
