package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/matroska-go/matroska/internal/pgtest"
	"github.com/matroska-go/matroska/internal/workload"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestSmoke runs every workload against every adapter with tiny sizes on a
// private redis-server and checks that results.md has figures for every
// adapter and that every plot is a PNG.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and runs every workload")
	}
	out := t.TempDir()
	cfg := workload.Config{
		Quick: true, HitDuration: 50 * time.Millisecond, HitKeys: 64, L2Keys: 200, MissKeys: 100,
		Nodes: 3, Rounds: 10, BigDepEntries: 2000, StampedeWaiter: 20, StampedeLoad: 20 * time.Millisecond,
		MixedNodes: 2, MixedWorkers: 4, MixedKeys: 10000, MixedDuration: 300 * time.Millisecond, MemoryKeys: 300,
		BatchSize: 10, Batches: 3, CodecDuration: 10 * time.Millisecond, CodecReads: 10,
		FleetNodes: []int{2, 3}, FleetRates: []int{100, 200}, FleetStep: 100 * time.Millisecond, FleetHotKeys: 20,
		CostOps: 20, ColdNodes: 2, ColdKeys: 200, ColdMax: 3 * time.Second,
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	res, files, err := RunAll(ctx, Options{Out: out, Config: cfg, CDC: tinyCDC})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %q", res.Errors)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	runs := func(a workload.Adapter, w string) bool {
		l, ok := a.(workload.Limited)
		return !ok || l.Workloads() == nil || slices.Contains(l.Workloads(), w)
	}
	for _, a := range Adapters() {
		if runs(a, workload.WHit) && !bytes.Contains(md, []byte("| "+a.Name()+" | 1 | ")) {
			t.Errorf("results.md has no L1 hit row for %s", a.Name())
		}
	}
	l2 := map[string]bool{}
	for _, r := range res.L2 {
		l2[r.Adapter] = r.Measured
	}
	for _, r := range res.L2Paced {
		if r.Measured != l2[r.Adapter] || (r.Measured && r.Ops != cfg.L2Keys) {
			t.Errorf("paced L2 hit of %s: %+v, back to back measured: %v", r.Adapter, r, l2[r.Adapter])
		}
	}
	if len(res.L2Paced) != len(res.L2) || !bytes.Contains(md, []byte("## L2 hit (cold L1), paced")) {
		t.Errorf("%d paced L2 rows for %d back to back; results.md has the section: %v", len(res.L2Paced), len(res.L2), bytes.Contains(md, []byte("## L2 hit (cold L1), paced")))
	}
	for _, r := range res.Stampede {
		if r.Adapter == workload.MatroskaLeaseName && (!r.Measured || r.MaxLoads != 1) {
			t.Errorf("stampede with the lease: %+v, want one loader call", r)
		}
	}
	byName := map[string]workload.MixedRow{}
	for _, m := range res.Mixed {
		byName[m.Adapter] = m
	}
	for _, a := range Adapters() {
		if l, ok := a.(workload.Limited); ok && l.Workloads() != nil {
			continue
		}
		m := byName[a.Name()]
		if !m.Measured || m.Reads == 0 || m.OpsPerSec <= 0 {
			t.Errorf("mixed: no figures for %s: %+v", a.Name(), m)
		}
		if !bytes.Contains(md, []byte("| "+a.Name()+" | ")) {
			t.Errorf("results.md lacks %s", a.Name())
		}
	}
	// The mixed targets are what the guarantees promise: no stale read on
	// the writer's node (G3), none on another node beyond the trust window
	// (G4); stale reads within it are a figure.
	if m := byName[workload.MatroskaName]; m.Bound <= 0 || m.StaleWriter != 0 || m.StaleOver != 0 {
		t.Errorf("mixed, %s: bound %v, stale reads on the writer's node %d, beyond the bound %d; sample %+v", m.Adapter, m.Bound, m.StaleWriter, m.StaleOver, m.StaleReads)
	}
	for _, want := range []string{"| mixed: no stale read on the writer's node (G3) | 0 | yes |", "| mixed: no stale read older than the trust window, 2.00 s (G4) | 0 (oldest ", "Figures, not targets:", "stale reads on other nodes within the trust window"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	for _, p := range res.Propagation {
		if p.Adapter == "rueidis (client-side cache)" && (!p.Measured || p.Rounds == 0) {
			t.Errorf("rueidis propagation not measured: %+v", p)
		}
	}
	// Batch: every cache with Redis reads in one call where it can (rueidis:
	// MGetCache), one key at a time otherwise (go-redis/cache).
	modes := map[string][]string{}
	for _, r := range res.Batch {
		if r.Measured && (r.Batches != cfg.Batches || r.Loads != 0) {
			t.Errorf("batch row %+v: want %d batches, no load", r, cfg.Batches)
		}
		if r.Measured {
			modes[r.Adapter] = append(modes[r.Adapter], r.Mode)
		}
	}
	for name, want := range map[string]string{
		workload.MatroskaName: "one call,per key", workload.GoRedisName: "one call,per key",
		GoRedisCache{}.Name(): "per key", Rueidis{}.Name(): "one call,per key",
	} {
		if got := strings.Join(modes[name], ","); got != want {
			t.Errorf("batch modes of %s: %q, want %q", name, got, want)
		}
	}
	// Codecs: this library's four, and go-redis/cache's own, on both values.
	codecs := map[string]int{}
	for _, r := range res.Codec {
		if r.Measured && r.Encoded > 0 && r.EncodeNs > 0 && r.DecodeNs > 0 {
			codecs[r.Adapter]++
		}
	}
	if codecs[workload.MatroskaName] != 8 || codecs[GoRedisCache{}.Name()] != 2 || len(codecs) != 2 {
		t.Errorf("codec rows with figures, by cache: %v", codecs)
	}
	if len(res.CodecRead) != 4 {
		t.Errorf("%d L2 hit rows of the list, want one per codec of this library", len(res.CodecRead))
	}
	for _, want := range []string{"## Batch read (cold L1)", "## Codecs", "| go-redis/cache (TinyLFU) | msgpack+s2 (its default) | list | "} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	// Fleet: this library and rueidis, the caches with cross-node
	// invalidation, on both sizes; cold: every cache with both tiers.
	fleet := map[string]int{}
	for _, r := range res.Fleet {
		if r.Measured && r.Invalidations > 0 {
			fleet[r.Adapter]++
		}
	}
	if len(fleet) != 2 || fleet[workload.MatroskaName] < 2 || fleet[Rueidis{}.Name()] < 2 {
		t.Errorf("fleet steps with figures, by cache: %v", fleet)
	}
	var cold []string
	for _, r := range res.Cold {
		if r.Measured && r.Reads > 0 {
			cold = append(cold, r.Adapter)
		}
	}
	if got, want := strings.Join(cold, ","), strings.Join([]string{workload.MatroskaName, workload.MatroskaLeaseName, GoRedisCache{}.Name(), Rueidis{}.Name()}, ","); got != want {
		t.Errorf("cold rows with figures: %q, want %q", got, want)
	}
	if len(res.Cost) != 9 {
		t.Errorf("%d redis-cost rows, want 9", len(res.Cost))
	}
	for _, want := range []string{"## Fleet invalidations", "## Redis CPU per operation", "## Cold fleet", "(fleet-propagation.png)", "(cold-l1.png)", "(redis-cost.png)"} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md lacks %q", want)
		}
	}
	var pngs int
	for _, f := range files {
		if !strings.HasSuffix(f, ".png") {
			continue
		}
		pngs++
		fh, err := os.Open(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		_, err = png.Decode(fh)
		fh.Close()
		if err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if !bytes.Contains(md, []byte("("+f+")")) {
			t.Errorf("results.md does not show %s", f)
		}
	}
	checkCDC(t, res, out, tinyCDC)
	if pngs < 7 {
		t.Errorf("%d plots, want at least 7: %q", pngs, files)
	}
}

// tinyCDC sizes the cdc workload of the smoke tests: a few seconds, the
// start of PostgreSQL included.
var tinyCDC = CDCConfig{Rounds: 5, Changes: 100, Conns: 2, Rows: 20}

// checkCDC checks the shape of the cdc workload's figures (never their
// values): measured when PostgreSQL is installed, skipped with a reason
// otherwise, in results.md and results.json either way.
func checkCDC(t *testing.T, res *workload.Results, out string, cfg CDCConfig) {
	t.Helper()
	r, ok := res.Extensions[WCDC].(*CDCResults)
	if !ok {
		t.Fatalf("no cdc figures: %#v", res.Extensions)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Extensions map[string]CDCResults }
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	if got := doc.Extensions[WCDC]; got.Config != cfg || got.Skipped != r.Skipped || len(got.Paths) != len(r.Paths) {
		t.Errorf("results.json's cdc figures %+v, want %+v", got, *r)
	}
	if !bytes.Contains(md, []byte("## Invalidation from the commit log")) {
		t.Errorf("results.md lacks the commit log's section")
	}
	if _, err := pgtest.Bin(); err != nil {
		if r.Skipped == "" || !bytes.Contains(md, []byte("Skipped: ")) {
			t.Errorf("no PostgreSQL (%v), yet the cdc workload is not reported as skipped: %+v", err, r)
		}
		return
	}
	if r.Skipped != "" {
		t.Fatalf("cdc skipped: %s", r.Skipped)
	}
	var paths []string
	for _, p := range r.Paths {
		paths = append(paths, p.Path)
		if p.Rounds != cfg.Rounds || p.Timeouts > p.Rounds || p.P50 > p.P99 || p.P99 > p.Max {
			t.Errorf("cdc path %+v: want %d rounds, p50 <= p99 <= max", p, cfg.Rounds)
		}
	}
	if got := strings.Join(paths, ","); got != "commit log,application" {
		t.Errorf("cdc paths %q, want the commit log's and the application's", got)
	}
	if q := r.Rate; q.Changes != cfg.Changes || q.Conns != cfg.Conns || q.Invalidations == 0 || q.Took < q.Committed || q.RowsPerSec <= 0 {
		t.Errorf("cdc rate %+v", q)
	}
	for _, want := range []string{"| commit log | ", "| application | ", "| pgcdc | "} {
		if !bytes.Contains(md, []byte(want)) {
			t.Errorf("results.md lacks %q", want)
		}
	}
}

// TestCDCOnly runs the cdc workload alone (-workloads cdc): the harness
// runs none of its own, and the figures are the cdc workload's.
func TestCDCOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server and PostgreSQL")
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	res, _, err := RunAll(ctx, Options{Out: out, Config: workload.Config{Quick: true, Workloads: []string{WCDC}}, CDC: tinyCDC})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Errors) > 0 || len(res.Hit) > 0 || len(res.Mixed) > 0 {
		t.Errorf("errors %q; %d hit rows, %d mixed rows, want none", res.Errors, len(res.Hit), len(res.Mixed))
	}
	checkCDC(t, res, out, tinyCDC)
}

// TestCDCSkipped checks that a PostgreSQL that cannot start skips the cdc
// workload, with the reason, and fails nothing.
func TestCDCSkipped(t *testing.T) {
	if testing.Short() {
		t.Skip("starts redis-server")
	}
	t.Setenv("PG_BIN", t.TempDir()) // no initdb there
	out := t.TempDir()
	res, _, err := RunAll(context.Background(), Options{Out: out, Config: workload.Config{Workloads: []string{WCDC}}, CDC: tinyCDC})
	if err != nil {
		t.Fatal(err)
	}
	r, ok := res.Extensions[WCDC].(*CDCResults)
	if !ok || r.Skipped == "" || len(res.Errors) > 0 {
		t.Fatalf("cdc figures %+v, errors %q: want skipped, no error", r, res.Errors)
	}
	md, err := os.ReadFile(filepath.Join(out, "results.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(md, []byte("Skipped: pgtest: initdb")) {
		t.Errorf("results.md does not say why the cdc workload was skipped:\n%s", md)
	}
}
