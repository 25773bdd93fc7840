package tiered_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// recording is an Observer that keeps what it saw.
type recording struct {
	mu    sync.Mutex
	ops   []observed
	lags  []time.Duration
	begun int
}

type observed struct {
	op  tiered.Op
	out tiered.Outcome
}

type spanKey struct{}

func (r *recording) Begin(ctx context.Context, op tiered.Op) (context.Context, func(tiered.Outcome)) {
	r.mu.Lock()
	r.begun++
	r.mu.Unlock()
	return context.WithValue(ctx, spanKey{}, op.Kind), func(out tiered.Outcome) {
		r.mu.Lock()
		r.ops = append(r.ops, observed{op, out})
		r.mu.Unlock()
	}
}

func (r *recording) Propagated(d time.Duration) {
	r.mu.Lock()
	r.lags = append(r.lags, d)
	r.mu.Unlock()
}

// take returns and forgets what r saw.
func (r *recording) take() ([]observed, []time.Duration, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops, lags, begun := r.ops, r.lags, r.begun
	r.ops, r.lags, r.begun = nil, nil, 0
	return ops, lags, begun
}

func kinds(ops []observed) []tiered.OpKind {
	out := make([]tiered.OpKind, len(ops))
	for i, o := range ops {
		out[i] = o.op.Kind
	}
	return out
}

// TestObserver: the Observer sees each read of Redis, each load (whose
// loader runs in the context Begin returned), each invalidation and set,
// each with its outcome; a batch as one read and one load of its keys;
// this node's invalidations' broadcast as Propagated; and nothing of an L1
// hit, which allocates nothing with an Observer set.
func TestObserver(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		rec := &recording{}
		c := newNode(t, cl.rdb, func(cfg *tiered.Config) { cfg.Observer = rec })
		ctx := bg()

		var inLoad any
		load := func(ctx context.Context, rec *tiered.Recorder) (string, error) {
			inLoad = ctx.Value(spanKey{})
			rec.Depend(deps.Id("item", 1))
			return "one", nil
		}
		if _, err := matroska.GetOrLoad(ctx, c, "k1", load); err != nil {
			t.Fatal(err)
		}
		ops, _, _ := rec.take()
		if got, want := kinds(ops), []tiered.OpKind{tiered.OpRead, tiered.OpLoad}; !slices.Equal(got, want) {
			t.Fatalf("a miss: ops %v, want %v", got, want)
		}
		if o := ops[0]; o.op.Key != "k1" || o.op.Keys != 1 || o.out.Found != 0 || o.out.Err != nil {
			t.Errorf("the miss's read: %+v", o)
		}
		if o := ops[1]; o.op.Key != "k1" || o.out.Found != 1 || o.out.Err != nil {
			t.Errorf("the miss's load: %+v", o)
		}
		if inLoad != tiered.OpLoad {
			t.Errorf("the loader ran in a context without the load's: %v", inLoad)
		}

		// An L1 hit: nothing observed, nothing allocated.
		hit := func() {
			if v, err := tiered.GetOrLoadWith(ctx, c, "k1", hitOnly{}); err != nil || v != "one" {
				t.Fatal(v, err)
			}
		}
		hit()
		if allocs := testing.AllocsPerRun(200, hit); allocs != 0 {
			t.Errorf("an L1 hit with an Observer allocates %v times", allocs)
		}
		if _, _, begun := rec.take(); begun != 0 {
			t.Errorf("L1 hits began %d operations", begun)
		}

		// Another node's read of the entry: a read that found it.
		rec2 := &recording{}
		c2 := newNode(t, cl.rdb, func(cfg *tiered.Config) { cfg.Observer = rec2 })
		if _, err := matroska.GetOrLoad(ctx, c2, "k1", load); err != nil {
			t.Fatal(err)
		}
		ops, _, _ = rec2.take()
		if len(ops) != 1 || ops[0].op.Kind != tiered.OpRead || ops[0].out.Found != 1 {
			t.Errorf("an L2 hit: %+v", ops)
		}

		// A loader error reaches the load's outcome.
		boom := errors.New("boom")
		if _, err := matroska.GetOrLoad(ctx, c, "k2", func(context.Context, *tiered.Recorder) (string, error) { return "", boom }); !errors.Is(err, boom) {
			t.Fatal(err)
		}
		ops, _, _ = rec.take()
		if len(ops) != 2 || !errors.Is(ops[1].out.Err, boom) || ops[1].out.Found != 0 {
			t.Errorf("a failed load: %+v", ops)
		}

		// A batch: one read of its keys, one load of those missing.
		keys := []string{"k1", "b1", "b2", "b3"}
		c.L1().Reset(c.L1().Applied())
		got, err := matroska.GetOrLoadMany(ctx, c, keys, func(ctx context.Context, keys []string, r *matroska.BatchRecorder) (map[string]string, error) {
			out := map[string]string{}
			for _, k := range keys {
				out[k] = k
				r.For(k).Depend(deps.Id("item", 2))
			}
			return out, nil
		})
		if err != nil || len(got) != 4 {
			t.Fatal(got, err)
		}
		ops, _, _ = rec.take()
		var reads, loads []observed
		for _, o := range ops {
			switch o.op.Kind {
			case tiered.OpRead:
				reads = append(reads, o)
			case tiered.OpLoad:
				loads = append(loads, o)
			}
		}
		if len(loads) != 1 || loads[0].op.Keys != 3 || loads[0].out.Found != 3 {
			t.Errorf("the batch's loads: %+v", loads)
		}
		if topo == "standalone" && (len(reads) != 1 || reads[0].op.Keys != 4 || reads[0].out.Found != 1) {
			t.Errorf("the batch's reads: %+v", reads)
		}
		if len(reads) == 0 {
			t.Error("the batch's read was not observed")
		}

		// Invalidate and Set, then their broadcast comes back to this node.
		if err := c.Invalidate(ctx, deps.Id("item", 1), deps.Id("item", 2)); err != nil {
			t.Fatal(err)
		}
		if err := c.Set(ctx, "k3", "three"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "both broadcasts observed", func() bool {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			return len(rec.lags) == 2
		})
		ops, lags, _ := rec.take()
		if got, want := kinds(ops), []tiered.OpKind{tiered.OpInvalidate, tiered.OpSet}; !slices.Equal(got, want) {
			t.Fatalf("writes: ops %v, want %v", got, want)
		}
		if ops[0].op.Keys != 2 || ops[0].out.Err != nil || ops[1].op.Key != "k3" || ops[1].out.Err != nil {
			t.Errorf("writes: %+v", ops)
		}
		for _, d := range lags {
			if d <= 0 || d > 5*time.Second {
				t.Errorf("propagation %v", d)
			}
		}
		if _, lags, _ := rec2.take(); len(lags) != 0 {
			t.Errorf("another node's invalidations observed as this node's: %v", lags)
		}
	})
}

// TestObserverSeesRedisFail: a read and an invalidation that Redis fails
// end with the error.
func TestObserverSeesRedisFail(t *testing.T) {
	cl := newClusterOn(t, "standalone", 0)
	rec := &recording{}
	c := newNode(t, cl.rdb, func(cfg *tiered.Config) {
		cfg.Observer = rec
		cfg.StartDegraded = true
	})
	cl.srv.Kill()
	if _, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *tiered.Recorder) (int, error) { return 1, nil }); err != nil {
		t.Fatal(err)
	}
	if err := c.Invalidate(bg(), deps.Id("item", 1)); err == nil {
		t.Fatal("Invalidate without Redis succeeded")
	}
	ops, _, _ := rec.take()
	if len(ops) < 3 || ops[0].op.Kind != tiered.OpRead || ops[0].out.Err == nil ||
		ops[len(ops)-1].op.Kind != tiered.OpInvalidate || !errors.Is(ops[len(ops)-1].out.Err, matroska.ErrUnavailable) {
		t.Errorf("ops with Redis down: %+v", ops)
	}
}

// hitOnly is a loader that fails the test's expectations if called.
type hitOnly struct{}

func (hitOnly) Load(context.Context, *tiered.Recorder) (string, error) {
	return "", errors.New("loaded on a hit")
}
