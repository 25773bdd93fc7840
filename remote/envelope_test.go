package remote

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/matroska-go/matroska/deps"
)

func TestEnvelopeLayout(t *testing.T) {
	e := Envelope{Deps: []deps.Dep{deps.Id("article", 1), deps.Tag("home")}, Payload: []byte("xyz")}
	e.Mark = 0x0102030405060708
	e.Expires = time.UnixMilli(0x1112131415161718)
	e.Fresh = time.UnixMilli(0x2122232425262728)
	e.Due = time.UnixMilli(0x3132333435363738)
	e.Codec = "json"
	e.Epoch = "ep"
	e.TTL = time.Hour // not stored
	got := AppendEnvelope([]byte("prefix"), e)
	want := []byte("prefixE\x05\x00\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18" +
		"\x21\x22\x23\x24\x25\x26\x27\x28\x31\x32\x33\x34\x35\x36\x37\x38json\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02ep\x00\x00\x00\x15id:article:1\ntag:homexyz")
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendEnvelope = %q, want %q", got, want)
	}
	back, err := DecodeEnvelope(got[len("prefix"):])
	if err != nil || back.Mark != e.Mark || !back.Expires.Equal(e.Expires) || !back.Fresh.Equal(e.Fresh) ||
		!back.Due.Equal(e.Due) || back.Codec != "json" || back.Epoch != "ep" || back.TTL != 0 {
		t.Fatalf("DecodeEnvelope = %+v, %v", back, err)
	}
	neg := AppendEnvelope(nil, Envelope{NotFound: true, Payload: []byte("ignored")})
	if want := []byte("E\x05\x01" + strings.Repeat("\x00", 53)); !bytes.Equal(neg, want) {
		t.Fatalf("negative envelope = %q, want %q", neg, want)
	}
}

// Entries written in the fourth layout (no Fresh, no Due) still read, with
// their epoch.
func TestDecodeEnvelopeVersion4(t *testing.T) {
	e, err := DecodeEnvelope([]byte("E\x04\x00\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18\x02ep\x00\x00\x00\x15id:article:1\ntag:homexyz"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Mark != 0x0102030405060708 || !e.Expires.Equal(time.UnixMilli(0x1112131415161718)) || e.Epoch != "ep" ||
		!e.Fresh.IsZero() || !e.Due.IsZero() ||
		!slices.Equal(e.Deps, []deps.Dep{deps.Id("article", 1), deps.Tag("home")}) || string(e.Payload) != "xyz" {
		t.Fatalf("decoded %+v", e)
	}
}

// Entries written in the third layout (no epoch) still read, with Epoch "":
// a reader never serves them.
func TestDecodeEnvelopeVersion3(t *testing.T) {
	e, err := DecodeEnvelope([]byte("E\x03\x00\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18\x00\x00\x00\x15id:article:1\ntag:homexyz"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Mark != 0x0102030405060708 || !e.Expires.Equal(time.UnixMilli(0x1112131415161718)) || e.Epoch != "" ||
		!slices.Equal(e.Deps, []deps.Dep{deps.Id("article", 1), deps.Tag("home")}) || string(e.Payload) != "xyz" {
		t.Fatalf("decoded %+v", e)
	}
}

// Entries written in the second layout (no expiry) still read, with a zero
// Expires.
func TestDecodeEnvelopeVersion2(t *testing.T) {
	e, err := DecodeEnvelope([]byte("E\x02\x00\x01\x02\x03\x04\x05\x06\x07\x08\x00\x00\x00\x15id:article:1\ntag:homexyz"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Mark != 0x0102030405060708 || !e.Expires.IsZero() || e.NotFound ||
		!slices.Equal(e.Deps, []deps.Dep{deps.Id("article", 1), deps.Tag("home")}) || string(e.Payload) != "xyz" {
		t.Fatalf("decoded %+v", e)
	}
}

// Entries written in the first layout (no mark) still read, with Mark 0.
func TestDecodeEnvelopeVersion1(t *testing.T) {
	e, err := DecodeEnvelope([]byte("E\x01\x00\x00\x00\x00\x15id:article:1\ntag:homexyz"))
	if err != nil {
		t.Fatal(err)
	}
	if e.Mark != 0 || e.NotFound || !slices.Equal(e.Deps, []deps.Dep{deps.Id("article", 1), deps.Tag("home")}) || string(e.Payload) != "xyz" {
		t.Fatalf("decoded %+v", e)
	}
}

func TestDecodeEnvelopeRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"short header", "E\x01\x00\x00\x00"},
		{"bad magic", "X\x01\x00\x00\x00\x00\x00"},
		{"bad version", "E\x04\x00\x00\x00\x00\x00"},
		{"version 0", "E\x00\x00\x00\x00\x00\x00"},
		{"short version 2 header", "E\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"},
		{"short version 3 header", "E\x03\x00" + strings.Repeat("\x00", 19)},
		{"version 3 length past end", "E\x03\x00" + strings.Repeat("\x00", 16) + "\x00\x00\x00\x05tag:"},
		{"negative expiry", "E\x03\x00" + strings.Repeat("\x00", 8) + "\x80" + strings.Repeat("\x00", 11)},
		{"short version 5 header", "E\x05\x00" + strings.Repeat("\x00", 52)},
		{"version 5 epoch past end", "E\x05\x00" + strings.Repeat("\x00", 48) + "\x09ep\x00\x00\x00\x00"},
		{"negative fresh", "E\x05\x00" + strings.Repeat("\x00", 16) + "\x80" + strings.Repeat("\x00", 36)},
		{"negative due", "E\x05\x00" + strings.Repeat("\x00", 24) + "\x80" + strings.Repeat("\x00", 28)},
		{"codec padded with other bytes", "E\x05\x00" + strings.Repeat("\x00", 32) + "json\x00x" + strings.Repeat("\x00", 15)},
		{"version 2 length past end", "E\x02\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x05tag:"},
		{"unknown flag", "E\x01\x02\x00\x00\x00\x00"},
		{"length past end", "E\x01\x00\x00\x00\x00\x05tag:"},
		{"huge length", "E\x01\x00\xff\xff\xff\xfftag:x"},
		{"invalid dep", "E\x01\x00\x00\x00\x00\x03foo"},
		{"unescaped dep", "E\x01\x00\x00\x00\x00\x06tag:a{"},
		{"empty dep line", "E\x01\x00\x00\x00\x00\x0ctag:a\n\ntag:b"},
		{"trailing newline", "E\x01\x00\x00\x00\x00\x06tag:a\n"},
		{"leading newline", "E\x01\x00\x00\x00\x00\x06\ntag:a"},
		{"negative with payload", "E\x01\x01\x00\x00\x00\x00data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEnvelope([]byte(tc.in))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeEnvelope(%q) error = %v, want ErrCorrupt", tc.in, err)
			}
		})
	}
}

func TestDecodeEnvelopeAccepts(t *testing.T) {
	e, err := DecodeEnvelope([]byte("E\x01\x00\x00\x00\x00\x00"))
	if err != nil || e.NotFound || e.Deps != nil || e.Payload != nil {
		t.Fatalf("empty envelope = %+v, %v", e, err)
	}
	e, err = DecodeEnvelope([]byte("E\x01\x01\x00\x00\x00\x05tag:x"))
	if err != nil || !e.NotFound || len(e.Deps) != 1 || e.Deps[0] != deps.Tag("x") {
		t.Fatalf("negative envelope = %+v, %v", e, err)
	}
}

// genDep draws a dependency of any kind from arbitrary user strings,
// including ones full of separators.
func genDep() *rapid.Generator[deps.Dep] {
	text := rapid.StringOf(rapid.RuneFrom([]rune("ab:&={}%~\n\x00é1")))
	name := rapid.StringOfN(rapid.RuneFrom([]rune("ab:&={}%~\n\x00é1")), 1, -1, -1) // an empty one is the zero Dep
	return rapid.Custom(func(t *rapid.T) deps.Dep {
		switch rapid.IntRange(0, 4).Draw(t, "kind") {
		case 0:
			return deps.Id(name.Draw(t, "type"), text.Draw(t, "id"))
		case 1:
			return deps.Tag(name.Draw(t, "tag"))
		case 2:
			return deps.Key(name.Draw(t, "key"))
		case 3:
			return deps.All(name.Draw(t, "type"))
		default:
			return deps.Condition(name.Draw(t, "type"), map[string]any{
				text.Draw(t, "p1"): text.Draw(t, "v1"),
				text.Draw(t, "p2"): rapid.Int().Draw(t, "v2"),
			})
		}
	})
}

// TestEnvelopeRoundTrip: DecodeEnvelope(AppendEnvelope(e)) gives e back
// (a negative entry without payload), for arbitrary dependencies and
// payloads.
func TestEnvelopeRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		in := Envelope{
			NotFound: rapid.Bool().Draw(t, "notFound"),
			Deps:     rapid.SliceOfN(genDep(), 0, 6).Draw(t, "deps"),
			Payload:  rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "payload"),
			Mark:     rapid.Uint64().Draw(t, "mark"),
			Epoch:    rapid.StringN(0, 40, 255).Draw(t, "epoch"),
		}
		if ms := rapid.Int64Range(0, 1<<50).Draw(t, "expires"); ms > 0 {
			in.Expires = time.UnixMilli(ms)
		}
		prefix := rapid.SliceOfN(rapid.Byte(), 0, 4).Draw(t, "prefix")
		b := AppendEnvelope(slices.Clone(prefix), in)
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("AppendEnvelope clobbered dst")
		}
		out, err := DecodeEnvelope(b[len(prefix):])
		if err != nil {
			t.Fatalf("DecodeEnvelope: %v", err)
		}
		if out.NotFound != in.NotFound || !slices.Equal(out.Deps, in.Deps) || out.Mark != in.Mark || !out.Expires.Equal(in.Expires) || out.Epoch != in.Epoch {
			t.Fatalf("round trip: got %+v, want %+v", out, in)
		}
		wantPayload := in.Payload
		if in.NotFound {
			wantPayload = nil
		}
		if !bytes.Equal(out.Payload, wantPayload) {
			t.Fatalf("payload: got %q, want %q", out.Payload, wantPayload)
		}
	})
}

// FuzzDecodeEnvelope: DecodeEnvelope never panics, errors wrap ErrCorrupt,
// and whatever it accepts encodes back to the same bytes (the format has
// one spelling per envelope).
func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(AppendEnvelope(nil, Envelope{}))
	f.Add(AppendEnvelope(nil, Envelope{NotFound: true, Deps: []deps.Dep{deps.Key("k")}}))
	f.Add(AppendEnvelope(nil, Envelope{
		Deps:    []deps.Dep{deps.Id("a", 1), deps.Condition("b", map[string]any{"x": nil, "y": "&="}), deps.All("c")},
		Payload: []byte(`{"v":1}`),
	}))
	f.Add(AppendEnvelope(nil, Envelope{Mark: 1 << 40, Expires: time.UnixMilli(1 << 41), Deps: []deps.Dep{deps.Tag("x")}, Payload: []byte("p")}))
	f.Add(AppendEnvelope(nil, Envelope{Mark: 3, Epoch: "0123456789abcdef0123456789abcdef", Deps: []deps.Dep{deps.Tag("x")}, Payload: []byte("p")}))
	f.Add([]byte("E\x04\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x02ep\x00\x00\x00\x05tag:xp"))
	f.Add([]byte("E\x03\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05tag:xp"))
	f.Add([]byte("E\x02\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x05tag:xp"))
	f.Add([]byte(""))
	f.Add([]byte("E"))
	f.Add([]byte("E\x01\x00\xff\xff\xff\xff"))
	f.Add([]byte("E\x01\x00\x00\x00\x00\x06tag:a\n"))
	f.Add([]byte("E\x01\x01\x00\x00\x00\x00x"))
	f.Add([]byte("E\x01\x00\x00\x00\x00\x05id:a:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEnvelope(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		for _, d := range e.Deps {
			if _, err := deps.Parse(d.String()); err != nil {
				t.Fatalf("accepted invalid dependency %q", d)
			}
		}
		again := AppendEnvelope(nil, e)
		// An older layout re-encodes in the current one: the fields it has
		// keep their place up to keep, what it lacks (up to zero) is zero,
		// and what followed at from follows.
		if b[1] < envVersion {
			layout := map[byte]struct{ keep, zero, from int }{
				1: {3, 52, 3}, 2: {11, 52, 11}, 3: {19, 52, 19}, 4: {19, 51, 19},
			}[b[1]]
			if again[1] != envVersion || !bytes.Equal(again[2:layout.keep], b[2:layout.keep]) ||
				!bytes.Equal(again[layout.keep:layout.zero], make([]byte, layout.zero-layout.keep)) ||
				!bytes.Equal(again[layout.zero:], b[layout.from:]) {
				t.Fatalf("re-encoding %q (version %d) gave %q", b, b[1], again)
			}
			return
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("re-encoding %q gave %q", b, again)
		}
	})
}
