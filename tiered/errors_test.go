package tiered_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/matroska-go/matroska"
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
