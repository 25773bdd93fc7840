package tiered_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// batchDB is a source of versioned rows for the batch tests: row k is
// "k@version", and each loader call is recorded.
type batchDB struct {
	mu      sync.Mutex
	version map[string]int
	absent  map[string]bool
	calls   [][]string
}

func newBatchDB() *batchDB {
	return &batchDB{version: map[string]int{}, absent: map[string]bool{}}
}

func (db *batchDB) bump(k string) {
	db.mu.Lock()
	db.version[k]++
	db.mu.Unlock()
}

func (db *batchDB) value(k string) string {
	return fmt.Sprintf("%s@%d", k, db.version[k])
}

// load is a BatchFunc over db: each key depends on its row.
func (db *batchDB) load(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]string, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	db.calls = append(db.calls, slices.Clone(keys))
	out := map[string]string{}
	for _, k := range keys {
		rec.For(k).Depend(deps.Id("row", k))
		if !db.absent[k] {
			out[k] = db.value(k)
		}
	}
	return out, nil
}

func (db *batchDB) single(k string) matroska.LoadFunc[string] {
	return func(ctx context.Context, rec *matroska.Recorder) (string, error) {
		db.mu.Lock()
		defer db.mu.Unlock()
		db.calls = append(db.calls, []string{k})
		rec.Depend(deps.Id("row", k))
		return db.value(k), nil
	}
}

func (db *batchDB) takeCalls() [][]string {
	db.mu.Lock()
	defer db.mu.Unlock()
	c := db.calls
	db.calls = nil
	return c
}

func keyList(from, to int) []string {
	var ks []string
	for i := from; i < to; i++ {
		ks = append(ks, "k"+strconv.Itoa(i))
	}
	return ks
}

// TestGetOrLoadMany: keys in B's L1, keys only in Redis (A loaded them) and
// cold keys in one call: one loader call with exactly the cold keys, a key
// the loader does not return is not found (and cached so), and the next
// call loads nothing.
func TestGetOrLoadMany(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 2)
		a, b := cl.nodes[0], cl.nodes[1]
		db := newBatchDB()
		db.absent["k9"] = true
		for _, k := range keyList(0, 3) {
			if _, err := matroska.GetOrLoad(bg(), b, k, db.single(k)); err != nil {
				t.Fatal(err)
			}
		}
		for _, k := range keyList(3, 6) {
			if _, err := matroska.GetOrLoad(bg(), a, k, db.single(k)); err != nil {
				t.Fatal(err)
			}
		}
		db.takeCalls()
		before := b.Stats()
		keys := append(keyList(0, 10), "k4") // a duplicate is read once
		got, err := matroska.GetOrLoadMany(bg(), b, keys, db.load)
		if err != nil {
			t.Fatal(err)
		}
		if calls := db.takeCalls(); len(calls) != 1 || !slices.Equal(calls[0], keyList(6, 10)) {
			t.Fatalf("loader calls %v, want one with k6..k9", calls)
		}
		for _, k := range keyList(0, 9) {
			if got[k] != k+"@0" {
				t.Fatalf("%s = %q", k, got[k])
			}
		}
		if _, ok := got["k9"]; ok || len(got) != 9 {
			t.Fatalf("got %v; want k0..k8, and k9 not found", got)
		}
		if s := b.Stats(); s.L2Hits-before.L2Hits != 3 || s.Loads-before.Loads != 1 || s.L1Hits-before.L1Hits != 3 {
			t.Fatalf("B: %d L1 hits, %d L2 hits, %d loads; want 3, 3 and 1", s.L1Hits-before.L1Hits, s.L2Hits-before.L2Hits, s.Loads-before.Loads)
		}
		// Everything is cached now, k9 as not found, on both nodes.
		for _, c := range []*tiered.Cache{a, b} {
			again, err := matroska.GetOrLoadMany(bg(), c, keys, db.load)
			if err != nil || len(again) != 9 {
				t.Fatalf("again: %v, %v", again, err)
			}
		}
		if calls := db.takeCalls(); len(calls) != 0 {
			t.Fatalf("loader calls after the batch: %v", calls)
		}
	})
}

// TestGetOrLoadManyOvertaken (G1, per key): an invalidation of one key's
// dependency during the batch load keeps that key out of both tiers; the
// other keys are stored.
func TestGetOrLoadManyOvertaken(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 2)
		a, b := cl.nodes[0], cl.nodes[1]
		db := newBatchDB()
		load := func(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]string, error) {
			out, err := db.load(ctx, keys, rec)
			// A write of k1 commits and is invalidated after the loader
			// read it.
			db.bump("k1")
			if err := a.Invalidate(ctx, deps.Id("row", "k1")); err != nil {
				t.Error(err)
			}
			return out, err
		}
		got, err := matroska.GetOrLoadMany(bg(), b, keyList(0, 3), load)
		if err != nil || got["k1"] != "k1@0" {
			t.Fatalf("the overtaken load answers its caller: %v, %v", got, err)
		}
		db.takeCalls()
		got, err = matroska.GetOrLoadMany(bg(), b, keyList(0, 3), db.load)
		if err != nil || got["k1"] != "k1@1" || got["k0"] != "k0@0" {
			t.Fatalf("after: %v, %v", got, err)
		}
		if calls := db.takeCalls(); len(calls) != 1 || !slices.Equal(calls[0], []string{"k1"}) {
			t.Fatalf("loader calls %v, want k1 alone: the others were stored", calls)
		}
	})
}

// TestGetOrLoadManyJoinsFlights: a key whose single load is running joins
// it (the batch loader does not load it); a load that started before an
// invalidation this node applied is loaded again (G3).
func TestGetOrLoadManyJoinsFlights(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		c := newClusterOn(t, topo, 1).nodes[0]
		db := newBatchDB()
		release, done := db.blockedSingle(c, "k1")
		batch := make(chan map[string]string, 1)
		go func() {
			got, err := matroska.GetOrLoadMany(bg(), c, keyList(0, 3), db.load)
			if err != nil {
				t.Error(err)
			}
			batch <- got
		}()
		waitFor(t, 5*time.Second, "the batch loads the keys it owns", func() bool { return len(db.takeCallsPeek()) == 1 })
		close(release)
		got := <-batch
		if <-done != "k1@0" || got["k1"] != "k1@0" || got["k0"] != "k0@0" {
			t.Fatalf("batch %v", got)
		}
		if calls := db.takeCalls(); len(calls) != 1 || slices.Contains(calls[0], "k1") {
			t.Fatalf("loader calls %v: k1 should have joined the single load", calls)
		}

		// G3: the single load of k5 read version 0; the write of k5
		// commits and is invalidated on this node; a batch that comes
		// after the invalidation returned must not get version 0.
		release, done = db.blockedSingle(c, "k5")
		db.bump("k5")
		if err := c.Invalidate(bg(), deps.Id("row", "k5")); err != nil {
			t.Fatal(err)
		}
		go func() {
			got, err := matroska.GetOrLoadMany(bg(), c, []string{"k5"}, db.load)
			if err != nil {
				t.Error(err)
			}
			batch <- got
		}()
		time.Sleep(50 * time.Millisecond) // the batch joins the single load
		close(release)
		<-done
		if got := <-batch; got["k5"] != "k5@1" {
			t.Fatalf("after its own invalidation the node read %q, want k5@1", got["k5"])
		}
	})
}

// blockedSingle starts a GetOrLoad of k on c whose loader reads k's
// version and then waits for release; it returns when the loader has read,
// and done receives the call's value.
func (db *batchDB) blockedSingle(c *tiered.Cache, k string) (release chan struct{}, done chan string) {
	started := make(chan struct{})
	release, done = make(chan struct{}), make(chan string, 1)
	go func() {
		v, _ := matroska.GetOrLoad(bg(), c, k, func(ctx context.Context, rec *matroska.Recorder) (string, error) {
			rec.Depend(deps.Id("row", k))
			db.mu.Lock()
			v := db.value(k)
			db.mu.Unlock()
			close(started)
			<-release
			return v, nil
		})
		done <- v
	}()
	<-started
	return release, done
}

func (db *batchDB) takeCallsPeek() [][]string {
	db.mu.Lock()
	defer db.mu.Unlock()
	return slices.Clone(db.calls)
}

// TestGetOrLoadManyErrors: a KeyErrors fails the keys it names (and
// caches nothing of them), the others are answered and cached; another
// error fails every key; a panic is a *PanicError for every key, and the
// keys' flights end.
func TestGetOrLoadManyErrors(t *testing.T) {
	c := newCluster(t, 1).nodes[0]
	db := newBatchDB()
	errRow := errors.New("row locked")
	partial := func(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]string, error) {
		out, _ := db.load(ctx, keys, rec)
		delete(out, "k1")
		return out, matroska.KeyErrors{"k1": errRow, "k2": matroska.ErrNotFound}
	}
	got, err := matroska.GetOrLoadMany(bg(), c, keyList(0, 3), partial)
	var kerrs matroska.KeyErrors
	if !errors.As(err, &kerrs) || len(kerrs) != 1 || !errors.Is(err, errRow) || got["k0"] != "k0@0" || len(got) != 1 {
		t.Fatalf("partial failure: %v, %v", got, err)
	}
	db.takeCalls()
	if got, err := matroska.GetOrLoadMany(bg(), c, keyList(0, 3), db.load); err != nil || got["k1"] != "k1@0" || len(got) != 2 {
		t.Fatalf("after: %v, %v; want k1 loaded, k0 cached, k2 cached as not found", got, err)
	}
	if calls := db.takeCalls(); len(calls) != 1 || !slices.Equal(calls[0], []string{"k1"}) {
		t.Fatalf("loader calls %v", calls)
	}

	down := errors.New("database down")
	_, err = matroska.GetOrLoadMany(bg(), c, keyList(5, 8), func(context.Context, []string, *matroska.BatchRecorder) (map[string]string, error) {
		return nil, down
	})
	if !errors.As(err, &kerrs) || len(kerrs) != 3 || !errors.Is(err, down) {
		t.Fatalf("a failed batch: %v", err)
	}

	_, err = matroska.GetOrLoadMany(bg(), c, keyList(10, 12), func(context.Context, []string, *matroska.BatchRecorder) (map[string]string, error) {
		panic("boom")
	})
	var pe *matroska.PanicError
	if !errors.As(err, &pe) || !errors.Is(err, matroska.ErrLoaderPanic) {
		t.Fatalf("a panicking batch loader: %v", err)
	}
	if v, err := matroska.GetOrLoad(bg(), c, "k10", db.single("k10")); err != nil || v != "k10@0" {
		t.Fatalf("after the panic: %q, %v", v, err)
	}
}

// TestGetOrLoadManyLease (G8): with the lease on, nodes whose batches miss
// the same keys at once load each key on one node only; the others wait
// for its entries. Without the lease each node loads what it misses.
func TestGetOrLoadManyLease(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		for _, lease := range []bool{true, false} {
			var nodes []*tiered.Cache
			for range 3 {
				nodes = append(nodes, newNode(t, cl.rdb, func(cfg *tiered.Config) { cfg.Lease = lease }))
			}
			var mu sync.Mutex
			loaded := map[string]int{}
			load := func(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]string, error) {
				time.Sleep(50 * time.Millisecond) // long enough for every node to miss
				mu.Lock()
				defer mu.Unlock()
				out := map[string]string{}
				for _, k := range keys {
					loaded[k]++
					out[k] = k
				}
				return out, nil
			}
			keys := keyList(0, 20)
			if lease {
				keys = keyList(100, 120) // cold in Redis for this round too
			}
			var wg sync.WaitGroup
			for _, n := range nodes {
				wg.Go(func() {
					got, err := matroska.GetOrLoadMany(bg(), n, keys, load)
					if err != nil || len(got) != len(keys) {
						t.Errorf("lease %v: %d values, %v", lease, len(got), err)
					}
				})
			}
			wg.Wait()
			total := 0
			for _, n := range loaded {
				total += n
			}
			switch {
			case lease && (len(loaded) != len(keys) || total != len(keys)):
				t.Errorf("with the lease: %d loads of %d keys, want one each: %v", total, len(loaded), loaded)
			case !lease && total <= len(keys):
				t.Errorf("without the lease the nodes loaded %d times for %d keys: the test cannot tell", total, len(keys))
			}
		}
	})
}
