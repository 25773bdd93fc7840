package matroskaotel_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	matroskaotel "github.com/matroska-go/matroska/contrib/otel"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// The observed instruments, by kind.
var (
	counters = []string{
		"matroska.cache.hits", "matroska.cache.misses",
		"matroska.cache.loads", "matroska.cache.load_errors", "matroska.cache.shared_loads",
		"matroska.cache.refused_puts", "matroska.cache.refused_fills", "matroska.cache.corrupt_entries",
		"matroska.cache.lost_index", "matroska.cache.checked_reads",
		"matroska.cache.invalidations_sent", "matroska.cache.invalidations_applied",
		"matroska.cache.degraded", "matroska.cache.breaker_opens",
		"matroska.cache.rejoined_loads", "matroska.cache.refused_writes", "matroska.cache.holds",
		"matroska.cache.codec_mismatches", "matroska.cache.unfinished_invalidations", "matroska.cache.combined_invalidations",
		"matroska.cache.leases", "matroska.cache.lease_waits", "matroska.cache.lease_notified",
		"matroska.cache.lease_takeovers", "matroska.cache.refreshes", "matroska.cache.refreshes_stored",
		"matroska.cache.refreshes_refused", "matroska.cache.stale_served",
		"matroska.cache.l1.fills", "matroska.cache.l1.dropped_fills", "matroska.cache.l1.invalidated",
		"matroska.cache.l1.expired", "matroska.cache.l1.flushes",
		"matroska.cache.bus.received", "matroska.cache.bus.malformed", "matroska.cache.bus.gaps",
		"matroska.cache.bus.replays", "matroska.cache.bus.reconnects", "matroska.cache.bus.silences",
		"matroska.cache.bus.lost", "matroska.cache.bus.forged", "matroska.cache.bus.stale_epoch",
	}
	updowns = []string{"matroska.cache.l1.entries", "matroska.cache.l1.dependencies", "matroska.cache.l1.tombstones"}
	gauges  = []string{"matroska.cache.bus.sequence", "matroska.cache.bus.trusted"}
)

const lagName = "matroska.cache.propagation.duration"

// point is one data point of an int64 instrument.
type point struct {
	attrs attribute.Set
	value int64
}

// points returns the data points of an int64 sum or gauge.
func points(t *testing.T, m metricdata.Metrics) []point {
	t.Helper()
	var out []point
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, point{p.Attributes, p.Value})
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, point{p.Attributes, p.Value})
		}
	default:
		t.Fatalf("%s: data of type %T", m.Name, m.Data)
	}
	return out
}

// value returns the value of the metric name's point of tier ("" for a
// metric without tiers).
func value(t *testing.T, ms map[string]metricdata.Metrics, name, tier string) int64 {
	t.Helper()
	m, ok := ms[name]
	if !ok {
		t.Fatalf("%s not collected", name)
	}
	for _, p := range points(t, m) {
		if got, _ := p.attrs.Value(matroskaotel.AttrTier); got.AsString() == tier {
			return p.value
		}
	}
	t.Fatalf("%s has no point of tier %q", name, tier)
	return 0
}

// TestMetrics: every figure is collected, of the promised kind, with the
// node and the Options' attributes on each point; after a miss and a hit,
// the hits, misses and loads are those of Stats; an Invalidate counts, and
// its broadcast's return feeds the propagation histogram; Unregister stops
// the figures.
func TestMetrics(t *testing.T) {
	r := newRig(t, "node-a", matroskaotel.Options{})
	ctx := context.Background()
	missThenHit(ctx, t, r.cache, "k", valued{})

	ms := collect(t, r.reader)
	st := r.cache.Stats()
	for _, want := range []struct {
		name, tier string
		value      int64
	}{
		{"matroska.cache.hits", "l1", 1},
		{"matroska.cache.hits", "l2", int64(st.L2Hits)},
		{"matroska.cache.misses", "l1", int64(st.L1Misses)},
		{"matroska.cache.misses", "l2", 1},
		{"matroska.cache.loads", "", 1},
		{"matroska.cache.load_errors", "", 0},
		{"matroska.cache.l1.entries", "", 1},
		{"matroska.cache.l1.dependencies", "", 1},
		{"matroska.cache.bus.trusted", "", 1},
	} {
		if got := value(t, ms, want.name, want.tier); got != want.value {
			t.Errorf("%s{tier=%q} = %d, want %d", want.name, want.tier, got, want.value)
		}
	}
	if st.L1Misses < 1 {
		t.Errorf("Stats: %d L1 misses after a miss", st.L1Misses)
	}

	check := func(names []string, monotonic, sum bool) {
		t.Helper()
		for _, name := range names {
			m, ok := ms[name]
			if !ok {
				t.Errorf("%s not collected", name)
				continue
			}
			if m.Unit == "" || m.Description == "" {
				t.Errorf("%s: unit %q, description %q", name, m.Unit, m.Description)
			}
			if s, ok := m.Data.(metricdata.Sum[int64]); sum && (!ok || s.IsMonotonic != monotonic || s.Temporality != metricdata.CumulativeTemporality) {
				t.Errorf("%s: %T, want a cumulative sum, monotonic %v", name, m.Data, monotonic)
			}
			if _, ok := m.Data.(metricdata.Gauge[int64]); !sum && !ok {
				t.Errorf("%s: %T, want a gauge", name, m.Data)
			}
			ps := points(t, m)
			if want := 1 + boolInt(name == "matroska.cache.hits" || name == "matroska.cache.misses"); len(ps) != want {
				t.Errorf("%s: %d points, want %d", name, len(ps), want)
			}
			for _, p := range ps {
				if v, _ := p.attrs.Value(matroskaotel.AttrNode); v.AsString() != "node-a" {
					t.Errorf("%s: node %q", name, v.AsString())
				}
				if v, _ := p.attrs.Value(extra.Key); v != extra.Value {
					t.Errorf("%s: %s = %q", name, extra.Key, v.Emit())
				}
			}
		}
	}
	check(counters, true, true)
	check(updowns, false, true)
	check(gauges, false, false)
	if n := len(counters) + len(updowns) + len(gauges); len(ms) != n {
		t.Errorf("%d metrics collected, want %d: %v", len(ms), n, keys(ms))
	}

	// An invalidation, then its broadcast back to this node.
	if err := r.cache.Invalidate(ctx, deps.Tag("t")); err != nil {
		t.Fatal(err)
	}
	var lag metricdata.HistogramDataPoint[float64]
	waitFor(t, "the propagation histogram counts the invalidation", func() bool {
		m, ok := collect(t, r.reader)[lagName]
		if !ok {
			return false
		}
		h := m.Data.(metricdata.Histogram[float64])
		if len(h.DataPoints) != 1 {
			t.Fatalf("%s: %d points", lagName, len(h.DataPoints))
		}
		lag = h.DataPoints[0]
		return lag.Count >= 1
	})
	if lag.Sum <= 0 || lag.Sum > 5 {
		t.Errorf("%s: sum %vs", lagName, lag.Sum)
	}
	if v, _ := lag.Attributes.Value(matroskaotel.AttrNode); v.AsString() != "node-a" {
		t.Errorf("%s: node %q", lagName, v.AsString())
	}
	if v, _ := lag.Attributes.Value(extra.Key); v != extra.Value {
		t.Errorf("%s: %s = %q", lagName, extra.Key, v.Emit())
	}
	ms = collect(t, r.reader)
	if got := value(t, ms, "matroska.cache.invalidations_sent", ""); got != 1 {
		t.Errorf("invalidations_sent = %d, want 1", got)
	}
	if m := ms[lagName]; m.Unit != "s" {
		t.Errorf("%s: unit %q", lagName, m.Unit)
	}

	// A second Register is refused; Unregister stops the figures.
	if _, err := r.obs.Register(r.cache); !errors.Is(err, matroskaotel.ErrRegistered) {
		t.Errorf("a second Register: %v, want ErrRegistered", err)
	}
}

// TestUnregister: after Unregister a collection reads no Stats and
// reports no figures.
func TestUnregister(t *testing.T) {
	c, err := tiered.New(tiered.Config{NodeID: "solo"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	src := &counting{Source: c}
	reader := newReader(t)
	obs, err := matroskaotel.New(matroskaotel.Options{MeterProvider: reader.provider})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := obs.Register(src)
	if err != nil {
		t.Fatal(err)
	}
	if ms := collect(t, reader.ManualReader); len(ms) == 0 || src.n != 1 {
		t.Fatalf("registered: %d metrics, %d reads of Stats", len(ms), src.n)
	}
	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if ms := collect(t, reader.ManualReader); len(ms) != 0 || src.n != 1 {
		t.Errorf("unregistered: %v collected, %d reads of Stats", keys(ms), src.n)
	}
}

// counting is a Source that counts its reads of Stats (one goroutine).
type counting struct {
	matroskaotel.Source
	n int
}

func (c *counting) Stats() tiered.Stats {
	c.n++
	return c.Source.Stats()
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
