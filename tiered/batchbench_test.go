package tiered_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/ristretto/v2"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
)

// BenchmarkBatch reads 100 keys that are cold in L1 and warm in Redis: with
// one GetOrLoadMany, with a raw go-redis MGET and a JSON decode of each
// value, and with 100 GetOrLoad calls. One op is the 100 keys; compare the
// three in one run (GetOrLoadMany against the MGET: the target is 1.3x at
// most; against the single calls: at least 10x faster).
//
// Two more rows bound what those ratios can be. raw-MGET+L1 is the MGET and
// decode plus what any cache with a local tier adds to it: each value Set
// in a Ristretto configured as L1 is (its admission and eviction run on
// Ristretto's goroutine, as they do for L1). raw-GET-x100 is 100 raw GETs,
// what the single calls would cost with nothing around them: raw-GET-x100
// over raw-MGET is how much a batch can gain on this machine at best.
func BenchmarkBatch(b *testing.B) {
	const batch, batches = 100, 20
	srv := redistest.Start(b)
	ctx := context.Background()
	body := strings.Repeat("matroska ", 18)[:160]
	writer, reader, raw := benchNode(b, srv), benchNode(b, srv), srv.Client(b)
	item := func(k string) benchItem {
		id, _ := strconv.Atoi(strings.TrimPrefix(k, "item:"))
		return benchItem{ID: id, Version: 1, Name: k, Tags: []string{"cache", "go", "redis"}, Body: body}
	}
	load := func(ctx context.Context, keys []string, rec *matroska.BatchRecorder) (map[string]benchItem, error) {
		out := make(map[string]benchItem, len(keys))
		for _, k := range keys {
			out[k] = item(k)
			rec.For(k).Depend(deps.Id("item", out[k].ID))
		}
		return out, nil
	}
	noBatch := func(context.Context, []string, *matroska.BatchRecorder) (map[string]benchItem, error) {
		return nil, errNoLoad
	}
	sets := make([][]string, batches)
	pipe := raw.Pipeline()
	for i := range sets {
		for j := range batch {
			k := "item:" + strconv.Itoa(i*batch+j)
			sets[i] = append(sets[i], k)
			js, _ := json.Marshal(item(k))
			pipe.Set(ctx, "raw:"+k, js, time.Hour)
		}
		if _, err := matroska.GetOrLoadMany(ctx, writer, sets[i], load); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		b.Fatal(err)
	}
	// rawMGet is a raw read of keys: one MGET, then a JSON decode of each
	// value.
	rawMGet := func(b *testing.B, keys []string) map[string]benchItem {
		rk := make([]string, len(keys))
		for i, k := range keys {
			rk[i] = "raw:" + k
		}
		vals, err := raw.MGet(ctx, rk...).Result()
		if err != nil {
			b.Fatal(err)
		}
		out := make(map[string]benchItem, len(vals))
		for i, v := range vals {
			var it benchItem
			if err := json.Unmarshal([]byte(v.(string)), &it); err != nil {
				b.Fatal(err)
			}
			out[keys[i]] = it
		}
		return out
	}
	pos := 0
	next := func() []string {
		if pos%batches == 0 {
			reader.L1().Reset(reader.L1().Applied()) // every key cold again
		}
		pos++
		return sets[pos%batches]
	}
	b.Run("GetOrLoadMany", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			got, err := matroska.GetOrLoadMany(ctx, reader, next(), noBatch)
			if err != nil || len(got) != batch {
				b.Fatal(len(got), err)
			}
		}
	})
	b.Run("raw-MGET", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			keys := next()
			rawMGet(b, keys)
		}
	})
	b.Run("raw-MGET+L1", func(b *testing.B) {
		l1, err := ristretto.NewCache(&ristretto.Config[string, benchItem]{
			NumCounters: 1 << 20, MaxCost: 64 << 20, BufferItems: 64, IgnoreInternalCost: true,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer l1.Close()
		b.ReportAllocs()
		for b.Loop() {
			keys := next()
			if pos%batches == 1 {
				l1.Clear()
			}
			for k, it := range rawMGet(b, keys) {
				l1.SetWithTTL(k, it, 1, time.Hour)
			}
		}
	})
	b.Run("raw-GET-x100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, k := range next() {
				v, err := raw.Get(ctx, "raw:"+k).Bytes()
				if err != nil {
					b.Fatal(err)
				}
				var it benchItem
				if err := json.Unmarshal(v, &it); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("GetOrLoad-x100", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, k := range next() {
				if _, err := matroska.GetOrLoad(ctx, reader, k, noLoad); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}
