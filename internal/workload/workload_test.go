package workload

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/matroska-go/matroska/internal/redistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestKeyID(t *testing.T) {
	for _, id := range []int{0, 7, 123456} {
		got, err := ID(Key(id))
		if err != nil || got != id {
			t.Errorf("ID(Key(%d)) = %d, %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "item:", "item:-1", "item:x", "other:1"} {
		if _, err := ID(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("ID(%q) err = %v, want ErrBadKey", bad, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for name, c := range map[string]Config{
		"workload":    {Workloads: []string{"nope"}},
		"nodes":       {Nodes: 1},
		"negative":    {HitKeys: -1},
		"duration":    {MixedDuration: -time.Second},
		"write ratio": {WriteRatio: 2},
		"zipf":        {ZipfS: 0.5},
		"fleet rate":  {FleetRates: []int{500, 0}},
	} {
		if _, err := c.withDefaults(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
	c, err := Config{Quick: true}.withDefaults()
	if err != nil || c.HitDuration != Quick.HitDuration || len(c.Workloads) != len(AllWorkloads) {
		t.Errorf("quick defaults: %+v, %v", c, err)
	}
}

func TestSourceVersions(t *testing.T) {
	s := NewSource(2, 0)
	ctx := context.Background()
	if v := s.Write(1); v != 1 {
		t.Fatalf("Write = %d", v)
	}
	it, err := s.Load(ctx, Key(1))
	if err != nil || it.ID != 1 || it.Version != 1 || s.Calls() != 1 {
		t.Fatalf("Load = %+v, %v, calls %d", it, err, s.Calls())
	}
	if it, _ := s.Load(ctx, Key(99)); it.Version != 0 {
		t.Fatalf("out-of-range id has version %d", it.Version)
	}
	if _, err := s.Load(ctx, "bad"); !errors.Is(err, ErrBadKey) {
		t.Fatalf("bad key: %v", err)
	}
}

func TestPct(t *testing.T) {
	d := make([]time.Duration, 100)
	for i := range d {
		d[i] = time.Duration(i + 1)
	}
	if pct(d, 50) != 50 || pct(d, 99) != 99 || pct(d[:1], 99) != 1 || pct(nil, 50) != 0 {
		t.Errorf("pct: %v %v %v", pct(d, 50), pct(d, 99), pct(d[:1], 99))
	}
}

// TestRunCleansUp runs two workloads and checks that no key of the run is
// left in Redis and that the adapters' figures are there.
func TestRunCleansUp(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	cfg := Config{Quick: true, Workloads: []string{WMiss, WStampede}, MissKeys: 50, Nodes: 2, StampedeWaiter: 10, StampedeLoad: 10 * time.Millisecond}
	var progress strings.Builder
	res, err := Run(context.Background(), cfg, srv.Options(), "t", []Adapter{Matroska{}, GoRedis{}}, NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || len(res.Miss) != 2 || len(res.Stampede) != 2 {
		t.Fatalf("results: %+v", res)
	}
	if res.Miss[0].RTOp != 2 || res.Miss[1].RTOp != 2 {
		t.Errorf("miss round trips: %v, %v", res.Miss[0].RTOp, res.Miss[1].RTOp)
	}
	if res.Stampede[0].MaxLoads != 2 {
		t.Errorf("matroska stampede: %d loads on 2 nodes", res.Stampede[0].MaxLoads)
	}
	if !strings.Contains(progress.String(), "[  4/4]") {
		t.Errorf("progress:\n%s", progress.String())
	}
	keys, err := rdb.Keys(context.Background(), "t:*").Result()
	if err != nil || len(keys) != 0 {
		t.Errorf("keys left: %q, %v", keys, err)
	}
}

// TestL2Paced runs the L2 hit workload, which measures each cache twice:
// back to back, and with Config.Pace of work before every read (the run
// cannot take less than that work).
func TestL2Paced(t *testing.T) {
	srv := redistest.Start(t)
	const keys, pace = 40, 10 * time.Millisecond
	cfg := Config{Quick: true, Workloads: []string{WL2}, L2Keys: keys, Pace: pace}
	var progress strings.Builder
	start := time.Now()
	res, err := Run(context.Background(), cfg, srv.Options(), "t", []Adapter{Matroska{}, GoRedis{}}, NewProgress(&progress, false))
	if err != nil {
		t.Fatal(err)
	}
	if took, least := time.Since(start), 2*keys*pace; took < least {
		t.Errorf("the run took %v, less than the paced reads' work of %v", took, least)
	}
	if len(res.Errors) > 0 || len(res.L2) != 2 || len(res.L2Paced) != 2 {
		t.Fatalf("results: %+v", res)
	}
	for _, rows := range [][]LatencyRow{res.L2, res.L2Paced} {
		for _, r := range rows {
			if !r.Measured || r.Ops != keys || r.RTOp != 1 || r.Loads != 0 {
				t.Errorf("row %+v, want %d reads of one round trip and no load", r, keys)
			}
		}
	}
	var md strings.Builder
	if err := res.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"## L2 hit (cold L1), paced 10ms", "L2 hit <= 1.2x raw go-redis GET + decode (paced 10ms)", "L2 hit back to back: "} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	if !strings.Contains(progress.String(), "[  4/4]") {
		t.Errorf("progress:\n%s", progress.String())
	}
}
