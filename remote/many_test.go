package remote

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// TestManyKeys: PutMany stores what Put would and refuses what Put would
// (a put overtaken by an invalidation), each item with its own verdict;
// ReadManyUnchecked reads every key in one round trip on a standalone
// Redis, reports a missing key as not found and an entry it cannot vouch
// for (one that does not decode) for a checked read.
func TestManyKeys(t *testing.T) {
	for _, topo := range []string{"standalone", "cluster"} {
		t.Run(topo, func(t *testing.T) {
			var rdb redis.UniversalClient
			if topo == "cluster" {
				rdb = redistest.StartCluster(t, 3).Client(t)
			} else {
				rdb = redistest.Start(t).Client(t)
			}
			hook := &countHook{}
			rdb.AddHook(hook)
			s, err := New(Config{Redis: rdb, Namespace: "many"})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			mark, err := s.State(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Invalidate(ctx, []deps.Dep{deps.Id("row", 2)}, "test"); err != nil {
				t.Fatal(err)
			}
			if err := s.Preload(ctx); err != nil {
				t.Fatal(err)
			}
			items := make([]PutItem, 3)
			for i := range items {
				items[i] = PutItem{Key: "k" + string(rune('0'+i)), TTL: time.Minute, Mark: mark,
					Envelope: Envelope{Deps: []deps.Dep{deps.Id("row", i)}, Payload: []byte{'v', byte('0' + i)}}}
			}
			items = append(items, PutItem{Key: "bad", TTL: 0, Mark: mark})
			hook.take()
			verdicts, errs := s.PutMany(ctx, items)
			trips := len(hook.take())
			for i, want := range []PutResult{Stored, Stored, RefusedStale} {
				if errs[i] != nil || verdicts[i] != want {
					t.Fatalf("item %d: %v, %v; want %v", i, verdicts[i], errs[i], want)
				}
			}
			if errs[3] == nil {
				t.Fatal("an item with a zero TTL was put")
			}
			if topo == "standalone" && trips != 1 {
				t.Fatalf("PutMany took %d round trips, want 1", trips)
			}
			if topo == "standalone" {
				if err := rdb.Set(ctx, s.EntryKey("k1"), "garbage", time.Minute).Err(); err != nil {
					t.Fatal(err)
				}
			}
			hook.take()
			st, reads, err := s.ReadManyUnchecked(ctx, []string{"k0", "k1", "k2", "none"})
			if err != nil {
				t.Fatal(err)
			}
			if topo == "standalone" && len(hook.take()) != 1 {
				t.Fatal("ReadManyUnchecked took more than one round trip")
			}
			if st.Epoch == "" || !reads[0].Found || string(reads[0].Envelope.Payload) != "v0" || reads[2].Found || reads[3].Found || reads[3].Recheck {
				t.Fatalf("reads %+v", reads)
			}
			if topo == "standalone" && (reads[1].Found || !reads[1].Recheck) {
				t.Fatalf("an entry that does not decode: %+v, want a recheck", reads[1])
			}
		})
	}
}
