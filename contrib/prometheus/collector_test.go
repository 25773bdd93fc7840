package matroskaprom_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"

	"github.com/matroska-go/matroska"
	matroskaprom "github.com/matroska-go/matroska/contrib/prometheus"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCollector(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{Redis: srv.Client(t), Namespace: "prom", NodeID: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(matroskaprom.NewCollector(cache, matroskaprom.Options{})); err != nil {
		t.Fatal(err)
	}
	load := func(context.Context, *matroska.Recorder) (string, error) { return "v", nil }
	for range 3 {
		if _, err := matroska.GetOrLoad(ctx, cache, "k", load, matroska.Depend(deps.Tag("t"))); err != nil {
			t.Fatal(err)
		}
	}
	if err := cache.Invalidate(ctx, deps.Tag("t")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for cache.Stats().Bus.Received == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	problems, err := testutil.GatherAndLint(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	want := `
# HELP matroska_loads_total Loader calls.
# TYPE matroska_loads_total counter
matroska_loads_total{node="node-a"} 1
# HELP matroska_invalidations_sent_total Invalidations that reached Redis.
# TYPE matroska_invalidations_sent_total counter
matroska_invalidations_sent_total{node="node-a"} 1
# HELP matroska_bus_received_total Messages received on the channel.
# TYPE matroska_bus_received_total counter
matroska_bus_received_total{node="node-a"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want),
		"matroska_loads_total", "matroska_invalidations_sent_total", "matroska_bus_received_total"); err != nil {
		t.Fatal(err)
	}
	st := cache.Stats()
	hits := gauge(t, reg, "matroska_l1_hits_total") + gauge(t, reg, "matroska_l2_hits_total")
	if hits != float64(st.L1Hits+st.L2Hits) || hits != 2 {
		t.Fatalf("hits exported %v, Stats say %d+%d, want 2", hits, st.L1Hits, st.L2Hits)
	}
}

// gauge reads one metric's value from the registry.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("metric %s not exported", name)
	return 0
}

func TestTwoCachesOneRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, id := range []string{"a", "b"} {
		c, err := tiered.New(tiered.Config{NodeID: id})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := reg.Register(matroskaprom.NewCollector(c, matroskaprom.Options{ConstLabels: prometheus.Labels{"cache": id}})); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := testutil.GatherAndCount(reg, "matroska_loads_total"); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
}
