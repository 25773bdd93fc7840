package scopes_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/matroska-go/matroska"
	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
	"github.com/matroska-go/matroska/tiered"
)

// post is a model whose fields are named three ways: Go names, json names
// and a GORM column.
type post struct {
	ID        int    `json:"id"`
	Title     string `json:"title"`
	Category  string `json:"category"`
	Published bool   `json:"published"`
	AuthorID  int    `json:"author"`
	Section   string `gorm:"column:sect;index"`
}

func postScopes(t *testing.T, opts scopes.Options) *scopes.Scopes[post] {
	t.Helper()
	s := scopes.New[post]("post", opts)
	// The README's signature: parameters named as the columns, no Watch.
	must(t, s.Describe(scopes.Signature[post]{
		Params: []string{"published", "category"},
		Extract: func(p post) (scopes.P, error) {
			return scopes.P{"published": p.Published, "category": p.Category}, nil
		},
	}))
	must(t, s.Describe(scopes.Signature[post]{
		Params: []string{"author_id"},
		Extract: func(p post) (scopes.P, error) {
			return scopes.P{"author_id": p.AuthorID}, nil
		},
	}))
	must(t, s.Describe(scopes.Signature[post]{
		Params: []string{"section"},
		Watch:  []string{"sect"},
		Extract: func(p post) (scopes.P, error) {
			return scopes.P{"section": p.Section}, nil
		},
	}))
	return s
}

// The README's call, InvalidateChange(..., "Category") for a signature
// whose parameter is "category": moving a post from go to rust drops the
// rust list, on a real cache.
func TestModifiedNamesMatchParametersAsFields(t *testing.T) {
	ctx := context.Background()
	cache, err := tiered.New(tiered.Config{})
	must(t, err)
	defer cache.Close()
	s := postScopes(t, scopes.Options{})
	db := map[int]post{1: {ID: 1, Category: "go", Published: true}}
	list := func(category string) []int {
		ids, err := matroska.GetOrLoad(ctx, cache, "posts:"+category, func(ctx context.Context, rec *matroska.Recorder) ([]int, error) {
			var ids []int
			for _, p := range db {
				if p.Published && p.Category == category {
					ids = append(ids, p.ID)
					rec.Depend(deps.Id("post", p.ID))
				}
			}
			cs, err := s.Condition(scopes.P{"published": true, "category": category})
			rec.Depend(cs...)
			return ids, err
		}, matroska.TTL(time.Minute))
		must(t, err)
		return ids
	}
	if got := list("rust"); len(got) != 0 {
		t.Fatalf("rust list = %v", got)
	}
	before := db[1]
	after := before
	after.Category = "rust"
	db[1] = after
	must(t, cache.Invalidate(ctx, deps.Id("post", 1)))
	must(t, s.InvalidateChange(ctx, cache, before, after, "Category"))
	if got := list("rust"); !slices.Equal(got, []int{1}) {
		t.Fatalf("rust list after the move = %v, want [1]: the change of \"Category\" skipped the \"category\" signature", got)
	}

	// Every spelling of a field reaches the signatures that watch it.
	for _, tc := range []struct {
		name string
		want deps.Dep
	}{
		{"category", deps.Condition("post", scopes.P{"published": true, "category": "rust"})},
		{"AuthorID", deps.Condition("post", scopes.P{"author_id": 0})},
		{"author_id", deps.Condition("post", scopes.P{"author_id": 0})},
		{"author", deps.Condition("post", scopes.P{"author_id": 0})}, // its json name
		{"Section", deps.Condition("post", scopes.P{"section": ""})},
		{"sect", deps.Condition("post", scopes.P{"section": ""})}, // its column
	} {
		ds, err := s.ObjectDeps(after, tc.name)
		must(t, err)
		if !slices.Contains(ds, tc.want) {
			t.Errorf("a change of %q: %v lacks %v", tc.name, strs(ds), tc.want)
		}
	}
	// A field no signature watches skips them all (the ids reach the lists).
	ds, err := s.ObjectDeps(after, "Title")
	must(t, err)
	if !slices.Equal(ds, []deps.Dep{s.Every()}) {
		t.Errorf("a change of Title: %v, want Every only", strs(ds))
	}
}

// A changed-field name that names no field of the type is an error in
// strict mode and a warning in lenient mode; either way every signature is
// used, as if every field had changed.
func TestUnknownModifiedName(t *testing.T) {
	var buf bytes.Buffer
	for _, lenient := range []bool{false, true} {
		s := postScopes(t, scopes.Options{Lenient: lenient, Logger: slog.New(slog.NewTextHandler(&buf, nil))})
		p := post{ID: 1, Category: "go", Published: true}
		all, err := s.ObjectDeps(p)
		must(t, err)
		ds, err := s.ChangeDeps(p, p, "Categroy")
		if lenient && err != nil {
			t.Errorf("lenient: %v", err)
		}
		if !lenient && (!errors.Is(err, scopes.ErrUnknownField) || !strings.Contains(err.Error(), "Categroy")) {
			t.Errorf("strict: %v, want ErrUnknownField naming Categroy", err)
		}
		if !slices.Equal(strs(ds), strs(all)) {
			t.Errorf("lenient=%v: invalidated %v, want every signature's %v", lenient, strs(ds), strs(all))
		}
		inv := &recorder{}
		err = s.InvalidateChange(context.Background(), inv, p, p, "Categroy")
		if !lenient && !errors.Is(err, scopes.ErrUnknownField) {
			t.Errorf("strict InvalidateChange: %v, want ErrUnknownField", err)
		}
		if !slices.Equal(strs(inv.got), strs(all)) {
			t.Errorf("lenient=%v: InvalidateChange invalidated %v, want %v", lenient, strs(inv.got), strs(all))
		}
	}
	if !strings.Contains(buf.String(), "Categroy") {
		t.Errorf("lenient mode logged %q; want the unknown name", buf.String())
	}
}

// A signature must watch fields of the type: a Watch name, or (by default)
// a parameter, that names no field would never match a change.
func TestWatchMustNameFields(t *testing.T) {
	ok := func(post) (scopes.P, error) { return nil, nil }
	for name, sig := range map[string]scopes.Signature[post]{
		"misspelt watch":        {Params: []string{"category"}, Watch: []string{"Categroy"}, Extract: ok},
		"parameter of no field": {Params: []string{"tag"}, Extract: ok},
	} {
		s := scopes.New[post]("post", scopes.Options{})
		if err := s.Describe(sig); !errors.Is(err, scopes.ErrInvalidSignature) {
			t.Errorf("%s: %v, want ErrInvalidSignature", name, err)
		}
	}
}
