package pgtest

import (
	"context"
	"strings"
	"testing"
)

// TestStart: a private server on another port than the system's, with
// logical replication on, and a database of the test's own.
func TestStart(t *testing.T) {
	s := Start(t)
	if s.Port() == 5432 {
		t.Fatal("the private server took the system's port")
	}
	ctx := context.Background()
	dsn := s.CreateDB(t, "pgtest_start")
	if !strings.Contains(dsn, "/pgtest_start?") {
		t.Fatalf("DSN %q", dsn)
	}
	level, err := s.psql(ctx, "pgtest_start", "SHOW wal_level")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(level) != "logical" {
		t.Fatalf("wal_level = %q, want logical", level)
	}
}
