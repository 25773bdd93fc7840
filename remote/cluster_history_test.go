package remote

import (
	"context"
	"testing"
	"time"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// TestClusterFailoverEntryIsAMiss: the master of an entry's slot, which
// also holds its dependency's tombstone and set, fails over to a replica
// that missed the invalidation. The entry is back and nothing in its slot
// says it was deleted; the read must still not serve it, and the first
// read to meet the new master starts a new epoch (no State runs in
// between: the read's own check does it).
func TestClusterFailoverEntryIsAMiss(t *testing.T) {
	rc := redistest.StartClusterReplicas(t, 3, 1)
	ctx := context.Background()
	s, err := New(Config{Redis: rc.Client(t), Namespace: "t"})
	if err != nil {
		t.Fatal(err)
	}
	dep := deps.Id("article", 1)
	key := "{" + dep.String() + "}k"
	mark, err := s.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := s.Put(ctx, key, Envelope{Deps: []deps.Dep{dep}, Payload: []byte("v1")}, time.Minute, mark); err != nil || r != Stored {
		t.Fatalf("Put = %v, %v", r, err)
	}
	m := rc.MasterFor(t, s.EntryKey(key))
	replica := rc.ReplicasOf(t, m)[0]
	if n, err := m.Client(t).Do(ctx, "WAIT", 1, 5000).Int(); err != nil || n != 1 {
		t.Fatalf("the replica did not acknowledge the entry: %d, %v", n, err)
	}
	resume := rc.Lag(t, replica)
	if _, err := s.Invalidate(ctx, []deps.Dep{dep}, "test"); err != nil {
		t.Fatal(err)
	}
	rc.Takeover(t, replica)
	resume()
	raw := rc.Client(t)
	if n, _ := raw.Exists(ctx, s.EntryKey(key)).Result(); n != 1 {
		t.Fatal("the failover did not bring the entry back: the test proves nothing")
	}
	if n, _ := raw.Exists(ctx, s.TombstoneKey(dep)).Result(); n != 0 {
		t.Fatal("the failover kept the tombstone: the test proves less than it says")
	}
	st, e, found, err := s.Read(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if found {
		t.Fatalf("read the entry %q back after a failover lost its invalidation", e.Payload)
	}
	if st.Epoch == mark.Epoch {
		t.Fatalf("the read met a new master process and left the epoch as it was (%q)", st.Epoch)
	}
	// Its put, marked in the old epoch, is refused.
	if r, err := s.Put(ctx, key, Envelope{Deps: []deps.Dep{dep}, Payload: []byte("v1")}, time.Minute, mark); err != nil || r != RefusedEpoch {
		t.Fatalf("Put marked before the failover = %v, %v; want refused (epoch)", r, err)
	}
}
