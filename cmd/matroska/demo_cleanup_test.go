package main

import (
	"bytes"
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/matroska-go/matroska/internal/redistest"
)

// TestDemoRemovesItsKeys runs the demo against a Redis given by
// $REDIS_URL, as a user's would be, and checks that it leaves none of its
// keys there and touches no other.
func TestDemoRemovesItsKeys(t *testing.T) {
	srv := redistest.Start(t)
	rdb := srv.Client(t)
	ctx := context.Background()
	others := []string{"keep:me", "demo-00000000:seq", "{demo-00000000}:epoch"}
	for _, k := range others {
		if err := rdb.Set(ctx, k, "1", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("REDIS_URL", "redis://"+srv.Addr()+"/0")
	var out bytes.Buffer
	if err := run([]string{"demo"}, &out); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	m := regexp.MustCompile(`namespace "(demo-[0-9a-f]+)"`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("the demo does not name its namespace:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "from $REDIS_URL") || !strings.Contains(out.String(), "node C  dropped its L1 copy") {
		t.Fatalf("the demo did not run on the given Redis:\n%s", out.String())
	}
	left, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(left)
	want := slices.Clone(others)
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Fatalf("after the demo (namespace %s) Redis holds %q, want only %q", m[1], left, want)
	}
	if !strings.Contains(out.String(), "removed the ") {
		t.Errorf("the demo does not say that it removed its keys:\n%s", out.String())
	}
}
