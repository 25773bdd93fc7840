package tiered_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
)

// TestG3_CallerAfterInvalidateDoesNotJoinOlderLoad: a load of k reads the
// old row and is still running when the row is invalidated; a caller that
// starts after Invalidate returned must not receive that load's result
// (it would read the old value after its own write), but a fresh one.
func TestG3_CallerAfterInvalidateDoesNotJoinOlderLoad(t *testing.T) {
	for _, mode := range append(topologies, "one-process") {
		t.Run(mode, func(t *testing.T) {
			var c *matroska.Cache
			if mode != "one-process" {
				c = newClusterOn(t, mode, 1).nodes[0]
			} else {
				c = newNode(t, nil)
			}
			data := newDB()
			dep := deps.Id("row", 1)
			release := make(chan struct{})
			started := make(chan struct{}, 1)
			load := func(ctx context.Context, rec *matroska.Recorder) (int, error) {
				rec.Depend(dep)
				v := data.get("r1")
				select {
				case started <- struct{}{}:
					<-release // only the first load is held
				default:
				}
				return v, nil
			}
			first := make(chan int, 1)
			go func() {
				v, _ := matroska.GetOrLoad(bg(), c, "k", load)
				first <- v
			}()
			<-started
			data.bump("r1")
			if err := c.Invalidate(bg(), dep); err != nil {
				t.Fatal(err)
			}
			misses := c.Stats().L1Misses
			second := make(chan int, 1)
			go func() {
				v, _ := matroska.GetOrLoad(bg(), c, "k", load)
				second <- v
			}()
			waitFor(t, 2*time.Second, "the second caller misses L1", func() bool { return c.Stats().L1Misses > misses })
			time.Sleep(20 * time.Millisecond) // it joins the load in flight
			close(release)
			if v := <-first; v != 0 {
				t.Fatalf("first caller: %d, want the value its load read (0)", v)
			}
			if v := <-second; v != 1 {
				t.Fatalf("a caller that started after Invalidate returned got %d, want 1 (read-your-writes)", v)
			}
		})
	}
}

// TestG3_OwnWriteWhileBusLags: node B holds a list in L1 and its bus lags
// (held). A moves row 2 into the list (the list's condition is
// invalidated); B, not having applied that yet, updates row 2 and
// invalidates its id, which the old list does not depend on. A read of the
// list on B after its Invalidate returned must show B's own write: B does
// not serve L1 until its bus has applied every invalidation up to its own.
func TestG3_OwnWriteWhileBusLags(t *testing.T) {
	forTopologies(t, testG3OwnWriteWhileBusLags)
}

func testG3OwnWriteWhileBusLags(t *testing.T, topo string) {
	cl := newClusterOn(t, topo, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	var mu sync.Mutex
	members := map[int]int{1: 1} // row id -> version, rows in category 7
	cond := deps.Condition("row", map[string]any{"cat": 7})
	load := func(ctx context.Context, rec *matroska.Recorder) (map[int]int, error) {
		rec.Depend(cond)
		mu.Lock()
		defer mu.Unlock()
		out := map[int]int{}
		for id, v := range members {
			rec.Depend(deps.Id("row", id))
			out[id] = v
		}
		return out, nil
	}
	if _, err := matroska.GetOrLoad(bg(), b, "cat7", load); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "the list lands in B's L1", func() bool {
		ok := b.InL1("cat7")
		return ok
	})
	gate := make(chan struct{})
	b.SetApplyHook(func(uint64) { <-gate })
	defer close(gate)

	mu.Lock()
	members[2] = 1 // row 2 moves into category 7...
	mu.Unlock()
	if err := a.Invalidate(bg(), deps.Id("row", 2), cond); err != nil { // ...on A
		t.Fatal(err)
	}
	mu.Lock()
	members[2] = 2 // then B updates row 2
	mu.Unlock()
	if err := b.Invalidate(bg(), deps.Id("row", 2)); err != nil {
		t.Fatal(err)
	}
	got, err := matroska.GetOrLoad(bg(), b, "cat7", load)
	if err != nil {
		t.Fatal(err)
	}
	if got[2] != 2 {
		t.Fatalf("B read the list without its own write to row 2: %v", got)
	}
}

// TestG4_StalledBusStopsL1: B's bus goroutine stops (held in its handler,
// as in a paused process or a starved goroutine) while A invalidates. Past
// the trust window B must not serve L1, although nothing ran on B to say
// so: trust expires unless the bus renews it.
func TestG4_StalledBusStopsL1(t *testing.T) {
	cl := newCluster(t, 2)
	a, b := cl.nodes[0], cl.nodes[1]
	dep := deps.Id("row", 1)
	var n atomic.Int64
	if _, err := matroska.GetOrLoad(bg(), b, "k", counted(&n, 1, dep)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Second, "k lands in B's L1", func() bool {
		ok := b.InL1("k")
		return ok
	})
	gate := make(chan struct{})
	b.SetApplyHook(func(uint64) { <-gate })
	defer close(gate)
	if err := a.Invalidate(bg(), dep); err != nil {
		t.Fatal(err)
	}
	time.Sleep(testConfig(nil).TrustWindow + 100*time.Millisecond) // B's bus is held all along
	if b.InL1("k") {
		t.Fatal("B serves L1 past the trust window while its bus is stalled")
	}
}
