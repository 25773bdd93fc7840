package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDefaultOutIsIgnored checks that a run without -out writes where git
// does not look, from the bench module (as its README runs it) and from
// the root of the checkout (through go.work).
func TestDefaultOutIsIgnored(t *testing.T) {
	out := defaultOut(time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC))
	if want := filepath.Join("results", "local", "2026-12-06"); out != want {
		t.Fatalf("defaultOut = %q, want %q", out, want)
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not found")
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		t.Skip("not in a git checkout")
	}
	root := strings.TrimSpace(string(top))
	for _, dir := range []string{filepath.Join(root, "bench"), root} {
		file := filepath.Join(dir, out, "results.md")
		cmd := exec.Command("git", "check-ignore", "-q", file)
		cmd.Dir = root
		if err := cmd.Run(); err != nil {
			t.Errorf("%s is not ignored by git (git check-ignore: %v)", file, err)
		}
	}
	// The committed results stay tracked.
	cmd := exec.Command("git", "check-ignore", "-q", filepath.Join(root, "bench", "results", "2026-11-25", "results.md"))
	cmd.Dir = root
	if err := cmd.Run(); err == nil {
		t.Errorf("bench/results/2026-11-25 would be ignored")
	}
}
