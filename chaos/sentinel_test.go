package chaos

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska/internal/redistest"
)

// fenceOldMaster makes the data servers of a Sentinel harness run with
// min-replicas-to-write 1: a master that has lost its replica (promoted by
// a failover) refuses writes instead of acknowledging invalidations the
// new master will never see. Without it, TestChaos_SentinelFailover finds
// stale reads: between the promotion and the moment every node's client
// has followed it, some nodes invalidate on the old master (acknowledged,
// then lost when it is demoted) while others already load and store on the
// new one, which then serves the invalidated value until the key changes
// again. Set it to false to see them.
const fenceOldMaster = true

// sentinel is the topology of a master, one replica and three sentinels:
// every node's clients (commands and subscription) and the admin client are
// failover clients, which follow the master the sentinels name. The nodes
// have no proxies: the scenarios fault the group itself.
const sentinel = "sentinel"

// startSentinel starts the group of the sentinel topology (fenced, see
// fenceOldMaster).
func startSentinel(t *testing.T) *redistest.SentinelGroup {
	t.Helper()
	g := redistest.StartSentinel(t, redistest.SentinelOptions{})
	if fenceOldMaster {
		for _, s := range g.Servers() {
			if err := s.Client(t).ConfigSet(context.Background(), "min-replicas-to-write", "1").Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return g
}

// TestChaos_SentinelFailover: twice while the workload runs, the replica's
// link freezes for a while, so that it misses invalidations the master
// acknowledged, and the sentinels fail over to it (SENTINEL FAILOVER): the
// entries those invalidations deleted are back. Every node must take the
// new master's history as a new epoch (G11). The old master, still running,
// is demoted by the sentinels about 2 s later; until then the workload
// meets what a fenced deployment does (see fenceOldMaster): the old master
// refuses writes once its replica has left it, and so does the new one
// until the old one has become its replica, so the nodes answer from their
// loaders and the writers retry.
func TestChaos_SentinelFailover(t *testing.T) {
	h := newHarness(t, sentinel)
	g := h.sg
	total := h.size(defaultOps)
	var missed []uint64
	h.run(total, func(ctx context.Context) {
		for round := 1; round <= 2; round++ {
			h.waitOps(ctx, total*round/3)
			old, r := g.Master(), g.Replicas()[0] // after the first round: the old master, demoted
			thaw := g.Lag(h.t, r)
			sleep(ctx, 2*trustWindow) // writes go on; the replica misses them
			seq, _ := h.admin.Get(ctx, namespace+":seq").Uint64()
			rseq, _ := r.Client(h.t).Get(ctx, namespace+":seq").Uint64()
			if rseq >= seq {
				h.t.Errorf("round %d: the replica is at sequence %d, the master at %d: it missed nothing", round, rseq, seq)
			}
			missed = append(missed, seq-rseq)
			epoch := h.nodes[0].cache.Stats().Bus.Epoch
			from := time.Now()
			promoted := thawWhenPromoted(ctx, h, r, thaw)
			if m := g.Failover(h.t); m != r {
				h.t.Errorf("round %d: the sentinels promoted %s, want the lagging replica %s", round, m.Addr(), r.Addr())
			}
			promoted()
			wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			h.awaitEpoch(wctx, from, epoch)
			if wctx.Err() != nil && ctx.Err() == nil {
				h.t.Errorf("round %d: the nodes do not all trust L1 in a new epoch 15s after the failover began", round)
			}
			cancel()
			// The workload goes on while the sentinels demote the old
			// master, which cuts the subscriptions still on it.
			old.WaitReplicaOf(h.t, r)
			h.awaitTrusted(ctx, time.Time{})
		}
	})
	f := h.finish()
	t.Logf("invalidations the promoted replica missed: %v", missed)
	h.wantNewEpochs(f, 2)
}

// thawWhenPromoted thaws the link of the lagging replica r as soon as r
// answers as a master: it can no longer catch up then, and the old master
// sees it leave at once, as it would with a link that only lagged (a frozen
// proxy holds r's disconnection too). The func returned waits until that
// happened (or ctx ended) and thaws the link in any case.
func thawWhenPromoted(ctx context.Context, h *harness, r *redistest.Server, thaw func()) (wait func()) {
	rc := r.Client(h.t)
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			info, err := rc.Info(ctx, "replication").Result()
			if err == nil && strings.Contains(info, "role:master") {
				thaw()
				return
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return func() {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		close(stop)
		<-done
		thaw()
	}
}
