package tiered_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	matroska "github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// G5 with an invalidation whose message would exceed the bus's 64 KiB
// limit on messages (8,000 dependencies, about 90 KB joined): it reaches
// the other node through the channel, promptly, and not through a
// heartbeat that finds it missing and replays it from the log. (The
// message carries a reference to the log, which the node reads.) Signed
// and unsigned.
func TestG5_OversizedInvalidationTravelsOnTheChannel(t *testing.T) {
	forTopologies(t, func(t *testing.T, topo string) {
		cl := newClusterOn(t, topo, 0)
		client := func() redis.UniversalClient {
			if topo == "cluster" {
				return cl.rc.Client(t)
			}
			return cl.srv.Client(t)
		}
		for _, secret := range []string{"", "shared secret"} {
			name := "unsigned"
			if secret != "" {
				name = "signed"
			}
			t.Run(name, func(t *testing.T) { testOversizedInvalidation(t, client, "k:"+name, []byte(secret)) })
		}
	})
}

// testOversizedInvalidation runs the test with a key of its own (the
// variants share the Redis) and, when secret is not empty, signed messages.
func testOversizedInvalidation(t *testing.T, client func() redis.UniversalClient, key string, secret []byte) {
	const heartbeat = 500 * time.Millisecond // a replay would take one or two
	config := func(cfg *tiered.Config) {
		cfg.TrustWindow = 4 * heartbeat
		cfg.Heartbeat = heartbeat
		if len(secret) > 0 {
			cfg.MessageKey = secret
		}
	}
	writer, reader := newNode(t, client(), config), newNode(t, client(), config)
	ds := make([]deps.Dep, 8000)
	for i := range ds {
		ds[i] = deps.Id("row", i)
	}
	var version atomic.Int64
	load := func(ctx context.Context, rec *matroska.Recorder) (int64, error) {
		rec.Depend(ds[len(ds)-1])
		return version.Load(), nil
	}
	if v, err := matroska.GetOrLoad(bg(), reader, key, load); err != nil || v != 0 {
		t.Fatalf("first read %d, %v", v, err)
	}
	waitFor(t, 2*time.Second, "both nodes applied everything", func() bool {
		return writer.L1().Applied() == reader.L1().Applied()
	})
	inv := reader.L1().Applied() + 1
	before := reader.Stats().Bus

	version.Store(1)
	if err := writer.Invalidate(bg(), ds...); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitFor(t, 4*heartbeat, "the reader applied the invalidation", func() bool {
		return reader.L1().Applied() >= inv
	})
	took := time.Since(start)
	after := reader.Stats().Bus
	for _, c := range []struct {
		what          string
		before, after uint64
	}{
		{"malformed messages", before.Malformed, after.Malformed},
		{"forged messages", before.Forged, after.Forged},
		{"gaps", before.Gaps, after.Gaps},
		{"lost messages", before.Lost, after.Lost},
		{"replays", before.Replayed, after.Replayed},
		{"resets", before.Resets, after.Resets},
	} {
		if c.after != c.before {
			t.Errorf("the reader counted %d %s: the invalidation did not come through the channel", c.after-c.before, c.what)
		}
	}
	if d := after.Fetched - before.Fetched; d != 1 {
		t.Errorf("the reader read %d messages' dependencies from the log, want 1", d)
	}
	// No time bound here: on a loaded machine the message itself may take
	// a while. The counters above tell the channel from a heartbeat's
	// replay, which would count a lost message and a replay.
	if v, err := matroska.GetOrLoad(bg(), reader, key, load); err != nil || v != 1 {
		t.Fatalf("the reader read %d, %v after applying the invalidation", v, err)
	}
	t.Logf("applied %v after Invalidate returned", took)
}
