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
