package tiered_test

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
)

// failDrain fails the first later-phase call of an invalidation in phases
// (remote's drain script), as a connection lost half-way would.
type failDrain struct{ failed atomic.Bool }

func (h *failDrain) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failDrain) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isDrainCall(cmd) {
			if h.failed.CompareAndSwap(false, true) {
				err := errors.New("injected: connection lost")
				cmd.SetErr(err)
				return err
			}
		}
		return next(ctx, cmd)
	}
}

func (h *failDrain) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// An invalidation in phases whose clean-up is cut short is in effect: its
// number, tombstones and broadcast are in Redis and its entries read as
// misses. Invalidate reports success (G3 holds), counts it, and does not
// count a Redis failure.
func TestG3_UnfinishedInvalidationIsInEffect(t *testing.T) {
	cl := newCluster(t, 1)
	hook := &failDrain{}
	rdb := cl.srv.Client(t)
	rdb.AddHook(hook)
	c := newNode(t, rdb)
	hot := deps.Tag("hot")
	const n = 1100 // more than remote's default InvalidateBatch (1000)
	for i := range n {
		if err := c.Set(bg(), "k"+strconv.Itoa(i), "old", matroska.Depend(hot)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Invalidate(bg(), hot); err != nil {
		t.Fatalf("Invalidate = %v, want success: the invalidation is in effect", err)
	}
	if !hook.failed.Load() {
		t.Fatal("the drain was never called: the invalidation did not run in phases")
	}
	st := c.Stats()
	if st.Unfinished != 1 || st.BreakerOpens != 0 {
		t.Fatalf("stats: Unfinished %d, BreakerOpens %d", st.Unfinished, st.BreakerOpens)
	}
	// Entries are left in Redis, but no read serves them.
	left, err := cl.rdb.Keys(bg(), "t:e:*").Result()
	if err != nil || len(left) == 0 {
		t.Fatalf("no entry left in Redis (%v): the test proves nothing", err)
	}
	for i := range n {
		if v, err := matroska.Get[string](bg(), c, "k"+strconv.Itoa(i)); !errors.Is(err, matroska.ErrMiss) {
			t.Fatalf("k%d: read %q, %v after the invalidation", i, v, err)
		}
	}
}
