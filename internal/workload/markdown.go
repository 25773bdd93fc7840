package workload

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// Names of the reference adapters that ratios are taken against.
const (
	RistrettoName = "ristretto (raw)"
	// RistrettoNoTTLName is the raw Ristretto baseline whose items have no
	// TTL: the reference of the L1 hit ratio.
	RistrettoNoTTLName = "ristretto (raw, no TTL)"
	GoRedisName        = "go-redis (raw)"
	MatroskaName       = "matroska"
	// MatroskaLeaseName is the adapter of this library with the cross-node
	// lease on.
	MatroskaLeaseName = "matroska (lease)"
)

// fillRatios sets the ratio columns: L1 hits against raw Ristretto without
// TTL in the same mode (with a TTL when that row is missing), L2 hits and
// misses against raw go-redis.
func (res *Results) fillRatios() {
	base := res.hitBaseline()
	for i := range res.Hit {
		for _, b := range res.Hit {
			if b.Adapter == base && b.Parallel == res.Hit[i].Parallel && b.NsPerOp > 0 {
				res.Hit[i].Ratio = res.Hit[i].NsPerOp / b.NsPerOp
			}
		}
	}
	for i := range res.Batch {
		for _, b := range res.Batch {
			if b.Adapter == GoRedisName && b.Mode == BatchCall && b.Mean > 0 && res.Batch[i].Measured {
				res.Batch[i].Ratio = float64(res.Batch[i].Mean) / float64(b.Mean)
			}
		}
	}
	for _, rows := range [][]LatencyRow{res.L2, res.L2Paced, res.Miss} {
		for i := range rows {
			for _, b := range rows {
				if b.Adapter == GoRedisName && b.Mean > 0 && rows[i].Measured {
					rows[i].Ratio = float64(rows[i].Mean) / float64(b.Mean)
				}
			}
		}
	}
}

// hitBaseline is the adapter the L1 hits are compared with: raw Ristretto
// without TTL, whose Get reads no clock, when the run measured it, else raw
// Ristretto, whose Get checks its items' TTL against the system clock on
// every hit (which made this library's hit look as fast as a raw Get).
func (res *Results) hitBaseline() string {
	for _, r := range res.Hit {
		if r.Adapter == RistrettoNoTTLName {
			return RistrettoNoTTLName
		}
	}
	return RistrettoName
}

// hitRow is the L1 hit row of adapter in the mode parallel (zero when the
// run did not measure it).
func (res *Results) hitRow(adapter string, parallel bool) HitRow {
	for _, r := range res.Hit {
		if r.Adapter == adapter && r.Parallel == parallel {
			return r
		}
	}
	return HitRow{}
}

// WriteMarkdown writes the results as Markdown tables, with a summary of
// this library's targets first.
func (res *Results) WriteMarkdown(w io.Writer) error {
	res.fillRatios()
	var b strings.Builder
	c := res.Config
	fmt.Fprintf(&b, "# Matroska benchmark, %s\n\n", res.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "- machine: %s\n- redis: %s\n- run time: %s, %s mode\n", res.Machine, res.Redis,
		res.Elapsed.Round(time.Second), map[bool]string{true: "quick", false: "full"}[c.Quick])
	fmt.Fprintf(&b, "- caches: %s\n", strings.Join(res.Adapters, ", "))
	b.WriteString("- every cache stores the same ~300-byte item, JSON-encoded where it goes to Redis, loaded from the same simulated database under the same keys\n\n")
	res.writeTargets(&b)

	if len(res.Hit) > 0 {
		fmt.Fprintf(&b, "## L1 hit\n\nOne node per cache, %d warm keys read in turn for %v in all; the caches take turns in %d slices of it, so that a drift in the machine's load weighs on all alike. ns/op is wall time per read (total throughput with several goroutines). Redis cmds/op is counted by the server (INFO) and should be about 0 for an L1 hit.\n\n", c.HitKeys, c.HitDuration, hitRounds)
		table(&b, []string{"cache", "goroutines", "ns/op", "vs " + res.hitBaseline(), "allocs/op", "B/op", "Redis cmds/op", "loads", "note"})
		for _, r := range res.Hit {
			row(&b, r.Adapter, fmt.Sprint(r.Goroutines), f1(r.NsPerOp), ratio(r.Ratio), f2(r.AllocsOp), f1(r.BytesOp), f3(r.RedisOp), fmt.Sprint(r.Loads), r.Note)
		}
		b.WriteString("\n")
	}
	lat := func(title, text string, rows []LatencyRow) {
		if len(rows) == 0 {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", title, text)
		table(&b, []string{"cache", "reads", "mean", "p50", "p99", "vs raw go-redis", "round trips/read", "Redis cmds/read", "loads", "note"})
		for _, r := range rows {
			if !r.Measured {
				row(&b, r.Adapter, "", "", "", "", "", "", "", "", r.Note)
				continue
			}
			rt := "n/o"
			if r.RTOp >= 0 {
				rt = f2(r.RTOp)
			}
			row(&b, r.Adapter, fmt.Sprint(r.Ops), dur(r.Mean), dur(r.P50), dur(r.P99), ratio(r.Ratio), rt, f2(r.RedisOp), fmt.Sprint(r.Loads), r.Note)
		}
		b.WriteString("\n")
	}
	lat("L2 hit (cold L1)", fmt.Sprintf("Another node put %d keys in Redis; a node that never saw them reads each once, one goroutine. The caches take turns in rounds of %d reads, so that load from other processes weighs on all alike. Round trips are counted on go-redis clients (n/o: not observable, rueidis pipelines its commands itself); Redis cmds/read is counted by the server and includes commands run inside scripts.", c.L2Keys, latencyRound), res.L2)
	lat(fmt.Sprintf("L2 hit (cold L1), paced %v", c.Pace), fmt.Sprintf("The same, with %v of busy work before every read of every cache, as a service does between reads: each read finds Redis idle. Back to back, a read on a small VM is fast when it follows the previous one within a few microseconds (the server is still awake) and tens of microseconds slower otherwise, so the back-to-back ratio also measures how much work a cache does between its round trips.", c.Pace), res.L2Paced)
	lat("Miss, load and put", fmt.Sprintf("%d keys in no tier, each read once, one goroutine, a loader that returns at once; the caches take turns in rounds of %d reads.", c.MissKeys, latencyRound), res.Miss)

	if len(res.Propagation) > 0 {
		fmt.Fprintf(&b, "## Invalidation propagation to %d nodes\n\nEvery node holds the key in L1; node 0 invalidates it (this library: Invalidate of the key's dependency; the others: DEL or their delete call); one goroutine polls every node's L1 (this library: InL1; rueidis: DoCache until IsCacheHit is false) and notes when each stops serving it. Latency is from the call to the last node's eviction, over %d rounds.\n\n", c.Nodes, c.Rounds)
		table(&b, []string{"cache", "rounds", "call p50", "last node p50", "p99", "max", "timeouts (2 s)", "note"})
		for _, r := range res.Propagation {
			if !r.Measured {
				row(&b, r.Adapter, "", "", "", "", "", "", r.Note)
				continue
			}
			row(&b, r.Adapter, fmt.Sprint(r.Rounds), dur(r.Call), dur(r.P50), dur(r.P99), dur(r.Max), fmt.Sprint(r.Timeouts), r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.BigDep) > 0 {
		fmt.Fprintf(&b, "## Invalidating one dependency with %d dependents\n\nThe longest Redis call is the longest round trip of the invalidating node's client; SLOWLOG lists the commands of this run over %v; the PING column is the longest PING another client saw during the call (how long Redis served no one).\n\n", c.BigDepEntries, slowlogThreshold)
		table(&b, []string{"cache", "entries", "fill", "Invalidate", "longest Redis call", "longest in SLOWLOG", "slow commands", "longest PING", "left (sampled)", "note"})
		for _, r := range res.BigDep {
			if !r.Measured {
				row(&b, r.Adapter, fmt.Sprint(r.Entries), "", "", "", "", "", "", "", r.Note)
				continue
			}
			sl := "n/a"
			if r.SlowlogMax >= 0 {
				sl = dur(r.SlowlogMax)
			}
			row(&b, r.Adapter, fmt.Sprint(r.Entries), dur(r.Fill), dur(r.Total), dur(r.MaxCall), sl, fmt.Sprint(r.SlowlogN), dur(r.PingMax), fmt.Sprintf("%d/%d", r.Left, r.Sampled), r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.Stampede) > 0 {
		fmt.Fprintf(&b, "## Stampede\n\n%d nodes x %d goroutines ask for one cold key at once; the loader takes %v. %d rounds, each on a new key.\n\n", c.Nodes, c.StampedeWaiter, c.StampedeLoad, stampedeRounds)
		table(&b, []string{"cache", "loader calls (min-max)", "time to answer all", "note"})
		for _, r := range res.Stampede {
			if !r.Measured {
				row(&b, r.Adapter, "", "", r.Note)
				continue
			}
			row(&b, r.Adapter, fmt.Sprintf("%d-%d", r.MinLoads, r.MaxLoads), dur(r.Wall), r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.Mixed) > 0 {
		fmt.Fprintf(&b, "## Mixed workload\n\n%d nodes x %d goroutines, Zipf (s=%.2f) over %d keys, %.1f%% writes (commit a new version, then invalidate the key), a loader of %v (the database). Measured %v after a warm-up of a third of that. Loads are loader calls per read; L2 is the rest (Redis, or a load shared with another caller). A stale read returned a version older than one whose invalidation had returned before the read began; it is counted apart when it was on the node that called that invalidation (for this library a breach of read-your-writes, G3), and when it was on another node and began more than the cache's bound after the invalidation returned (this library: its trust window, G4). On another node within the bound it is the broadcast still in flight. Oldest is the longest time between such an invalidation's return and a stale read's start.\n\n",
			c.MixedNodes, c.MixedWorkers, c.ZipfS, c.MixedKeys, 100*c.WriteRatio, c.MixedLoad, c.MixedDuration)
		table(&b, []string{"cache", "ops/s", "L1 hits", "L2 hits", "loads", "loader calls/s", "stale reads", "on the writer's node", "beyond the bound", "oldest", "read p50", "read p99", "errors", "note"})
		for _, r := range res.Mixed {
			if !r.Measured {
				row(&b, r.Adapter, "", "", "", "", "", "", "", "", "", "", "", "", r.Note)
				continue
			}
			over := "no bound"
			if r.Bound > 0 {
				over = fmt.Sprintf("%d (bound %s)", r.StaleOver, dur(r.Bound))
			}
			row(&b, r.Adapter, f0(r.OpsPerSec), pc(r.L1Ratio), pc(r.L2Ratio), pc(r.LoadRatio), f0(r.LoadsPerSec), fmt.Sprint(r.Stale), fmt.Sprint(r.StaleWriter), over, dur(r.StaleAge), dur(r.P50), dur(r.P99), fmt.Sprint(r.Errors), r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.Memory) > 0 {
		fmt.Fprintf(&b, "## Memory per cached entry\n\n%d entries filled through one node: Go heap growth after GC per entry in L1, Redis used_memory growth per entry.\n\n", c.MemoryKeys)
		table(&b, []string{"cache", "entries", "in L1", "L1 bytes/entry", "Redis bytes/entry"})
		for _, r := range res.Memory {
			l1, rd := "n/a", "n/a"
			if r.L1Bytes >= 0 {
				l1 = f0(r.L1Bytes)
			}
			if r.RedisBytes >= 0 {
				rd = f0(r.RedisBytes)
			}
			row(&b, r.Adapter, fmt.Sprint(r.Entries), fmt.Sprint(r.InL1), l1, rd)
		}
		b.WriteString("\n")
	}
	res.writeBatch(&b)
	res.writeCodecs(&b)
	res.writeFleet(&b)
	for _, name := range slices.Sorted(maps.Keys(res.Extensions)) {
		if err := res.Extensions[name].WriteMarkdown(&b); err != nil {
			return fmt.Errorf("workload: %s: %w", name, err)
		}
	}
	if len(res.Errors) > 0 {
		b.WriteString("## Errors\n\n")
		for _, e := range res.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeTargets writes the performance targets of this library against the
// figures of the run.
func (res *Results) writeTargets(b *strings.Builder) {
	var ts []target
	var hitFigures []string
	for _, h := range res.Hit {
		if h.Adapter != MatroskaName {
			continue
		}
		mode := "1 goroutine"
		if h.Parallel {
			mode = fmt.Sprintf("%d goroutines", h.Goroutines)
		}
		// The hit reads the monotonic clock once, for the bus's trust
		// (G4), as a raw Ristretto Get reads it for a TTL: the target is
		// against that Get. Against a Get that reads no clock, the ratio is
		// a figure: the clock read is most of the difference, and G4 needs it.
		if raw := res.hitRow(RistrettoName, h.Parallel); raw.NsPerOp > 0 {
			r := h.NsPerOp / raw.NsPerOp
			ts = append(ts, target{"L1 hit <= 1.2x raw Ristretto Get with TTL, both reading the clock once (" + mode + ")", fmt.Sprintf("%.2fx", r), yes(r <= 1.2)})
		}
		if h.Ratio > 0 && res.hitBaseline() == RistrettoNoTTLName {
			hitFigures = append(hitFigures, fmt.Sprintf("L1 hit (%s): %.2fx raw Ristretto Get without TTL, which reads no clock; most of the difference is the clock read that keeps the bus's trust exact (G4)", mode, h.Ratio))
		}
		ts = append(ts, target{"L1 hit: 0 allocations (" + mode + ")", f2(h.AllocsOp), yes(h.AllocsOp < 0.01)})
		for _, o := range res.Hit {
			if o.Parallel != h.Parallel || o.Adapter == h.Adapter || strings.HasPrefix(o.Adapter, MatroskaName) || o.Adapter == RistrettoName || o.Adapter == RistrettoNoTTLName || o.NsPerOp == 0 {
				continue
			}
			ts = append(ts, target{"L1 hit faster than " + o.Adapter + " (" + mode + ")", fmt.Sprintf("%s vs %s ns", f1(h.NsPerOp), f1(o.NsPerOp)), yes(h.NsPerOp < o.NsPerOp)})
		}
	}
	figures := hitFigures
	for _, r := range res.L2 {
		if r.Adapter == MatroskaName && r.Measured {
			if r.Ratio > 0 {
				// Back to back, a read that follows the previous one within
				// microseconds finds Redis still awake, and a raw client
				// that does nothing between its reads meets that case more
				// often than a cache (see spin): the ratio measures the
				// server's wake-up as much as the cache. The paced ratio
				// below is the target.
				figures = append(figures, fmt.Sprintf("L2 hit back to back: %.2fx raw go-redis GET + decode (swings with how often Redis is found awake; the paced ratio is the target)", r.Ratio))
			}
			ts = append(ts, target{"L2 hit: one round trip", f2(r.RTOp), yes(r.RTOp >= 0 && r.RTOp <= 1.05)})
		}
	}
	for _, r := range res.L2Paced {
		if r.Adapter == MatroskaName && r.Measured && r.Ratio > 0 {
			ts = append(ts, target{fmt.Sprintf("L2 hit <= 1.2x raw go-redis GET + decode (paced %v)", res.Config.Pace), fmt.Sprintf("%.2fx", r.Ratio), yes(r.Ratio <= 1.2)})
		}
	}
	for _, r := range res.Miss {
		if r.Adapter == MatroskaName && r.Measured {
			ts = append(ts, target{"miss: at most two round trips plus the loader", f2(r.RTOp), yes(r.RTOp >= 0 && r.RTOp <= 2.05)})
		}
	}
	for _, r := range res.Propagation {
		if r.Adapter == MatroskaName && r.Measured {
			ts = append(ts, target{fmt.Sprintf("propagation to %d nodes: p99 < 2 ms", r.Nodes), "p50 " + dur(r.P50) + ", p99 " + dur(r.P99), yes(r.P99 < 2*time.Millisecond && r.Timeouts == 0)})
		}
	}
	for _, r := range res.BigDep {
		if r.Adapter == MatroskaName && r.Measured {
			longest := max(r.MaxCall, r.SlowlogMax)
			ts = append(ts, target{fmt.Sprintf("invalidate %d dependents: no Redis call over 50 ms", r.Entries), dur(longest) + " (total " + dur(r.Total) + ")", yes(longest <= 50*time.Millisecond && r.Left == 0)})
		}
	}
	for _, r := range res.Stampede {
		switch {
		case r.Adapter == MatroskaName && r.Measured:
			ts = append(ts, target{fmt.Sprintf("stampede %dx%d: %d loader calls without the lease", r.Nodes, r.Goroutines, r.Nodes), fmt.Sprintf("%d-%d", r.MinLoads, r.MaxLoads), yes(r.MaxLoads <= int64(r.Nodes))})
		case r.Adapter == MatroskaLeaseName && r.Measured:
			ts = append(ts, target{fmt.Sprintf("stampede %dx%d: 1 loader call with the lease", r.Nodes, r.Goroutines), fmt.Sprintf("%d-%d", r.MinLoads, r.MaxLoads), yes(r.MaxLoads == 1)})
		}
	}
	ts = append(ts, batchTargets(res.Batch)...)
	for _, r := range res.Mixed {
		if r.Adapter == MatroskaName && r.Measured {
			ts = append(ts, mixedTargets(r)...)
			figures = append(figures, fmt.Sprintf("mixed: %d stale reads on other nodes within the trust window (of %d reads): the broadcast still in flight, which G3 and G4 allow; the oldest stale read began %s after the invalidation it missed returned", r.Stale-r.StaleWriter-r.StaleOver, r.Reads, dur(r.StaleAge)))
		}
	}
	if len(ts) == 0 {
		return
	}
	b.WriteString("## Targets of this library\n\n")
	table(b, []string{"target", "measured", "met"})
	for _, t := range ts {
		row(b, t.name, t.got, t.ok)
	}
	b.WriteString("\n")
	if len(figures) > 0 {
		b.WriteString("Figures, not targets:\n\n")
		for _, f := range figures {
			fmt.Fprintf(b, "- %s\n", f)
		}
		b.WriteString("\n")
	}
}

// writeBatch writes the table of the batch workload.
func (res *Results) writeBatch(b *strings.Builder) {
	if len(res.Batch) == 0 {
		return
	}
	c := res.Config
	fmt.Fprintf(b, "## Batch read (cold L1)\n\nAnother node put the keys in Redis; a node that never saw them reads %d batches of %d keys, each once, one goroutine: in one call (this library: GetOrLoadMany; go-redis: one MGET and a JSON decode of each value; rueidis: MGetCache) and, on other keys, one read per key (this library: GetOrLoad). Times, allocations (the whole process, runtime.MemStats), round trips and Redis commands are per batch. The caches and both modes take turns in rounds of %d batches.\n\n", c.Batches, c.BatchSize, batchRound)
	table(b, []string{"cache", "read", "batches", "mean", "p50", "p99", "vs raw MGET", "allocs/batch", "KB/batch", "round trips/batch", "Redis cmds/batch", "loads", "note"})
	for _, r := range res.Batch {
		if !r.Measured {
			row(b, r.Adapter, r.Mode, "", "", "", "", "", "", "", "", "", "", r.Note)
			continue
		}
		rt := "n/o"
		if r.RTBatch >= 0 {
			rt = f2(r.RTBatch)
		}
		mode := "1 call"
		if r.Mode == BatchSingles {
			mode = fmt.Sprintf("%d calls", r.Keys)
		}
		row(b, r.Adapter, mode, fmt.Sprint(r.Batches), dur(r.Mean), dur(r.P50), dur(r.P99), ratio(r.Ratio), f0(r.AllocsBatch), f1(r.BytesBatch/1024), rt, f2(r.RedisBatch), fmt.Sprint(r.Loads), r.Note)
	}
	b.WriteString("\n")
}

// writeCodecs writes the tables of the codec workload.
func (res *Results) writeCodecs(b *strings.Builder) {
	if len(res.Codec) > 0 {
		fmt.Fprintf(b, "## Codecs\n\nEach codec encodes and decodes two values, for %v each in %d turns: `%s`, the item every workload caches, and `%s`, %d such items whose bodies are words drawn at random (seeded), so that it compresses as text does. Stored is the Redis string of the entry (STRLEN), the envelope included (the dependency, the sequence mark and epoch, the times, the codec's name); the compressed codecs compress encodings over 1024 bytes with S2. Allocations are the whole process's.\n\n",
			res.Config.CodecDuration, codecRounds, CodecItem, CodecList, codecListItems)
		table(b, []string{"cache", "codec", "value", "JSON bytes", "encoded bytes", "stored bytes", "encode", "decode", "allocs encode/decode", "note"})
		for _, r := range res.Codec {
			if !r.Measured {
				row(b, r.Adapter, r.Codec, r.Value, "", "", "", "", "", "", r.Note)
				continue
			}
			row(b, r.Adapter, r.Codec, r.Value, fmt.Sprint(r.JSONBytes), fmt.Sprint(r.Encoded), fmt.Sprint(r.Stored),
				dur(time.Duration(r.EncodeNs)), dur(time.Duration(r.DecodeNs)), f0(r.EncodeAllocs)+" / "+f0(r.DecodeAllocs), r.Note)
		}
		b.WriteString("\n")
	}
	if len(res.CodecRead) > 0 {
		fmt.Fprintf(b, "## L2 hit of the list, per codec\n\nAnother node put the list under %d keys with each codec; a node that never read them reads each once (GetOrLoad), one goroutine; the codecs take turns in rounds of %d reads.\n\n", res.Config.CodecReads, codecReadRound)
		table(b, []string{"cache", "codec", "reads", "mean", "p50", "p99", "round trips/read", "loads", "note"})
		for _, r := range res.CodecRead {
			if !r.Measured {
				row(b, r.Adapter, r.Codec, "", "", "", "", "", "", r.Note)
				continue
			}
			row(b, r.Adapter, r.Codec, fmt.Sprint(r.Reads), dur(r.Mean), dur(r.P50), dur(r.P99), f2(r.RTOp), fmt.Sprint(r.Loads), r.Note)
		}
		b.WriteString("\n")
	}
}

// target is one row of the target table: what is promised, what the run
// measured, and "yes" or "**no**".
type target struct{ name, got, ok string }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// mixedTargets are the targets of this library's mixed workload: what the
// guarantees promise of reads after an invalidation returned. A read on the
// writer's node never returns the old value (G3); a read on another node
// may while the broadcast travels, but not longer than the trust window
// (G4). Stale reads within it are not a target: how many there are depends
// on the machine's load, not on a guarantee.
func mixedTargets(r MixedRow) []target {
	return []target{
		{"mixed: no stale read on the writer's node (G3)", fmt.Sprint(r.StaleWriter), yes(r.StaleWriter == 0)},
		{fmt.Sprintf("mixed: no stale read older than the trust window, %s (G4)", dur(r.Bound)), fmt.Sprintf("%d (oldest %s)", r.StaleOver, dur(r.StaleAge)), yes(r.Bound > 0 && r.StaleOver == 0)},
		{"mixed: no errors", fmt.Sprint(r.Errors), yes(r.Errors == 0)},
	}
}

func table(b *strings.Builder, head []string) {
	row(b, head...)
	seps := make([]string, len(head))
	for i := range seps {
		seps[i] = "---"
	}
	row(b, seps...)
}

func row(b *strings.Builder, cells ...string) {
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + strings.ReplaceAll(c, "|", "\\|") + " |")
	}
	b.WriteString("\n")
}

func f0(x float64) string { return fmt.Sprintf("%.0f", x) }
func f1(x float64) string { return fmt.Sprintf("%.1f", x) }
func f2(x float64) string { return fmt.Sprintf("%.2f", x) }
func f3(x float64) string { return fmt.Sprintf("%.3f", x) }
func pc(x float64) string { return fmt.Sprintf("%.1f%%", 100*x) }

func ratio(x float64) string {
	if x == 0 {
		return ""
	}
	return fmt.Sprintf("%.2fx", x)
}

// dur formats d with three significant digits.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%d ns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.1f µs", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
