package deps

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

type userID int64    // a defined integer type without String
type ratio float64   // a defined float type without String
type status string   // a defined string type without String
type rawBytes []byte // a defined byte-slice type without String

func TestString(t *testing.T) {
	tests := []struct {
		d    Dep
		want string
	}{
		{Id("article", 7), "id:article:7"},
		{Id("article", -7), "id:article:-7"},
		{Id("article", "x y"), "id:article:x y"},
		{Id("article", nil), "id:article:~"},
		{Id("article", ""), "id:article:"},
		{Id("article", "~"), "id:article:%7E"},
		{Id("a:b", "c:d"), "id:a%3Ab:c%3Ad"},
		{Id("a", 0.5), "id:a:0.5"},
		{Id("a", 2.0), "id:a:2"},
		{Id("a", math.Copysign(0, -1)), "id:a:0"},
		{Id("a", 1e20), "id:a:1e+20"},
		{Id("a", float64(1<<63)), "id:a:9223372036854775808"},
		{Id("a", math.Inf(-1)), "id:a:-Inf"},
		{Id("a", math.NaN()), "id:a:NaN"},
		{Id("a", float32(0.1)), "id:a:0.1"},
		{Id("a", true), "id:a:true"},
		{Id("a", []byte("b")), "id:a:b"},
		{Tag("homepage"), "tag:homepage"},
		{Tag("a:b"), "tag:a%3Ab"},
		{Tag("{x}"), "tag:%7Bx%7D"},
		{Tag("100%"), "tag:100%25"},
		{Tag("a\nb\r\x00\x1f\x7f"), "tag:a%0Ab%0D%00%1F%7F"},
		{Tag("a&b=c~"), "tag:a%26b%3Dc%7E"},
		{Tag("é \xff"), "tag:é \xff"}, // bytes >= 0x80 pass through
		{Key("user:1"), "key:user%3A1"},
		{All("article"), "all:article"},
		{Condition("list", nil), "cond:list:"},
		{Condition("list", map[string]any{"b": 2, "a": "x y"}), "cond:list:a=x y&b=2"},
		{Condition("list", map[string]any{"x": "q&r=s"}), "cond:list:x=q%26r%3Ds"},
		{Condition("list", map[string]any{"": ""}), "cond:list:="},
		{Condition("list", map[string]any{"x": nil}), "cond:list:x=~"},
		// Names sort by their raw bytes ('z' < '~'), not by their escaped form.
		{Condition("list", map[string]any{"~": 1, "z": 2}), "cond:list:z=2&%7E=1"},
	}
	for _, tt := range tests {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestSame lists groups of constructions that must give one dependency.
func TestSame(t *testing.T) {
	one := 1
	pOne := &one
	var nilInt *int
	var nilTime *time.Time
	var nilErr error
	groups := []struct {
		name string
		deps []Dep
	}{
		{"integer forms", []Dep{
			Id("article", 1), Id("article", "1"), Id("article", int64(1)), Id("article", 1.0),
			Id("article", int8(1)), Id("article", int16(1)), Id("article", int32(1)),
			Id("article", uint(1)), Id("article", uint8(1)), Id("article", uint16(1)),
			Id("article", uint32(1)), Id("article", uint64(1)), Id("article", float32(1)),
			Id("article", userID(1)), Id("article", ratio(1)), Id("article", pOne), Id("article", &pOne),
			Id("article", []byte("1")), Id("article", status("1")), Id("article", rawBytes("1")),
		}},
		{"large integral floats", []Dep{
			Id("a", uint64(1<<63)), Id("a", float64(1<<63)), Id("a", "9223372036854775808"),
		}},
		{"min int64", []Dep{
			Id("a", int64(math.MinInt64)), Id("a", float64(math.MinInt64)), Id("a", float32(math.MinInt64)),
		}},
		{"max uint64 range", []Dep{
			Id("a", uint64(1<<64-2048)), Id("a", float64(1<<64-2048)),
		}},
		{"defined float type", []Dep{Id("a", ratio(1e6)), Id("a", 1e6), Id("a", 1000000)}},
		{"true", []Dep{Id("flag", true), Id("flag", "true")}},
		{"false", []Dep{Condition("l", map[string]any{"x": false}), Condition("l", map[string]any{"x": "false"})}},
		{"nil", []Dep{
			Id("a", nil), Id("a", nilInt), Id("a", &nilInt), Id("a", nilTime), Id("a", &nilTime),
			Id("a", nilErr), Id("a", &nilErr), Id("a", []int(nil)), Id("a", map[string]int(nil)),
			Id("a", (func())(nil)), Id("a", (chan int)(nil)),
		}},
		{"empty", []Dep{Id("a", ""), Id("a", []byte(nil)), Id("a", []byte{}), Id("a", rawBytes(nil))}},
		{"condition order", []Dep{
			Condition("l", map[string]any{"a": 1, "b": "x", "c": true}),
			Condition("l", map[string]any{"c": "true", "b": "x", "a": 1.0}),
			Condition("l", map[string]any{"b": []byte("x"), "c": true, "a": "1"}),
		}},
		{"empty condition", []Dep{Condition("l", nil), Condition("l", map[string]any{})}},
	}
	for _, g := range groups {
		for i, d := range g.deps {
			if d != g.deps[0] {
				t.Errorf("%s: #%d is %q, #0 is %q", g.name, i, d, g.deps[0])
			}
		}
	}
}

// TestDistinct lists pairs that must be different dependencies.
func TestDistinct(t *testing.T) {
	pairs := []struct{ a, b Dep }{
		{Id("a", nil), Id("a", "")},
		{Id("a", nil), Id("a", "~")},
		{Id("a", ""), Id("a", "~")},
		{Id("a", nil), Id("a", "<nil>")},
		{Id("a", 1), Id("a", "1.0")},
		{Id("a", 1), Id("a", 1.5)},
		{Id("a", true), Id("a", 1)},
		{Id("a", uint64(1<<64-1)), Id("a", float64(1<<64-1))}, // the float is 2^64
		{Id("a:b", "c"), Id("a", "b:c")},
		{Tag("a:b"), Id("a", "b")},
		{Tag("{x}"), Tag("x")},
		{Tag("k"), Key("k")},
		{Tag("k"), All("k")},
		{Key("k"), All("k")},
		{Tag("%41"), Tag("A")},
		{All("a"), Condition("a", nil)},
		{Condition("a", map[string]any{"x": "q&r=s"}), Condition("a", map[string]any{"x": "q", "r": "s"})},
		{Condition("a", map[string]any{"x": "1&y=2"}), Condition("a", map[string]any{"x": 1, "y": 2})},
		{Condition("a", nil), Condition("a", map[string]any{"": ""})},
		{Condition("a", map[string]any{"x": nil}), Condition("a", map[string]any{"x": ""})},
		{Condition("a:x=1", nil), Condition("a", map[string]any{"x": 1})},
		{Condition("a", map[string]any{"x": 1}), Id("a", "x=1")},
	}
	for _, p := range pairs {
		if p.a == p.b {
			t.Errorf("%q and the other construction are the same dependency", p.a)
		}
	}
}

// A constructor given an empty type or name returns the zero Dep, which
// every taker of a dependency refuses.
func TestEmptyNamesAreZero(t *testing.T) {
	for _, d := range []Dep{
		Id("", 1), Id("", nil), Tag(""), Key(""), All(""),
		Condition("", nil), Condition("", map[string]any{"a": 1}),
	} {
		if !d.IsZero() {
			t.Errorf("%q is not the zero Dep", d)
		}
	}
}

func TestKindAndKeyName(t *testing.T) {
	tests := []struct {
		d       Dep
		kind    Kind
		name    string
		key     string
		wantKey bool
	}{
		{Dep{}, KindInvalid, "invalid", "", false},
		{Id("a", 1), KindId, "id", "", false},
		{Tag("key:x"), KindTag, "tag", "", false},
		{Key("user:1{x}%~\n"), KindKey, "key", "user:1{x}%~\n", true},
		{Key(""), KindInvalid, "invalid", "", false},
		{Condition("a", nil), KindCondition, "cond", "", false},
		{All("a"), KindAll, "all", "", false},
	}
	for _, tt := range tests {
		if got := tt.d.Kind(); got != tt.kind {
			t.Errorf("%q.Kind() = %v, want %v", tt.d, got, tt.kind)
		}
		if got := tt.d.Kind().String(); got != tt.name {
			t.Errorf("%q.Kind().String() = %q, want %q", tt.d, got, tt.name)
		}
		if tt.d.IsZero() != (tt.kind == KindInvalid) {
			t.Errorf("%q.IsZero() = %v", tt.d, tt.d.IsZero())
		}
		key, ok := tt.d.KeyName()
		if key != tt.key || ok != tt.wantKey {
			t.Errorf("%q.KeyName() = %q, %v; want %q, %v", tt.d, key, ok, tt.key, tt.wantKey)
		}
	}
	if got := Kind(200).String(); got != "invalid" {
		t.Errorf("Kind(200).String() = %q", got)
	}
}

func TestParseAccepts(t *testing.T) {
	valid := []Dep{
		Id("article", 7), Id("a", ""), Id("a:b", "~{}"), Id("a", 0.5), Id("a", math.NaN()),
		Tag("a:b\n{}%&=~\x7f\xff"), Key("user:1"), All("a%"),
		Condition("a", nil), Condition("a", map[string]any{"": ""}),
		Condition("l", map[string]any{"~": 1, "z": nil, "a&b": "c=d", "%": "%"}),
	}
	for _, d := range valid {
		got, err := Parse(d.String())
		if err != nil {
			t.Errorf("Parse(%q): %v", d, err)
			continue
		}
		if got != d || got.Kind() != d.Kind() {
			t.Errorf("Parse(%q) = %q (kind %v)", d, got, got.Kind())
		}
	}
}

func TestParseRejects(t *testing.T) {
	invalid := []string{
		"", "id", "tag", "x:y", "ID:a:1", " tag:a", // no or unknown kind
		"id:", "id:a", "cond:", "cond:a", // missing parts
		"id::1", "id::~", "tag:", "key:", "all:", "cond::", "cond::a=1", // empty type or name
		"id:a:1:2", "id:a:b=c", "id:a:~~", "id:~:1", "id:a:%7E%7E%", // separators, nil marker misused
		"tag:a:b", "tag:{x}", "tag:a}", "tag:a\nb", "tag:\x7f", "tag:~", "tag:a&b", "tag:a=b", // unescaped
		"tag:%3a", "tag:%7b", "key:%7e", // lower-case hex
		"tag:%41", "tag:%20", "tag:%C3%A9", // escape of a byte that needs none
		"tag:%", "tag:%4", "tag:%GG", "tag:%%25", // malformed escapes
		"cond:a:b=1&a=2",           // unsorted names
		"cond:a:%7E=1&z=2",         // sorted by the escaped form, not the raw bytes
		"cond:a:a=1&a=2",           // duplicate names
		"cond:a:=1&=2",             // duplicate empty names
		"cond:a:a", "cond:a:a=1&b", // missing '='
		"cond:a:a=1&", "cond:a:&a=1", "cond:a:&", // empty pairs
		"cond:a:a=1=2", "cond:a:a=1:b", "cond:a:~=1", // separators in values or names
	}
	for _, s := range invalid {
		d, err := Parse(s)
		if err == nil {
			t.Errorf("Parse(%q) accepted %q", s, d)
			continue
		}
		if !errors.Is(err, ErrInvalid) || !d.IsZero() {
			t.Errorf("Parse(%q) = %q, %v; want the zero Dep and ErrInvalid", s, d, err)
		}
	}
}

// TestNoForbiddenBytes checks the promise the wire formats rely on.
func TestNoForbiddenBytes(t *testing.T) {
	var all strings.Builder
	for c := 0; c < 256; c++ {
		all.WriteByte(byte(c))
	}
	s := all.String()
	for _, d := range []Dep{Id(s, s), Tag(s), Key(s), All(s), Condition(s, map[string]any{s: s, "x": nil})} {
		if strings.ContainsAny(d.String(), "\n\r{}") {
			t.Errorf("%v contains a newline or a brace", d.Kind())
		}
		if _, err := Parse(d.String()); err != nil {
			t.Errorf("Parse(%v of every byte): %v", d.Kind(), err)
		}
		if name, ok := d.KeyName(); ok && name != s {
			t.Errorf("KeyName of every byte = %q", name)
		}
	}
}

func TestFormatValue(t *testing.T) {
	var nilTime *time.Time
	tests := []struct {
		v    any
		want string
	}{
		{nil, ""},
		{nilTime, ""}, // must not call the value-receiver String on nil
		{time.Unix(0, 0).UTC(), "1970-01-01 00:00:00 +0000 UTC"},
		{userID(-3), "-3"},
		{ratio(0.25), "0.25"},
		{status("s"), "s"},
		{rawBytes("r"), "r"},
		{struct{ A int }{4}, "{4}"},
		{uintptr(9), "9"},
		{float32(16777217), "16777216"}, // float32 cannot hold 2^24+1
		{float64(1 << 64), "1.8446744073709552e+19"},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.v); got != tt.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}
