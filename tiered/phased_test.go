package tiered_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	matroska "github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// isDrainCall reports whether cmd runs remote's drain script (a later phase
// of an invalidation in phases) in namespace "t": "EVALSHA <sha> 1
// t:pending ...".
func isDrainCall(cmd redis.Cmder) bool {
	a := cmd.Args()
	return len(a) > 3 && cmd.Name() == "evalsha" && fmt.Sprint(a[2]) == "1" && a[3] == "t:pending"
}

// drainHook counts the calls of remote's drain script (the later phases of
// an invalidation in phases: "EVALSHA <sha> 1 <ns>:pending ...") and delays
// each by 30ms, as a slow link would, to widen the time between phases.
type drainHook struct{ n atomic.Int64 }

func (h *drainHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *drainHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isDrainCall(cmd) {
			h.n.Add(1)
			time.Sleep(30 * time.Millisecond)
		}
		return next(ctx, cmd)
	}
}

func (h *drainHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// G3 and G5 with an invalidation in phases (more dependents than remote's
// default InvalidateBatch of 1000): when Invalidate returns the writer
// serves only new values and Redis holds no old entry; another node, once
// it has applied the invalidation, never serves an old value, though
// Redis is still deleting the old entries.
func TestG3_LargeInvalidationInPhases(t *testing.T) {
	const n = 1500
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	hook := &drainHook{}
	wrdb := srv.Client(t)
	wrdb.AddHook(hook)
	writer, other := newNode(t, wrdb), newNode(t, srv.Client(t))
	var version atomic.Int64
	hot := deps.Tag("hot")
	load := func(i int) matroska.LoadFunc[int64] {
		return func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
			rec.Depend(hot, deps.Id("row", i))
			return version.Load(), nil
		}
	}
	get := func(node *tiered.Cache, i int) int64 {
		t.Helper()
		v, err := matroska.GetOrLoad(bg(), node, "k"+strconv.Itoa(i), load(i))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for i := range n {
		get(writer, i) // loads, fills L2 and the writer's L1
		get(other, i)  // an L2 hit, fills the other's L1
	}
	waitFor(t, 2*time.Second, "both nodes applied everything", func() bool {
		return writer.L1().Applied() == other.L1().Applied()
	})
	inv := writer.L1().Applied() + 1 // the invalidation's sequence number

	// The other node reads while the writer invalidates. Once it has
	// applied inv, an old value is a violation.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var reads, after, during, old atomic.Int64
	var returned atomic.Bool
	wg.Go(func() {
		r := rand.New(rand.NewPCG(3, 4))
		for {
			select {
			case <-stop:
				return
			default:
			}
			applied, ongoing := other.L1().Applied(), !returned.Load()
			i := r.IntN(n)
			v, err := matroska.GetOrLoad(bg(), other, "k"+strconv.Itoa(i), load(i))
			if err != nil {
				continue
			}
			reads.Add(1)
			if applied >= inv {
				after.Add(1)
				if ongoing {
					during.Add(1)
				}
				if v == 0 {
					old.Add(1)
				}
			}
		}
	})

	version.Store(1) // the database write, then the invalidation
	before := hook.n.Load()
	err := writer.Invalidate(bg(), hot)
	returned.Store(true)
	drains := hook.n.Load() - before
	if err != nil {
		t.Fatal(err)
	}
	if drains == 0 {
		t.Fatalf("no drain call: the invalidation of %d dependents did not run in phases", n)
	}
	// No old entry is left in Redis (the other node's reads may have
	// stored new ones).
	for i := range n {
		raw, err := rdb.Get(bg(), "t:e:k"+strconv.Itoa(i)).Bytes()
		if err == redis.Nil {
			continue
		}
		if err != nil || len(raw) == 0 || raw[len(raw)-1] != '1' {
			t.Fatalf("entry k%d in Redis after Invalidate returned: %q, %v", i, raw, err)
		}
	}
	for i := range n {
		if v := get(writer, i); v != 1 {
			t.Fatalf("the writer read %d for k%d after Invalidate returned", v, i)
		}
	}
	waitFor(t, 2*time.Second, "the other node applied the invalidation", func() bool {
		return other.L1().Applied() >= inv
	})
	waitFor(t, 2*time.Second, "more reads on the other node", func() bool { return after.Load() >= during.Load()+100 })
	close(stop)
	wg.Wait()
	if old.Load() != 0 || during.Load() == 0 {
		t.Fatalf("the other node served %d old values in %d reads after applying the invalidation (%d before it returned)",
			old.Load(), after.Load(), during.Load())
	}
	for i := range n {
		if v := get(other, i); v != 1 {
			t.Fatalf("the other node read %d for k%d after applying the invalidation", v, i)
		}
	}
	t.Logf("%d drain calls; the other node read %d times, %d of them after applying the invalidation, %d of those before it returned",
		drains, reads.Load(), after.Load(), during.Load())
}

// dropHook holds the first pipeline of remote's cluster delete script (step
// D of a cluster invalidation: "EVALSHA <sha> 1 t:e:<key> <dep>") until
// release is closed, and closes reached when it holds it.
type dropHook struct {
	reached, release chan struct{}
	once             sync.Once
}

func (h *dropHook) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *dropHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }

func (h *dropHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			a := cmd.Args()
			if cmd.Name() == "evalsha" && len(a) == 5 && fmt.Sprint(a[2]) == "1" && strings.HasPrefix(fmt.Sprint(a[3]), "t:e:") {
				h.once.Do(func() {
					close(h.reached)
					<-h.release
				})
				break
			}
		}
		return next(ctx, cmds)
	}
}

// G5 on a cluster while a large invalidation deletes its entries: a small
// invalidation made meanwhile by another node reaches every node within
// the propagation bound. (The large one's deletes are held; before they
// ran after it, its publication waited for them, and so did every later
// invalidation's: the reader kept serving the small one's old value from
// L1, trusted, for as long as the deletes took.)
func TestG5_ClusterLargeInvalidationHoldsBackNoOther(t *testing.T) {
	rc := redistest.StartCluster(t, 3)
	hook := &dropHook{reached: make(chan struct{}), release: make(chan struct{})}
	wrdb := rc.Client(t)
	wrdb.AddHook(hook)
	writer, reader, other := newNode(t, wrdb), newNode(t, rc.Client(t)), newNode(t, rc.Client(t))
	big, small := deps.Tag("big"), deps.Tag("small")
	var version atomic.Int64
	load := func(dep deps.Dep) matroska.LoadFunc[int64] {
		return func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
			rec.Depend(dep)
			return version.Load(), nil
		}
	}
	get := func(node *tiered.Cache, key string, dep deps.Dep) int64 {
		t.Helper()
		v, err := matroska.GetOrLoad(bg(), node, key, load(dep))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	get(other, "b", big)
	if v := get(reader, "s", small); v != 0 {
		t.Fatalf("first read %d", v)
	}
	version.Store(1)

	done := make(chan error, 1)
	go func() { done <- writer.Invalidate(bg(), big) }()
	select {
	case <-hook.reached:
	case err := <-done:
		t.Fatalf("the large invalidation returned before its deletes: %v", err)
	}
	released := false
	defer func() {
		if !released {
			close(hook.release)
			<-done
		}
	}()
	if err := other.Invalidate(bg(), small); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	const bound = 300 * time.Millisecond // half the trust window
	for get(reader, "s", small) != 1 {
		if time.Since(start) > bound {
			t.Fatalf("the reader still served the old value %v after the small invalidation returned "+
				"(the large one's deletes are held)", bound)
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Logf("the reader saw the new value %v after the small invalidation returned", time.Since(start))
	released = true
	close(hook.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if v := get(writer, "b", big); v != 1 {
		t.Fatalf("the writer read %d after its invalidation returned", v)
	}
}
