package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// TestCombinedInvalidationsReadYourWrites has many goroutines of one node
// write and invalidate at once, each then reading its own key on that
// node: the invalidations queued behind one in flight go to Redis together,
// and each caller still reads its write as soon as its Invalidate returns
// (G3), and the other node converges.
func TestCombinedInvalidationsReadYourWrites(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 2)
		writer, other := cl.nodes[0], cl.nodes[1]
		// Every queued call waits for the one in flight, however slow the
		// machine: this test is about the combined calls (the bound has
		// TestQueuedInvalidationDoesNotWaitForALongOne).
		writer.SetCombineInvalidations(true)
		writer.SetMaxQueueWait(time.Minute)
		const keys, rounds = 48, 10
		data := newDB()
		load := func(i int) matroska.LoadFunc[int] {
			return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
				rec.Depend(deps.Id("row", i))
				return data.get(fmt.Sprint(i)), nil
			}
		}
		for i := range keys {
			for _, c := range cl.nodes {
				if _, err := matroska.GetOrLoad(bg(), c, fmt.Sprintf("k%d", i), load(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		calls := 0
		for round := 1; round <= rounds; round++ {
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make(chan error, keys)
			for i := range keys {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					want := data.bump(fmt.Sprint(i))
					if err := writer.Invalidate(bg(), deps.Id("row", i)); err != nil {
						errs <- err
						return
					}
					if v, err := matroska.GetOrLoad(bg(), writer, fmt.Sprintf("k%d", i), load(i)); err != nil || v != want {
						errs <- fmt.Errorf("round %d: k%d read %d, %v after its Invalidate returned; want %d", round, i, v, err, want)
					}
				}()
			}
			close(start)
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			calls += keys
		}
		if t.Failed() {
			return
		}
		for i := range keys {
			want := data.get(fmt.Sprint(i))
			waitFor(t, 2*time.Second, "the other node sees every write", func() bool {
				v, err := matroska.GetOrLoad(bg(), other, fmt.Sprintf("k%d", i), load(i))
				return err == nil && v == want
			})
		}
		s := writer.Stats()
		if s.InvalidationsCombined == 0 {
			t.Errorf("no invalidation was combined in %d calls of %d goroutines at once", calls, keys)
		}
		if got := s.InvalidationsSent + s.InvalidationsCombined; got != uint64(calls) {
			t.Errorf("sent %d + combined %d = %d; want the %d calls", s.InvalidationsSent, s.InvalidationsCombined, got, calls)
		}
		t.Logf("%d Invalidate calls: %d Redis calls, %d combined", calls, s.InvalidationsSent, s.InvalidationsCombined)

		// The other node has CombineInvalidations off, the default: its
		// concurrent calls each go alone.
		var wg sync.WaitGroup
		for i := range keys {
			wg.Go(func() {
				if err := other.Invalidate(bg(), deps.Id("row", i)); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if o := other.Stats(); o.InvalidationsCombined != 0 || o.InvalidationsSent < keys {
			t.Errorf("a node without CombineInvalidations sent %d and combined %d of %d concurrent calls", o.InvalidationsSent, o.InvalidationsCombined, keys)
		}
	})
}

// TestCombinedInvalidationLeavesQueueOnCancel holds one invalidation in
// flight (Redis paused for writes) and queues two more behind it: the one
// whose context ends leaves the queue with the context's error, its entry
// dropped from L1, and is not sent; the other is sent once Redis answers.
func TestCombinedInvalidationLeavesQueueOnCancel(t *testing.T) {
	cl := newCluster(t, 1)
	c := cl.nodes[0]
	c.SetCombineInvalidations(true)
	c.SetMaxQueueWait(time.Minute) // the queued ones stay queued while Redis is paused
	data := newDB()
	load := func(id string) matroska.LoadFunc[int] {
		return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(deps.Id("row", id))
			return data.get(id), nil
		}
	}
	for _, id := range []string{"x", "y"} {
		if _, err := matroska.GetOrLoad(bg(), c, id, load(id)); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.rdb.Do(bg(), "CLIENT", "PAUSE", 10000, "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	paused := true
	unpause := func() {
		if paused {
			paused = false
			if err := cl.rdb.Do(bg(), "CLIENT", "UNPAUSE").Err(); err != nil {
				t.Error(err)
			}
		}
	}
	defer unpause()
	first := make(chan error, 1)
	go func() { first <- c.Invalidate(bg(), deps.Id("row", "z")) }()
	waitFor(t, 2*time.Second, "an invalidation in flight", c.InvalidationInFlight)

	data.bump("y")
	second := make(chan error, 1)
	go func() { second <- c.Invalidate(bg(), deps.Id("row", "y")) }()
	waitFor(t, 2*time.Second, "an invalidation queued", func() bool { return c.QueuedInvalidations() == 1 })

	if _, ok := c.L1().Get("x"); !ok {
		t.Fatal("x is not in L1 before its invalidation")
	}
	ctx, cancel := context.WithTimeout(bg(), 50*time.Millisecond)
	err := c.Invalidate(ctx, deps.Id("row", "x"))
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("queued Invalidate whose context ended returned %v; want context.DeadlineExceeded", err)
	}
	if _, ok := c.L1().Get("x"); ok {
		t.Error("x is still in L1 after its invalidation ended with an unknown outcome")
	}
	if n := c.QueuedInvalidations(); n != 1 {
		t.Errorf("%d invalidations queued after one left; want 1", n)
	}

	unpause()
	for name, ch := range map[string]chan error{"in flight": first, "queued": second} {
		select {
		case err := <-ch:
			if err != nil {
				t.Errorf("the invalidation %s returned %v", name, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("the invalidation %s never returned", name)
		}
	}
	if v, err := matroska.GetOrLoad(bg(), c, "y", load("y")); err != nil || v != 1 {
		t.Errorf("y read %d, %v after its queued Invalidate returned; want 1", v, err)
	}
	// x's invalidation left the queue: Redis still holds x, read without
	// the loader.
	loads := c.Stats().Loads
	if v, err := matroska.GetOrLoad(bg(), c, "x", load("x")); err != nil || v != 0 {
		t.Errorf("x read %d, %v", v, err)
	}
	if n := c.Stats().Loads - loads; n != 0 {
		t.Errorf("x was loaded again (%d loads): the invalidation that left the queue was sent", n)
	}
}

// holdHook holds the first EVALSHA or EVAL it sees once armed (the first
// script call after arming: an invalidation in the test below) until
// released.
type holdHook struct {
	armed   atomic.Bool
	held    chan struct{} // closed when a call is held
	release chan struct{}
}

func (h *holdHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *holdHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); (name == "evalsha" || name == "eval") && h.armed.CompareAndSwap(true, false) {
			close(h.held)
			<-h.release
		}
		return next(ctx, cmd)
	}
}

func (h *holdHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestQueuedInvalidationDoesNotWaitForALongOne holds one invalidation in
// flight (its script call never reaches Redis until released): another
// Invalidate of the node waits in the queue at most maxQueueWait, then goes
// alone, returns while the first is still held, and its caller reads its
// own write (G3). Without the bound it would wait for the first, as long as
// that takes.
func TestQueuedInvalidationDoesNotWaitForALongOne(t *testing.T) {
	srv := redistest.Start(t)
	hook := &holdHook{held: make(chan struct{}), release: make(chan struct{})}
	rdb := srv.Client(t)
	rdb.AddHook(hook)
	c := newNode(t, rdb)
	c.SetCombineInvalidations(true)
	data := newDB()
	load := func(id string) matroska.LoadFunc[int] {
		return func(ctx context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(deps.Id("row", id))
			return data.get(id), nil
		}
	}
	for _, id := range []string{"y", "z"} {
		if _, err := matroska.GetOrLoad(bg(), c, id, load(id)); err != nil {
			t.Fatal(err)
		}
	}
	released := false
	release := func() {
		if !released {
			released = true
			close(hook.release)
		}
	}
	defer release()
	hook.armed.Store(true)
	first := make(chan error, 1)
	go func() { first <- c.Invalidate(bg(), deps.Id("row", "z")) }()
	select {
	case <-hook.held:
	case <-time.After(5 * time.Second):
		t.Fatal("the first invalidation never reached Redis")
	}

	want := data.bump("y")
	second := make(chan error, 1)
	go func() { second <- c.Invalidate(bg(), deps.Id("row", "y")) }()
	select {
	case err := <-second:
		if err != nil {
			t.Fatalf("the queued invalidation returned %v", err)
		}
	case err := <-first:
		t.Fatalf("the held invalidation returned (%v) before the queued one", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the queued invalidation waited for the one in flight")
	}
	if v, err := matroska.GetOrLoad(bg(), c, "y", load("y")); err != nil || v != want {
		t.Errorf("y read %d, %v after its Invalidate returned; want %d", v, err, want)
	}
	select {
	case err := <-first:
		t.Fatalf("the held invalidation returned (%v) while held", err)
	default:
	}
	release()
	if err := <-first; err != nil {
		t.Errorf("the held invalidation returned %v", err)
	}
	if n := c.QueuedInvalidations(); n != 0 {
		t.Errorf("%d invalidations left in the queue", n)
	}
}
