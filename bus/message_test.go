package bus_test

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/matroska-go/matroska/bus"
	"github.com/matroska-go/matroska/deps"
)

func sampleMessages() []bus.Message {
	return []bus.Message{
		{Epoch: "e", Seq: 1, Origin: "o", Deps: []deps.Dep{deps.Tag("x")}},
		{Epoch: "9f3a0c", Seq: 18446744073709551615, Origin: "node-1", Deps: []deps.Dep{
			deps.Id("article", 7),
			deps.Key("list:{a}:\n"),
			deps.Condition("article", map[string]any{"published": true, "author": nil}),
			deps.All("article"),
			deps.Tag("a&b=c%"),
		}},
		{Epoch: "with space", Seq: 42, Origin: "ü", Deps: []deps.Dep{deps.Tag(" "), deps.Tag(" ")}},
		{Epoch: "e", Seq: 7, Origin: "o", InLog: true},
		{Epoch: "e", Origin: "o", Hold: true},
	}
}

func TestMessageRoundTrip(t *testing.T) {
	for _, m := range sampleMessages() {
		if err := m.Validate(); err != nil {
			t.Fatalf("Validate(%+v): %v", m, err)
		}
		b := m.AppendEncode([]byte("prefix"))
		if !bytes.HasPrefix(b, []byte("prefix")) {
			t.Fatal("AppendEncode dropped dst")
		}
		got, err := bus.Decode(b[len("prefix"):])
		if err != nil {
			t.Fatalf("Decode(%q): %v", b, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("round trip: got %+v, want %+v", got, m)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"M1",
		"M1\n",
		"M2\ne\n1\no\ntag:x",
		"m1\ne\n1\no\ntag:x",
		"M1\n\n1\no\ntag:x",    // empty epoch
		"M1\ne\n1\n\ntag:x",    // empty origin
		"M1\ne\n1\no",          // no dependency
		"M1\ne\n1\no\n",        // empty dependency
		"M1\ne\n1\no\ntag:x\n", // trailing newline
		"M1\ne\n1\no\ntag:x\n\ntag:y",
		"M1\ne\n0\no\ntag:x",  // seq 0
		"M1\ne\n01\no\ntag:x", // leading zero
		"M1\ne\n+1\no\ntag:x",
		"M1\ne\n-1\no\ntag:x",
		"M1\ne\n1_0\no\ntag:x",
		"M1\ne\n 1\no\ntag:x",
		"M1\ne\n\no\ntag:x",
		"M1\ne\n18446744073709551616\no\ntag:x", // overflow
		"M1\ne\n1\no\ntag:a:b",                  // not canonical
		"M1\ne\n1\no\nfoo:x",
		"M1\ne\n1\no\ntag:%41",
		"M1\ne\n1",
		"M1\ne\n1\n",
		"M1\ne\n1\no\n@log\ntag:x", // dependencies in the log and in the message
		"M1\ne\n1\no\ntag:x\n@log",
		"M1\ne\n1\no\n@log\n",
		"M1\ne\n1\no\n@logs",
		"M1\ne\n1\no\n@LOG",
		"M1\ne\n0\no\n@hold\n", // a hold names no dependency
		"M1\ne\n0\no\n@hold\ntag:x",
		"M1\ne\n0\n\n@hold",
		"M1\ne\n0\no\n@hol",
		"M1\ne\n1\no\n@hold", // a hold has seq 0
		"M1\ne\n00\no\n@hold",
	} {
		if m, err := bus.Decode([]byte(in)); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("Decode(%q) = %+v, %v; want ErrMalformed", in, m, err)
		}
	}
}

func TestValidate(t *testing.T) {
	x := []deps.Dep{deps.Tag("x")}
	for _, m := range []bus.Message{
		{Seq: 1, Origin: "o", Deps: x},
		{Epoch: "e\n", Seq: 1, Origin: "o", Deps: x},
		{Epoch: "e", Origin: "o", Deps: x},
		{Epoch: "e", Seq: 1, Deps: x},
		{Epoch: "e", Seq: 1, Origin: "a\nb", Deps: x},
		{Epoch: "e", Seq: 1, Origin: "o"},
		{Epoch: "e", Seq: 1, Origin: "o", Deps: []deps.Dep{{}}},
		{Epoch: "e", Seq: 1, Origin: "o", Deps: x, InLog: true},
		{Epoch: "e", Origin: "o", InLog: true},
		{Epoch: "e", Seq: 1, Origin: "o", Hold: true},
		{Epoch: "e", Origin: "o", Deps: x, Hold: true},
		{Epoch: "e", Origin: "o", InLog: true, Hold: true},
		{Epoch: "e", Hold: true},
	} {
		if err := m.Validate(); !errors.Is(err, bus.ErrMalformed) {
			t.Errorf("Validate(%+v) = %v", m, err)
		}
		if _, err := bus.Decode(m.AppendEncode(nil)); err == nil {
			t.Errorf("the encoding of invalid %+v decodes", m)
		}
	}
}

// FuzzDecode checks that Decode never panics, that what it accepts is
// valid, and that it accepts only canonical encodings: re-encoding gives
// back the input.
func FuzzDecode(f *testing.F) {
	for _, m := range sampleMessages() {
		f.Add(m.AppendEncode(nil))
	}
	f.Add([]byte("M1\ne\n1\no\ntag:x\ntag:y"))
	f.Add([]byte("M1\ne\n01\no\ntag:x"))
	f.Add([]byte("M1\n\n\n\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := bus.Decode(b)
		if err != nil {
			if !errors.Is(err, bus.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("decoded %+v is invalid: %v", m, err)
		}
		if enc := m.AppendEncode(nil); !bytes.Equal(enc, b) {
			t.Fatalf("re-encoding %q gives %q", b, enc)
		}
		for _, d := range m.Deps {
			if _, err := deps.Parse(d.String()); err != nil {
				t.Fatalf("decoded dependency %q does not parse: %v", d, err)
			}
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	p := sampleMessages()[1].AppendEncode(nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := bus.Decode(p); err != nil {
			b.Fatal(err)
		}
	}
}

func ExampleMessage_AppendEncode() {
	m := bus.Message{
		Epoch:  "9f3a",
		Seq:    42,
		Origin: "node-1",
		Deps:   []deps.Dep{deps.Id("article", 7), deps.Tag("home")},
	}
	b := m.AppendEncode(nil)
	fmt.Printf("%q\n", b)

	back, err := bus.Decode(b)
	fmt.Println(back.Seq, back.Deps, err)
	// Output:
	// "M1\n9f3a\n42\nnode-1\nid:article:7\ntag:home"
	// 42 [id:article:7 tag:home] <nil>
}
