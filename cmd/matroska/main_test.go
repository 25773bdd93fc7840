package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDemo(t *testing.T) {
	for _, tc := range []struct {
		name, server string
		want         []string
	}{
		{"private redis", "", []string{
			"private redis-server",
			"node B  dropped its L1 copy", "node C  dropped its L1 copy",
			`-> author "Mark"`, "database queries in all: 2",
		}},
		{"one-process", "/nonexistent/redis-server", []string{
			"ONE-PROCESS mode", `-> author "Mark"`, "database queries in all: 2",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("REDIS_URL", "")
			if tc.server != "" {
				t.Setenv("REDIS_SERVER", tc.server)
			}
			var out bytes.Buffer
			if err := run([]string{"demo"}, &out); err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("demo output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"bogus"}, &out); err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("err = %v", err)
	}
	if err := run(nil, &out); err == nil {
		t.Fatal("no command accepted")
	}
}

// TestBench runs the bench command with small sizes against a private
// redis-server and checks that the table has a row with figures for every
// cache in every workload, and that the figures say what the library does:
// two round trips on a miss, one loader call per node in the stampede.
func TestBench(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	var out bytes.Buffer
	err := run([]string{"bench", "-quick", "-duration", "100ms", "-nodes", "2", "-out", t.TempDir()}, &out)
	if err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	md := out.String()
	for _, section := range []string{"## Targets of this library", "## L1 hit", "## L2 hit (cold L1)", "## Miss, load and put",
		"## Invalidation propagation to 2 nodes", "## Invalidating one dependency", "## Stampede", "## Mixed workload", "## Memory per cached entry",
		"## Batch read (cold L1)", "## Codecs", "## L2 hit of the list, per codec",
		"## Fleet invalidations", "## Redis CPU per operation", "## Cold fleet"} {
		if !strings.Contains(md, section) {
			t.Errorf("no section %q", section)
		}
	}
	if strings.Contains(md, "## Errors") {
		t.Errorf("the run reported errors:\n%s", md)
	}
	rows := tableRows(md)
	// L1 hit: one and two goroutines for each cache, a positive ns/op.
	for _, name := range []string{"matroska", "matroska (closure loader)", "ristretto (raw)", "ristretto (raw, no TTL)", "go-redis (raw)"} {
		got := 0
		for _, r := range rows["## L1 hit"] {
			if r[0] == name {
				got++
				if ns, err := strconv.ParseFloat(r[2], 64); err != nil || ns <= 0 {
					t.Errorf("L1 hit %s: ns/op %q", name, r[2])
				}
			}
		}
		if got != 2 {
			t.Errorf("L1 hit: %d rows for %s, want 2", got, name)
		}
	}
	miss := find(rows["## Miss, load and put"], "matroska")
	if miss == nil || miss[6] != "2.00" {
		t.Errorf("miss row of matroska: %q, want 2.00 round trips", miss)
	}
	if st := find(rows["## Stampede"], "matroska"); st == nil || st[1] != "2-2" {
		t.Errorf("stampede row of matroska: %q, want 2-2 loader calls (one per node)", st)
	}
	if st := find(rows["## Stampede"], "ristretto (raw)"); st == nil || st[1] == "2-2" {
		t.Errorf("stampede row of raw ristretto: %q, want more loads than nodes", st)
	}
	if p := find(rows["## Invalidation propagation to 2 nodes"], "matroska"); p == nil || p[6] != "0" || p[3] == "0" {
		t.Errorf("propagation row of matroska: %q", p)
	}
	if m := find(rows["## Mixed workload"], "matroska"); m == nil || m[1] == "0" || m[7] != "0" || !strings.HasPrefix(m[8], "0 (bound ") || m[12] != "0" {
		t.Errorf("mixed row of matroska: %q (want operations, no stale read on the writer's node or beyond the bound, no errors)", m)
	}
	if m := find(rows["## Memory per cached entry"], "matroska"); m == nil || m[3] == "n/a" || m[4] == "n/a" {
		t.Errorf("memory row of matroska: %q", m)
	}
}

// tableRows returns the cells of each table row, by the heading above it.
func tableRows(md string) map[string][][]string {
	rows := map[string][][]string{}
	heading := ""
	for _, l := range strings.Split(md, "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			heading = l
			if i := strings.Index(heading, " with "); i > 0 {
				heading = heading[:i]
			}
		case strings.HasPrefix(l, "| ") && !strings.HasPrefix(l, "| ---"):
			cells := strings.Split(strings.Trim(l, "|"), " | ")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			rows[heading] = append(rows[heading], cells)
		}
	}
	return rows
}

func find(rows [][]string, name string) []string {
	for _, r := range rows {
		if r[0] == name {
			return r
		}
	}
	return nil
}
