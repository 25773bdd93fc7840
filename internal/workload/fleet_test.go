package workload

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska/internal/redistest"
)

// TestFleetCostCold runs the fleet, redis-cost and cold workloads at tiny
// sizes and checks their shape, never their timings: a fleet row per rate
// step of each size, the climb stopping at the first step not sustained;
// every path of redis-cost with a script where one is expected; a cold
// row for both variants of this library and none for the caches without
// both tiers.
func TestFleetCostCold(t *testing.T) {
	srv := redistest.Start(t)
	cfg := Config{
		Quick: true, Workloads: []string{WFleet, WCost, WCold},
		FleetNodes: []int{2, 3}, FleetRates: []int{100, 200}, FleetStep: 150 * time.Millisecond, FleetHotKeys: 20,
		CostOps: 20, ColdNodes: 2, ColdWorkers: 2, ColdKeys: 200, ColdMax: 3 * time.Second, MixedLoad: time.Microsecond,
	}
	var progress strings.Builder
	adapters := []Adapter{Matroska{}, Matroska{Lease: true}, Ristretto{}, GoRedis{}}
	res, err := Run(context.Background(), cfg, srv.Options(), "t", adapters, NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %q", res.Errors)
	}

	// Fleet: this library only (the others have no cross-node invalidation).
	steps := map[int]int{}
	for _, r := range res.Fleet {
		if r.Adapter != MatroskaName || !r.Measured || r.Invalidations <= 0 || r.Elapsed <= 0 {
			t.Errorf("fleet row %+v", r)
		}
		if r.Samples+r.Timeouts == 0 || r.Published <= 0 || r.Delivered <= 0 || r.Top == "" {
			t.Errorf("fleet row of %d nodes at %d/s: %d samples, %v published/s, %v delivered/s, top %q", r.Nodes, r.Rate, r.Samples, r.Published, r.Delivered, r.Top)
		}
		steps[r.Nodes]++
	}
	for _, n := range cfg.FleetNodes {
		if steps[n] < 1 || steps[n] > len(cfg.FleetRates) {
			t.Errorf("%d fleet steps of %d nodes", steps[n], n)
		}
	}
	if len(res.FleetBest) != len(cfg.FleetNodes) {
		t.Errorf("fleet best: %+v", res.FleetBest)
	}

	// redis-cost: the raw paths, then this library's.
	want := []string{CostSet, CostGet, CostDel, CostPutPath(1), CostHit, fmt.Sprintf(CostPut, 5), fmt.Sprintf(CostPut, 50), fmt.Sprintf(CostInv, 10), fmt.Sprintf(CostInv, 1000)}
	if len(res.Cost) != len(want) {
		t.Fatalf("%d redis-cost rows, want %d: %+v", len(res.Cost), len(want), res.Cost)
	}
	for i, r := range res.Cost {
		raw := i < 3
		if r.Path != want[i] || !r.Measured || r.Ops <= 0 || r.Calls <= 0 || r.Top == "" || (r.Adapter == GoRedisName) != raw {
			t.Errorf("redis-cost row %d: %+v, want %s", i, r, want[i])
			continue
		}
		if raw && (r.Calls != 1 || r.Scripts != 0) {
			t.Errorf("%s: %v commands and %v scripts per op, want one command", r.Path, r.Calls, r.Scripts)
		}
		if strings.HasPrefix(r.Path, "miss") || strings.HasPrefix(r.Path, "invalidate") {
			if r.Scripts < 1 || r.ScriptVsSet <= 0 || r.Base == "" {
				t.Errorf("%s: %+v, want a script per op and the ratios", r.Path, r)
			}
		}
	}

	// Cold: both variants of this library, nothing else.
	if len(res.Cold) != 2 || res.Cold[0].Adapter != MatroskaName || res.Cold[1].Adapter != MatroskaLeaseName {
		t.Fatalf("cold rows: %+v", res.Cold)
	}
	for _, r := range res.Cold {
		if !r.Measured || r.Reads <= 0 || r.KeysRead <= 0 || r.KeysRead > int64(cfg.ColdKeys) || r.Loads < r.KeysRead || len(r.Curve) == 0 || r.WorstRead <= 0 {
			t.Errorf("cold row %+v", r)
		}
		if r.Reached != (r.To90 > 0) {
			t.Errorf("cold row of %s: reached %v at %v", r.Adapter, r.Reached, r.To90)
		}
	}

	var md strings.Builder
	if err := res.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"## Fleet invalidations", "Highest sustained invalidation rate:", "## Redis CPU per operation", "## Cold fleet", "| miss + put, 50 dependencies | matroska | 20 |"} {
		if !strings.Contains(md.String(), s) {
			t.Errorf("results.md lacks %q", s)
		}
	}
	// fleet: 2 sizes; redis-cost: 1; cold: 2.
	if !strings.Contains(progress.String(), "[  5/5]") {
		t.Errorf("progress:\n%s", progress.String())
	}
	keys, err := srv.Client(t).Keys(context.Background(), "t:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left: %d, %v", len(keys), err)
	}
}

// TestParseServer reads the fields of INFO cpu, stats and commandstats
// that the workloads use, and the difference of two readings.
func TestParseServer(t *testing.T) {
	a, err := parseServer("# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.000000\r\n# Stats\r\ntotal_commands_processed:100\r\n# Commandstats\r\ncmdstat_get:calls=10,usec=20,usec_per_call=2.00,rejected_calls=0,failed_calls=0\r\ncmdstat_info:calls=5,usec=50,usec_per_call=10.00\r\n")
	if err != nil {
		t.Fatal(err)
	}
	b, err := parseServer("used_cpu_sys:1.600000\nused_cpu_user:2.100000\ntotal_commands_processed:131\ncmdstat_get:calls=20,usec=40\ncmdstat_evalsha:calls=10,usec=150\ncmdstat_info:calls=6,usec=60\n")
	if err != nil {
		t.Fatal(err)
	}
	d := b.since(a)
	if d.cpu != 200*time.Millisecond || d.cmds != 30 || d.calls("get", "evalsha") != 20 || d.usec("get") != 20 || d.usec("evalsha") != 150 {
		t.Errorf("delta %+v", d)
	}
	if _, ok := d.per["info"]; ok {
		t.Errorf("the INFO calls are counted: %+v", d.per)
	}
	if got := d.top(10, 1); got != "evalsha 1.00 x 15.00 µs" {
		t.Errorf("top = %q", got)
	}
	if _, err := parseServer("used_cpu_sys:1\n"); err == nil {
		t.Error("INFO without used_cpu_user: no error")
	}
}

// TestFleetBest checks the highest sustained step and the reasons the climb
// stopped.
func TestFleetBest(t *testing.T) {
	rows := []FleetRow{
		{Adapter: "a", Nodes: 8, Rate: 500, Achieved: 499, Samples: 10, P99: time.Millisecond, Sustained: true, Measured: true},
		{Adapter: "a", Nodes: 8, Rate: 1000, Achieved: 998, Samples: 10, P99: 2 * time.Millisecond, Sustained: true, Measured: true},
		{Adapter: "a", Nodes: 8, Rate: 2000, Achieved: 1500, Samples: 10, P99: 20 * time.Millisecond, Errors: 2, Measured: true},
		{Adapter: "a", Nodes: 32, Rate: 500, Achieved: 499, Samples: 10, P99: time.Millisecond, Sustained: true, Measured: true},
		{Adapter: "b", Nodes: 8, Rate: 500, Achieved: 100, Measured: true},
	}
	got := fleetBest(rows)
	if len(got) != 3 {
		t.Fatalf("%+v", got)
	}
	if g := got[0]; g.Rate != 1000 || g.Achieved != 998 || g.StoppedAt != 2000 || g.StoppedBy != "2 errors; p99 20.00 ms; 1500/s achieved" {
		t.Errorf("a, 8 nodes: %+v", g)
	}
	if g := got[1]; g.Rate != 500 || g.StoppedAt != 0 || g.StoppedBy != "" {
		t.Errorf("a, 32 nodes: %+v", g)
	}
	if g := got[2]; g.Rate != 0 || g.StoppedAt != 500 || g.StoppedBy != "no sample; 100/s achieved" {
		t.Errorf("b: %+v", g)
	}
}
