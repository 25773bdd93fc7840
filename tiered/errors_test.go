package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/tiered"
)

// A loader panic's error text is one short line that callers may pass on;
// the stack is for the logs, through errors.As.
func TestLoaderPanicErrorIsShort(t *testing.T) {
	c := newNode(t, nil)
	_, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (int, error) {
		panic("loader bug")
	})
	if !errors.Is(err, matroska.ErrLoaderPanic) {
		t.Fatalf("err = %v, want ErrLoaderPanic", err)
	}
	if msg := err.Error(); strings.Contains(msg, "\n") || strings.Contains(msg, "goroutine") || !strings.Contains(msg, "loader bug") {
		t.Fatalf("error text %q: want one line with the panic value and no stack", msg)
	}
	var pe *tiered.PanicError
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(%v, *PanicError) = false", err)
	}
	if pe.Value != "loader bug" || !bytes.Contains(pe.Stack, []byte("goroutine")) {
		t.Fatalf("PanicError{Value: %v, Stack: %d bytes}: want the value and the stack", pe.Value, len(pe.Stack))
	}
}

// An invalid TTL option's error names the option and the value at fault.
func TestInvalidTTLMessages(t *testing.T) {
	c := newNode(t, nil)
	load := func(context.Context, *matroska.Recorder) (int, error) { return 1, nil }
	for _, tc := range []struct {
		opts []matroska.Option
		want string
		not  []string
	}{
		{[]matroska.Option{matroska.TTL(-1)}, "TTL -1ns", []string{"30s", "negative TTL"}},
		{[]matroska.Option{matroska.NegativeTTL(-1)}, "NegativeTTL -1ns", []string{"5m0s"}},
		{[]matroska.Option{matroska.TTL(time.Minute), matroska.RefreshAfter(2 * time.Minute)}, "RefreshAfter 2m0s", []string{"must be positive"}},
		{[]matroska.Option{matroska.TTL(time.Minute), matroska.RefreshAfter(time.Minute)}, "below the TTL 1m0s", []string{"must be positive"}},
	} {
		_, err := matroska.GetOrLoad(bg(), c, "k", load, tc.opts...)
		if !errors.Is(err, matroska.ErrInvalidTTL) {
			t.Fatalf("err = %v, want ErrInvalidTTL", err)
		}
		msg := err.Error()
		if !strings.Contains(msg, tc.want) {
			t.Errorf("%q does not say %q", msg, tc.want)
		}
		for _, n := range tc.not {
			if strings.Contains(msg, n) {
				t.Errorf("%q says %q, which is not the problem", msg, n)
			}
		}
	}
}

// A dependency with an empty name is the zero deps.Dep, refused wherever a
// dependency is taken: recorded by a loader, given to Set, invalidated.
func TestEmptyDependencyNames(t *testing.T) {
	c := newNode(t, nil)
	for _, d := range []deps.Dep{deps.Id("", 1), deps.Tag(""), deps.Key(""), deps.All(""), deps.Condition("", nil)} {
		_, err := matroska.GetOrLoad(bg(), c, "k", func(_ context.Context, rec *matroska.Recorder) (int, error) {
			rec.Depend(d)
			return 1, nil
		})
		if !errors.Is(err, matroska.ErrInvalidDep) {
			t.Errorf("GetOrLoad recording %q: %v, want ErrInvalidDep", d, err)
		}
		if err := c.Invalidate(bg(), d); !errors.Is(err, matroska.ErrInvalidDep) {
			t.Errorf("Invalidate(%q): %v, want ErrInvalidDep", d, err)
		}
		if err := c.Set(bg(), "k", 1, matroska.Depend(d)); !errors.Is(err, matroska.ErrInvalidDep) {
			t.Errorf("Set with %q: %v, want ErrInvalidDep", d, err)
		}
	}
}

// Every exported method of a nil *Cache returns ErrNilCache (which is also
// ErrClosed), or a zero value, instead of a nil pointer panic.
func TestNilCache(t *testing.T) {
	var c *tiered.Cache
	load := func(context.Context, *matroska.Recorder) (int, error) { return 1, nil }
	decode := func([]byte) (any, error) { return nil, nil }
	calls := map[string]func() error{
		"Close":      c.Close,
		"Mark":       func() error { _, err := c.Mark(bg()); return err },
		"Set":        func() error { return c.Set(bg(), "k", 1) },
		"Delete":     func() error { return c.Delete(bg(), "k") },
		"Invalidate": func() error { return c.Invalidate(bg(), deps.Tag("t")) },
		"Miss": func() error {
			_, err := c.MissWith(bg(), "k", nil, decode)
			return err
		},
		"matroska.GetOrLoad": func() error { _, err := matroska.GetOrLoad(bg(), c, "k", load); return err },
		"matroska.GetOrLoadWith": func() error {
			_, err := matroska.GetOrLoadWith[int](bg(), c, "k", matroska.LoadFunc[int](load))
			return err
		},
		"matroska.Get": func() error { _, err := matroska.Get[int](bg(), c, "k"); return err },
		"matroska.GetOrLoadMany": func() error {
			_, err := matroska.GetOrLoadMany(bg(), c, nil, func(context.Context, []string, *matroska.BatchRecorder) (map[string]int, error) { return nil, nil })
			return err
		},
		"Ready":               func() error { return c.Ready(bg()) },
		"matroska.Set":        func() error { return matroska.Set(bg(), c, "k", 1) },
		"matroska.Invalidate": func() error { return matroska.Invalidate(bg(), c, deps.Tag("t")) },
	}
	for name, call := range calls {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s on a nil cache panicked: %v", name, p)
				}
			}()
			if err := call(); !errors.Is(err, matroska.ErrNilCache) || !errors.Is(err, matroska.ErrClosed) {
				t.Errorf("%s on a nil cache: %v, want ErrNilCache and ErrClosed", name, err)
			}
		}()
	}
	quiet := map[string]func(){
		"NodeID": func() { _ = c.NodeID() },
		"Stats":  func() { _ = c.Stats() },
		"InL1":   func() { _ = c.InL1("k") },
		"Peek":   func() { _, _ = c.Peek("k") },
	}
	for name, call := range quiet {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("%s on a nil cache panicked: %v", name, p)
				}
			}()
			call()
		}()
	}
}

// One key read with two types is ErrTypeMismatch, with no reload, and the
// lookup that found the other type is not an L1 hit.
func TestTypeMismatchIsAnError(t *testing.T) {
	for _, mode := range []string{"one-process", "redis"} {
		t.Run(mode, func(t *testing.T) {
			var c *tiered.Cache
			if mode == "redis" {
				c = newCluster(t, 1).nodes[0]
			} else {
				c = newNode(t, nil)
			}
			s, err := matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (string, error) { return "a", nil })
			if s != "a" || err != nil {
				t.Fatalf("GetOrLoad[string] = %q, %v", s, err)
			}
			if !c.InL1("k") {
				t.Fatal("k is not in L1")
			}
			before := c.Stats()
			loads := 0
			for range 3 {
				_, err = matroska.GetOrLoad(bg(), c, "k", func(context.Context, *matroska.Recorder) (int, error) {
					loads++
					return 1, nil
				})
				if !errors.Is(err, matroska.ErrTypeMismatch) {
					t.Fatalf("GetOrLoad[int] of a string: %v, want ErrTypeMismatch", err)
				}
			}
			if _, err := matroska.Get[int](bg(), c, "k"); !errors.Is(err, matroska.ErrTypeMismatch) {
				t.Fatalf("Get[int] of a string: %v, want ErrTypeMismatch", err)
			}
			after := c.Stats()
			if loads != 0 || after.Loads != before.Loads || after.Corrupt != before.Corrupt {
				t.Errorf("a type mismatch reloaded: %d loader calls, Loads %d -> %d, Corrupt %d -> %d",
					loads, before.Loads, after.Loads, before.Corrupt, after.Corrupt)
			}
			if after.L1Hits != before.L1Hits {
				t.Errorf("lookups of the wrong type counted as L1 hits: %d -> %d", before.L1Hits, after.L1Hits)
			}
			if s, err := matroska.Get[string](bg(), c, "k"); s != "a" || err != nil {
				t.Fatalf("Get[string] after the mismatches = %q, %v", s, err)
			}
			if got := c.Stats().L1Hits; got != after.L1Hits+1 {
				t.Errorf("an L1 hit counted %d times", got-after.L1Hits)
			}
		})
	}
}
