package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/internal/redistest"
	"github.com/matroska-go/matroska/tiered"
)

// TestFlagsAfterArguments runs the operator's commands with their flags
// after (and between) their arguments, as people type them.
func TestFlagsAfterArguments(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	srv := redistest.Start(t)
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{Redis: srv.Client(t), Namespace: "shop"})
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	for _, key := range []string{"articles:published", "-dashed"} {
		_, err := matroska.GetOrLoad(ctx, cache, key, func(context.Context, *matroska.Recorder) (string, error) {
			return "v", nil
		}, matroska.Depend(deps.Id("article", 1)))
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"inspect, flags last", []string{"inspect", "key", "articles:published", "-redis", srv.Addr(), "-namespace", "shop"}, "shop:e:articles:published"},
		{"inspect, flags between", []string{"inspect", "key", "-namespace=shop", "articles:published", "-redis", srv.Addr()}, "shop:e:articles:published"},
		{"inspect, a key after --", []string{"inspect", "-redis", srv.Addr(), "-namespace", "shop", "key", "--", "-dashed"}, "shop:e:-dashed"},
		{"stats, flags last", []string{"stats", "-namespace", "shop", "-redis", srv.Addr()}, "entries        2"},
		{"invalidate, flags last", []string{"invalidate", "id:article:1", "tag:home", "-redis", srv.Addr(), "-namespace", "shop"}, "invalidated 2 dependencies at sequence"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := run(c.args, &out); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), c.want) {
				t.Fatalf("output lacks %q:\n%s", c.want, out.String())
			}
		})
	}
	// A flag that no command knows is still an error, wherever it stands.
	var out bytes.Buffer
	err = run([]string{"stats", "-redis", srv.Addr(), "-namespace", "shop", "-nope"}, &out)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "-nope") {
		t.Fatalf("err = %v", err)
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 dependencies", 1: "1 dependency", 2: "2 dependencies"} {
		if got := plural(n, "dependency", "dependencies"); got != want {
			t.Errorf("plural(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestHelpStatesDefaultAddress checks that the help says which Redis the
// operator's commands reach without -redis, and never shows the password
// of $REDIS_URL.
func TestHelpStatesDefaultAddress(t *testing.T) {
	const want = "default $REDIS_URL, else 127.0.0.1:6379"
	t.Setenv("REDIS_URL", "redis://app:s3cret@127.0.0.1:1/0")
	var out bytes.Buffer
	if err := run([]string{"help"}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), want) {
		t.Errorf("help lacks %q:\n%s", want, out.String())
	}
	out.Reset()
	if err := run([]string{"stats", "-h"}, &out); !errors.Is(err, errUsage) {
		t.Fatalf("stats -h: err = %v", err)
	}
	flags := strings.Join(strings.Fields(out.String()), " ")
	if !strings.Contains(flags, want) {
		t.Errorf("stats -h lacks %q:\n%s", want, out.String())
	}
	if strings.Contains(out.String(), "s3cret") {
		t.Errorf("stats -h shows the password of $REDIS_URL:\n%s", out.String())
	}
}
