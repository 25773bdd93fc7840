package deps

import "testing"

// TestCompositeKey: parts are canonicalised and joined with ",", with "%"
// and "," inside a part escaped, so that different parts never give one
// key.
func TestCompositeKey(t *testing.T) {
	for _, tc := range []struct {
		parts []any
		want  string
	}{
		{[]any{1, "a"}, "1,a"},
		{[]any{"a,b", "c"}, "a%2Cb,c"},
		{[]any{"a", "b,c"}, "a,b%2Cc"},
		{[]any{"50%", int64(7)}, "50%25,7"},
		{[]any{"solo"}, "solo"},
	} {
		if got := CompositeKey(tc.parts...); got != tc.want {
			t.Errorf("CompositeKey(%v) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}
