package workload

import (
	"context"
	"runtime"
	"time"
)

// memory fills MemoryKeys entries through one node and measures the growth
// of the Go heap (after GC) per entry in L1 and of Redis's used_memory per
// entry. The node stays open while both are read.
func (r *runner) memory(ctx context.Context, a Adapter) (MemoryRow, error) {
	f := a.Features()
	row := MemoryRow{Adapter: a.Name(), Entries: r.cfg.MemoryKeys, L1Bytes: -1, RedisBytes: -1}
	src := NewSource(0, 0)
	env := r.env(src)
	defer r.finish(env)
	n, err := a.Open(ctx, env)
	if err != nil {
		return row, err
	}
	defer n.Close()
	const first = 3_000_000
	if _, err := n.Get(ctx, Key(first-1)); err != nil { // connections up
		return row, err
	}
	keys := make([]string, r.cfg.MemoryKeys)
	for i := range keys {
		keys[i] = Key(first + i)
	}
	heap0 := heapAfterGC()
	redis0, redisErr := usedMemory(ctx, r.admin)
	for pass := 0; pass < 2; pass++ { // the second pass fills caches that cache on read (rueidis)
		for _, k := range keys {
			if _, err := n.Get(ctx, k); err != nil {
				return row, err
			}
		}
	}
	time.Sleep(100 * time.Millisecond) // buffered L1 sets land
	heap1 := heapAfterGC()
	redis1, redisErr1 := usedMemory(ctx, r.admin)
	if f.L1 {
		for _, k := range keys {
			if n.InL1(ctx, k) {
				row.InL1++
			}
		}
		if row.InL1 > 0 {
			row.L1Bytes = float64(int64(heap1)-int64(heap0)) / float64(row.InL1)
		}
	}
	if f.L2 && redisErr == nil && redisErr1 == nil && len(keys) > 0 {
		row.RedisBytes = float64(redis1-redis0) / float64(len(keys))
	}
	row.Measured = true
	runtime.KeepAlive(keys)
	return row, nil
}

func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
