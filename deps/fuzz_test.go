package deps

import (
	"errors"
	"maps"
	"math"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, accepts only canonical strings
// (rebuilding an accepted dependency from its unescaped parts with the
// constructors gives the input back), and rejects with ErrInvalid.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"", "id:a:1", "id::~", "tag:", "tag:a%3Ab", "key:user%3A1", "all:x",
		"cond:a:", "cond:a:=", "cond:l:a=1&b=~", "cond:l:z=2&%7E=1",
		"tag:%3a", "tag:%41", "cond:a:b=1&a=2", "cond:a:a=1&a=2", "id:a", "tag:%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || !d.IsZero() {
				t.Fatalf("Parse(%q) = %q, %v", s, d, err)
			}
			return
		}
		if d.String() != s {
			t.Fatalf("Parse(%q).String() = %q", s, d)
		}
		if rebuilt := rebuild(t, d); rebuilt != d {
			t.Fatalf("Parse accepted %q, but its parts build %q", s, rebuilt)
		}
		if strings.ContainsAny(s, "\n{}") {
			t.Fatalf("Parse accepted %q, which holds a newline or a brace", s)
		}
	})
}

// rebuild splits an accepted dependency into its unescaped parts and calls
// the constructor of its kind on them.
func rebuild(t *testing.T, d Dep) Dep {
	un := func(s string) string {
		u, err := unescape(s)
		if err != nil {
			t.Fatalf("%q accepted, but part %q does not unescape: %v", d, s, err)
		}
		return u
	}
	value := func(s string) any {
		if s == nilMarker {
			return nil
		}
		return un(s)
	}
	_, rest, _ := strings.Cut(d.String(), ":")
	switch d.Kind() {
	case KindTag:
		return Tag(un(rest))
	case KindKey:
		name, ok := d.KeyName()
		if !ok || name != un(rest) {
			t.Fatalf("%q.KeyName() = %q, %v", d, name, ok)
		}
		return Key(name)
	case KindAll:
		return All(un(rest))
	case KindId:
		typ, id, _ := strings.Cut(rest, ":")
		return Id(un(typ), value(id))
	case KindCondition:
		typ, params, _ := strings.Cut(rest, ":")
		m := map[string]any{}
		if params != "" {
			for _, pair := range strings.Split(params, "&") {
				name, v, _ := strings.Cut(pair, "=")
				m[un(name)] = value(v)
			}
		}
		return Condition(un(typ), m)
	}
	t.Fatalf("Parse accepted %q of kind %v", d, d.Kind())
	return Dep{}
}

// FuzzDistinct checks that dependencies built from fuzzed strings are equal
// exactly when their inputs are, across every constructor, and that every
// one of them parses back. An empty type or name gives the zero Dep, so all
// of those are equal to each other.
func FuzzDistinct(f *testing.F) {
	f.Add("a", "1", "a", "1", false)
	f.Add("a", "b", "a:b", "", true)
	f.Add("a:b", "c", "a", "b:c", false)
	f.Add("x", "q&r=s", "r", "s", true)
	f.Add("~", "", "", "~", false)
	f.Add("%7E", "~", "~", "%7E", true)
	f.Add("{", "}", "%7B", "%7D", false)
	f.Fuzz(func(t *testing.T, a1, b1, a2, b2 string, nilB bool) {
		var v1, v2 any = b1, b2
		if nilB {
			v2 = nil
		}
		check := func(what string, d1, d2 Dep, same bool) {
			t.Helper()
			if (d1 == d2) != same {
				t.Fatalf("%s: %q == %q is %v, inputs equal is %v", what, d1, d2, d1 == d2, same)
			}
			for _, d := range []Dep{d1, d2} {
				if d.IsZero() {
					continue
				}
				if p, err := Parse(d.String()); err != nil || p != d {
					t.Fatalf("%s: Parse(%q) = %q, %v", what, d, p, err)
				}
			}
		}
		empty1, empty2 := a1 == "", a2 == ""
		check("Id", Id(a1, v1), Id(a2, v2), a1 == a2 && (v1 == v2 || empty1))
		check("Id swapped", Id(a1, b1), Id(b1, a1), a1 == b1)
		check("Tag", Tag(a1), Tag(a2), a1 == a2)
		check("Key", Key(a1), Key(a2), a1 == a2)
		check("All", All(a1), All(a2), a1 == a2)
		check("Tag/Key", Tag(a1), Key(a1), empty1)
		check("Tag/All", Tag(a1), All(a1), empty1)
		check("Key/All", Key(a1), All(a2), empty1 && empty2)
		check("Tag/Id", Tag(a1+":"+b1), Id(a1, b1), false)
		check("All/Condition", All(a1), Condition(a1, nil), empty1)

		// Conditions: a type and one or two params from the fuzzed strings.
		params := []map[string]any{
			nil,
			{a1: v1},
			{a2: v2},
			{a1: v1, a2: v2},
			{a1 + "=" + b1: v2},
			{b1: v1, b2: v2, a1 + "&" + a2: nil},
		}
		for _, m1 := range params {
			for _, m2 := range params {
				for _, typs := range [][2]string{{a1, a1}, {a1, b1}} {
					same := typs[0] == typs[1] && (maps.Equal(m1, m2) || typs[0] == "")
					check("Condition", Condition(typs[0], m1), Condition(typs[1], m2), same)
				}
			}
		}
	})
}

// FuzzNumbers checks that an integer and a float are the same dependency
// exactly when they are the same number.
func FuzzNumbers(f *testing.F) {
	f.Add(int64(1), uint64(1), 1.0, float32(1))
	f.Add(int64(math.MinInt64), uint64(1<<63), float64(1<<63), float32(-(1 << 63)))
	f.Add(int64(-1), uint64(math.MaxUint64), 0.5, float32(0.1))
	f.Add(int64(math.MinInt64), uint64(1<<63), float64(1<<63), float32(-9.223372e+19))
	f.Fuzz(func(t *testing.T, n int64, u uint64, x float64, y float32) {
		eq := func(what string, d1, d2 Dep, same bool) {
			t.Helper()
			if (d1 == d2) != same {
				t.Fatalf("%s: %q == %q is %v, want %v", what, d1, d2, d1 == d2, same)
			}
		}
		eq("int64/float64", Id("a", n), Id("a", x), intEqFloat(n, x))
		eq("uint64/float64", Id("a", u), Id("a", x), uintEqFloat(u, x))
		eq("int64/float32", Id("a", n), Id("a", y), intEqFloat(n, float64(y)))
		eq("int64/uint64", Id("a", n), Id("a", u), n >= 0 && uint64(n) == u)
		// A float32 and a float64 of the same integral value in the integer
		// range agree. (Beyond it, and for fractions, each prints in the
		// shortest form at its own width, so they need not.)
		if f := float64(y); f == math.Trunc(f) && f >= -(1<<63) && f < 1<<64 {
			eq("float32/float64", Id("a", y), Id("a", f), true)
		}
		for _, v := range []any{n, u, x, y} {
			if _, err := Parse(Id("a", v).String()); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func intEqFloat(n int64, x float64) bool {
	return x == math.Trunc(x) && x >= -(1<<63) && x < 1<<63 && int64(x) == n
}

func uintEqFloat(u uint64, x float64) bool {
	return x == math.Trunc(x) && x >= 0 && x < 1<<64 && uint64(x) == u
}
