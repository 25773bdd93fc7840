package scopes_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
)

type article struct {
	ID        int
	Title     string
	Category  string
	Published bool
	Tags      []string
}

func articleScopes(t *testing.T, opts scopes.Options) *scopes.Scopes[article] {
	t.Helper()
	s := scopes.New[article]("article", opts)
	must(t, s.Describe(scopes.Signature[article]{
		Params: []string{"published", "category"},
		Watch:  []string{"Published", "Category"},
		Extract: func(a article) (scopes.P, error) {
			return scopes.P{"published": a.Published, "category": a.Category}, nil
		},
	}))
	must(t, s.Describe(scopes.Signature[article]{
		Params: []string{"tag"},
		Watch:  []string{"Tags"},
		Extract: func(a article) (scopes.P, error) {
			in := make(scopes.In, len(a.Tags))
			for i, tag := range a.Tags {
				in[i] = tag
			}
			return scopes.P{"tag": in}, nil
		},
	}))
	return s
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func strs(ds []deps.Dep) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.String()
	}
	slices.Sort(out)
	return out
}

func TestCondition(t *testing.T) {
	s := articleScopes(t, scopes.Options{})
	ds, err := s.Condition(scopes.P{"category": "sci-fi", "published": true})
	must(t, err)
	want := strs([]deps.Dep{
		deps.Condition("article", map[string]any{"category": "sci-fi", "published": true}),
		deps.All("article"),
	})
	if got := strs(ds); !slices.Equal(got, want) {
		t.Fatalf("Condition = %v, want %v", got, want)
	}
	// The values are canonical: "true" is true.
	ds2, err := s.Condition(scopes.P{"category": "sci-fi", "published": "true"})
	must(t, err)
	if !slices.Equal(strs(ds2), want) {
		t.Fatalf("\"true\" and true differ: %v vs %v", strs(ds2), want)
	}
}

func TestConditionInExpands(t *testing.T) {
	s := articleScopes(t, scopes.Options{})
	ds, err := s.Condition(scopes.P{"category": scopes.In{"a", "b", "a"}, "published": scopes.In{true, false}})
	must(t, err)
	// 2 categories (a repeated) x 2 booleans, and All.
	if len(ds) != 5 {
		t.Fatalf("got %d deps, want 5: %v", len(ds), strs(ds))
	}
	for _, c := range []string{"a", "b"} {
		for _, p := range []bool{true, false} {
			d := deps.Condition("article", map[string]any{"category": c, "published": p})
			if !slices.Contains(ds, d) {
				t.Errorf("missing %v", d)
			}
		}
	}
	// An empty In matches no object: the list depends on All only.
	ds, err = s.Condition(scopes.P{"category": scopes.In{}, "published": true})
	must(t, err)
	if got := strs(ds); !slices.Equal(got, []string{deps.All("article").String()}) {
		t.Fatalf("empty In: %v", got)
	}
	// No parameters: the list of every article.
	ds, err = s.Condition(scopes.P{})
	must(t, err)
	if !slices.Equal(ds, []deps.Dep{deps.Condition("article", nil), deps.All("article")}) {
		t.Fatalf("no parameters: %v", strs(ds))
	}
}

func TestConditionEscapesValues(t *testing.T) {
	// The seed's collision: {'a': 'q&r=s'} against two parameters.
	s := scopes.New[map[string]string]("t", scopes.Options{})
	must(t, s.Describe(scopes.Signature[map[string]string]{Params: []string{"a"}, Extract: func(m map[string]string) (scopes.P, error) { return scopes.P{"a": m["a"]}, nil }}))
	must(t, s.Describe(scopes.Signature[map[string]string]{Params: []string{"a", "r"}, Extract: func(m map[string]string) (scopes.P, error) { return scopes.P{"a": m["a"], "r": m["r"]}, nil }}))
	one, err := s.Condition(scopes.P{"a": "q&r=s"})
	must(t, err)
	two, err := s.Condition(scopes.P{"a": "q", "r": "s"})
	must(t, err)
	if one[0] == two[0] || one[0].String() == two[0].String() {
		t.Fatalf("conditions collide: %v", one[0])
	}
}

func TestUnknownSignature(t *testing.T) {
	strict := articleScopes(t, scopes.Options{})
	ds, err := strict.Condition(scopes.P{"author": 7})
	if !errors.Is(err, scopes.ErrUnknownSignature) {
		t.Fatalf("strict: err = %v, want ErrUnknownSignature", err)
	}
	fallback := []deps.Dep{deps.Condition("article", nil), deps.All("article")}
	if !slices.Equal(ds, fallback) {
		t.Fatalf("strict: deps = %v, want the fallback", ds)
	}

	var buf bytes.Buffer
	lenient := articleScopes(t, scopes.Options{Lenient: true, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	ds, err = lenient.Condition(scopes.P{"author": 7})
	if err != nil {
		t.Fatalf("lenient: err = %v", err)
	}
	if !slices.Equal(ds, fallback) {
		t.Fatalf("lenient: deps = %v, want the fallback", ds)
	}
	if !strings.Contains(buf.String(), "unknown filter signature") || !strings.Contains(buf.String(), "author") {
		t.Fatalf("lenient fallback not logged: %q", buf.String())
	}
}

func TestTooManyConditions(t *testing.T) {
	s := articleScopes(t, scopes.Options{MaxConditions: 3})
	ds, err := s.Condition(scopes.P{"category": scopes.In{"a", "b"}, "published": scopes.In{true, false}})
	if !errors.Is(err, scopes.ErrTooManyConditions) {
		t.Fatalf("err = %v", err)
	}
	if !slices.Equal(ds, []deps.Dep{deps.Condition("article", nil), deps.All("article")}) {
		t.Fatalf("deps = %v", ds)
	}
	// An object whose tags expand past the bound falls back too.
	obj := article{Tags: []string{"a", "b", "c", "d"}}
	ds, err = s.ObjectDeps(obj)
	if !errors.Is(err, scopes.ErrTooManyConditions) || !slices.Contains(ds, deps.All("article")) {
		t.Fatalf("object: %v, %v", strs(ds), err)
	}
}

func TestDescribeRejects(t *testing.T) {
	ok := func(article) (scopes.P, error) { return nil, nil }
	for name, c := range map[string]struct {
		typ string
		sig scopes.Signature[article]
	}{
		"empty type":   {"", scopes.Signature[article]{Params: []string{"a"}, Extract: ok}},
		"no params":    {"a", scopes.Signature[article]{Extract: ok}},
		"no extractor": {"a", scopes.Signature[article]{Params: []string{"a"}}},
		"empty name":   {"a", scopes.Signature[article]{Params: []string{""}, Extract: ok}},
		"repeated":     {"a", scopes.Signature[article]{Params: []string{"x", "x"}, Extract: ok}},
	} {
		s := scopes.New[article](c.typ, scopes.Options{})
		if err := s.Describe(c.sig); !errors.Is(err, scopes.ErrInvalidSignature) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	s := articleScopes(t, scopes.Options{})
	err := s.Describe(scopes.Signature[article]{Params: []string{"category", "published"}, Extract: ok})
	if !errors.Is(err, scopes.ErrInvalidSignature) {
		t.Errorf("duplicate signature (other order): err = %v", err)
	}
}

func TestObjectDeps(t *testing.T) {
	s := articleScopes(t, scopes.Options{})
	a := article{ID: 1, Category: "sci-fi", Published: true, Tags: []string{"space", "ai"}}
	ds, err := s.ObjectDeps(a)
	must(t, err)
	want := strs([]deps.Dep{
		deps.Condition("article", nil), // Every: the unfiltered and undescribed lists
		deps.Condition("article", map[string]any{"category": "sci-fi", "published": true}),
		deps.Condition("article", map[string]any{"tag": "space"}),
		deps.Condition("article", map[string]any{"tag": "ai"}),
	})
	if got := strs(ds); !slices.Equal(got, want) {
		t.Fatalf("ObjectDeps = %v, want %v", got, want)
	}
	// Only the tags changed: the (published, category) signature is skipped.
	ds, err = s.ObjectDeps(a, "Tags")
	must(t, err)
	if len(ds) != 3 {
		t.Fatalf("modified Tags: %v", strs(ds))
	}
	// A field no signature watches: only Every (the described lists see the
	// change through the object's id).
	ds, err = s.ObjectDeps(a, "Title")
	must(t, err)
	if !slices.Equal(ds, []deps.Dep{deps.Condition("article", nil)}) {
		t.Fatalf("modified Title: %v", strs(ds))
	}
}

func TestChangeDepsOldAndNew(t *testing.T) {
	s := articleScopes(t, scopes.Options{})
	before := article{ID: 1, Category: "sci-fi", Published: true}
	after := before
	after.Category = "fantasy"
	ds, err := s.ChangeDeps(before, after, "Category")
	must(t, err)
	for _, c := range []string{"sci-fi", "fantasy"} {
		d := deps.Condition("article", map[string]any{"category": c, "published": true})
		if !slices.Contains(ds, d) {
			t.Fatalf("ChangeDeps misses %v: %v", d, strs(ds))
		}
	}
}

func TestExtractorFailures(t *testing.T) {
	bad := []func(article) (scopes.P, error){
		func(article) (scopes.P, error) { return nil, errors.New("boom") },
		func(article) (scopes.P, error) { panic("boom") },
		func(article) (scopes.P, error) { return scopes.P{"x": 1}, nil },
		func(article) (scopes.P, error) { return scopes.P{"x": 1, "y": 2, "z": 3}, nil },
	}
	for i, f := range bad {
		var buf bytes.Buffer
		for _, lenient := range []bool{false, true} {
			s := scopes.New[article]("article", scopes.Options{Lenient: lenient, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
			must(t, s.Describe(scopes.Signature[article]{Params: []string{"x", "y"}, Watch: []string{"Title"}, Extract: f}))
			inv := &recorder{}
			err := s.InvalidateFor(context.Background(), inv, article{})
			if lenient && err != nil {
				t.Errorf("%d lenient: err = %v", i, err)
			}
			if !lenient && !errors.Is(err, scopes.ErrExtract) {
				t.Errorf("%d strict: err = %v, want ErrExtract", i, err)
			}
			// Either way the type-wide dependency was invalidated.
			if !slices.Equal(inv.got, []deps.Dep{deps.Condition("article", nil), deps.All("article")}) {
				t.Errorf("%d lenient=%v: invalidated %v, want the fallback", i, lenient, inv.got)
			}
		}
		if !strings.Contains(buf.String(), "cannot match") {
			t.Errorf("%d: lenient fallback not logged", i)
		}
	}
}

func TestInvalidateNilInvalidator(t *testing.T) {
	s := articleScopes(t, scopes.Options{})
	if err := s.InvalidateFor(context.Background(), nil, article{}); !errors.Is(err, scopes.ErrNoInvalidator) {
		t.Fatalf("err = %v", err)
	}
	if err := s.InvalidateChange(context.Background(), nil, article{}, article{}); !errors.Is(err, scopes.ErrNoInvalidator) {
		t.Fatalf("err = %v", err)
	}
}

// recorder is an Invalidator that remembers what it was asked.
type recorder struct{ got []deps.Dep }

func (r *recorder) Invalidate(_ context.Context, ds ...deps.Dep) error {
	r.got = append(r.got, ds...)
	return nil
}

var discard = slog.New(slog.DiscardHandler)
