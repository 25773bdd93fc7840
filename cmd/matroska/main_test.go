package main

import (
	"bytes"
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
