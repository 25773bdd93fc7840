package globs

import "testing"

func TestEscape(t *testing.T) {
	if got, want := Escape(`a*b?c[d]e\f{g}`), `a\*b\?c\[d\]e\\f{g}`; got != want {
		t.Fatalf("Escape = %q, want %q", got, want)
	}
}
