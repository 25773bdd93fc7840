package workload

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska/internal/redistest"
)

// TestBatchAndCodec runs the batch and codec workloads at tiny sizes and
// checks their shape: both read modes of both caches, one round trip per
// batch read in one call and one per key otherwise, no loader call; every
// codec on both values, the entry in Redis larger than the encoding by its
// envelope, one round trip per L2 hit of the list.
func TestBatchAndCodec(t *testing.T) {
	srv := redistest.Start(t)
	const size, batches, reads = 10, 4, 12
	cfg := Config{Quick: true, Workloads: []string{WBatch, WCodec}, BatchSize: size, Batches: batches, CodecDuration: 5 * time.Millisecond, CodecReads: reads}
	var progress strings.Builder
	adapters := []Adapter{Matroska{}, Matroska{Closure: true}, Ristretto{}, GoRedis{}}
	res, err := Run(context.Background(), cfg, srv.Options(), "t", adapters, NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %q", res.Errors)
	}
	want := []struct{ adapter, mode string }{
		{MatroskaName, BatchCall}, {MatroskaName, BatchSingles}, {RistrettoName, ""}, {GoRedisName, BatchCall}, {GoRedisName, BatchSingles},
	}
	if len(res.Batch) != len(want) {
		t.Fatalf("%d batch rows, want %d: %+v", len(res.Batch), len(want), res.Batch)
	}
	for i, w := range want {
		r := res.Batch[i]
		if r.Adapter != w.adapter || r.Mode != w.mode {
			t.Errorf("batch row %d: %s (%s), want %s (%s)", i, r.Adapter, r.Mode, w.adapter, w.mode)
			continue
		}
		if w.mode == "" {
			if r.Measured || r.Note != "no Redis tier" {
				t.Errorf("batch row of %s: %+v", r.Adapter, r)
			}
			continue
		}
		rt := 1.0
		if w.mode == BatchSingles {
			rt = size
		}
		if !r.Measured || r.Batches != batches || r.Keys != size || r.Loads != 0 || r.RTBatch != rt || r.AllocsBatch <= 0 || r.Mean <= 0 {
			t.Errorf("batch row of %s (%s): %+v, want %d batches of %d keys, %v round trips each, no load", r.Adapter, r.Mode, r, batches, size, rt)
		}
	}
	if len(res.Codec) != 8 || len(res.CodecRead) != 4 {
		t.Fatalf("%d codec rows, %d list reads; want 8 and 4", len(res.Codec), len(res.CodecRead))
	}
	for _, r := range res.Codec {
		if !r.Measured || r.Adapter != MatroskaName || r.EncodeNs <= 0 || r.DecodeNs <= 0 || r.Encoded <= 0 || r.Stored <= r.Encoded {
			t.Errorf("codec row %+v: want times, and an entry larger than the encoding", r)
		}
		compressed := strings.HasSuffix(r.Codec, "+s2")
		if r.Value == CodecList && compressed && r.Encoded > r.JSONBytes/2 {
			t.Errorf("%s: the list is %d bytes compressed, %d as JSON", r.Codec, r.Encoded, r.JSONBytes)
		}
		if r.Value == CodecItem && compressed && !strings.HasPrefix(r.Note, "not compressed") {
			t.Errorf("%s: the item's note is %q", r.Codec, r.Note)
		}
		if r.Value == CodecList && (r.JSONBytes < 18000 || r.JSONBytes > 22000) {
			t.Errorf("the list is %d bytes of JSON, want about 20 KB", r.JSONBytes)
		}
	}
	for _, r := range res.CodecRead {
		if !r.Measured || r.Reads != reads || r.RTOp != 1 || r.Loads != 0 {
			t.Errorf("L2 hit of the list, %s: %+v, want %d reads of one round trip, no load", r.Codec, r, reads)
		}
	}
	var md strings.Builder
	if err := res.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Batch read (cold L1)", "## Codecs", "## L2 hit of the list, per codec",
		"| batch: GetOrLoadMany of 10 keys <= 1.3x raw go-redis MGET + decode | ", "| batch: GetOrLoadMany >= 10x faster than 10 single GetOrLoad | "} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
	// batch: matroska, ristretto, go-redis; codec: matroska.
	if !strings.Contains(progress.String(), "[  4/4]") {
		t.Errorf("progress:\n%s", progress.String())
	}
	keys, err := srv.Client(t).Keys(context.Background(), "t:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left: %d, %v", len(keys), err)
	}
}

// TestBatchTargets checks the batch targets on figures that meet them and
// on figures that miss each.
func TestBatchTargets(t *testing.T) {
	rows := func(batch, raw, singles time.Duration) []BatchRow {
		return []BatchRow{
			{Adapter: MatroskaName, Mode: BatchCall, Keys: 100, Mean: batch, Measured: true},
			{Adapter: MatroskaName, Mode: BatchSingles, Keys: 100, Mean: singles, Measured: true},
			{Adapter: GoRedisName, Mode: BatchCall, Keys: 100, Mean: raw, Measured: true},
			{Adapter: GoRedisName, Mode: BatchSingles, Keys: 100, Mean: 3 * singles, Measured: true},
		}
	}
	const (
		faster = "batch: GetOrLoadMany >= 10x faster than 100 single GetOrLoad"
		mget   = "batch: GetOrLoadMany of 100 keys <= 1.3x raw go-redis MGET + decode"
	)
	for _, c := range []struct {
		name           string
		rows           []BatchRow
		mgetOK, fastOK bool
		mgetGot        string
	}{
		{"met", rows(600*time.Microsecond, 500*time.Microsecond, 6*time.Millisecond), true, true, "1.20x (600.0 µs vs 500.0 µs)"},
		{"at the bounds", rows(650*time.Microsecond, 500*time.Microsecond, 6500*time.Microsecond), true, true, "1.30x"},
		{"slower than raw", rows(time.Millisecond, 500*time.Microsecond, 20*time.Millisecond), false, true, "2.00x (1.00 ms vs 500.0 µs)"},
		{"not 10x the singles", rows(600*time.Microsecond, 500*time.Microsecond, 4*time.Millisecond), true, false, "1.20x"},
		{"both", rows(1900*time.Microsecond, time.Millisecond, 14*time.Millisecond), false, false, "1.90x"},
	} {
		t.Run(c.name, func(t *testing.T) {
			ts := batchTargets(c.rows)
			if len(ts) != 2 || ts[0].name != mget || ts[1].name != faster {
				t.Fatalf("targets %+v", ts)
			}
			if (ts[0].ok == "yes") != c.mgetOK || !strings.HasPrefix(ts[0].got, c.mgetGot) {
				t.Errorf("MGET target %+v, want met %v and %q", ts[0], c.mgetOK, c.mgetGot)
			}
			if (ts[1].ok == "yes") != c.fastOK {
				t.Errorf("singles target %+v, want met %v", ts[1], c.fastOK)
			}
		})
	}
	// A peer's batch read, and a peer without one: each a target of its own.
	peers := append(rows(time.Millisecond, 500*time.Microsecond, 8*time.Millisecond),
		BatchRow{Adapter: "peer", Mode: BatchCall, Keys: 100, Mean: 900 * time.Microsecond, Measured: true},
		BatchRow{Adapter: "peer", Mode: BatchSingles, Keys: 100, Mean: 9 * time.Millisecond, Measured: true},
		BatchRow{Adapter: "batchless", Mode: BatchCall, Keys: 100, Mean: 5 * time.Millisecond, Measured: true, Note: "no batch read: one Get per key"})
	ts := batchTargets(peers)
	if len(ts) != 4 ||
		ts[2].name != "batch: GetOrLoadMany faster than peer's batch read" || ts[2].ok != yes(false) ||
		ts[3].name != "batch: GetOrLoadMany faster than batchless's reads of a batch, one Get per key" || ts[3].ok != yes(true) {
		t.Errorf("targets against peers: %+v", ts)
	}
	// Without this library's batch row, or with nothing to compare it to,
	// there is no target.
	if ts := batchTargets(rows(time.Millisecond, 0, 0)[:1]); len(ts) != 0 {
		t.Errorf("targets without the other rows: %+v", ts)
	}
	if ts := batchTargets(rows(time.Millisecond, time.Millisecond, time.Millisecond)[1:]); len(ts) != 0 {
		t.Errorf("targets without the batch row: %+v", ts)
	}
}
