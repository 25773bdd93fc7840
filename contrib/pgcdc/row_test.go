package pgcdc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
)

// row builds a Row of (name, oid, text) columns; a nil text is NULL, the
// text "\x00u" an unchanged TOASTed value.
func row(cols ...any) *Row {
	r := &Row{m: pgtype.NewMap()}
	for i := 0; i < len(cols); i += 3 {
		c := column{name: cols[i].(string), oid: cols[i+1].(uint32), kind: pglogrepl.TupleDataTypeNull}
		if s, ok := cols[i+2].(string); ok {
			c.kind, c.data = pglogrepl.TupleDataTypeText, []byte(s)
			if s == "\x00u" {
				c.kind, c.data = pglogrepl.TupleDataTypeToast, nil
			}
		}
		r.cols = append(r.cols, c)
	}
	return r
}

func TestRowValue(t *testing.T) {
	r := row("id", uint32(pgtype.Int8OID), "7", "ok", uint32(pgtype.BoolOID), "t",
		"f", uint32(pgtype.Float8OID), "1.5", "u", uint32(pgtype.UUIDOID), "0b6e5a52-54c5-4f4e-9d3b-2f1f1a4c3f00",
		"n", uint32(pgtype.TextOID), nil, "big", uint32(pgtype.TextOID), "\x00u")
	for _, c := range []struct {
		col  string
		want any
	}{{"id", int64(7)}, {"ok", true}, {"f", 1.5}, {"u", "0b6e5a52-54c5-4f4e-9d3b-2f1f1a4c3f00"}, {"n", nil}} {
		got, err := r.Value(c.col)
		if err != nil || got != c.want {
			t.Errorf("Value(%q) = %v, %v; want %v", c.col, got, err, c.want)
		}
	}
	if _, err := r.Value("big"); !errors.Is(err, ErrIncomplete) {
		t.Errorf("an unchanged TOASTed value: %v, want ErrIncomplete", err)
	}
	if _, err := r.Value("missing"); !errors.Is(err, ErrIncomplete) {
		t.Errorf("a missing column: %v, want ErrIncomplete", err)
	}
	// The key's text is the one a Go model's key formats to.
	if k, _ := r.key([]string{"id"}); deps.Id("articles", k) != deps.Id("articles", 7) {
		t.Errorf("key %v", k)
	}
	if k, _ := r.key([]string{"id", "ok"}); k != "7,true" {
		t.Errorf("composite key %v", k)
	}
}

func TestRowFillUnchanged(t *testing.T) {
	old := row("id", uint32(pgtype.Int8OID), "1", "body", uint32(pgtype.TextOID), "long")
	now := row("id", uint32(pgtype.Int8OID), "1", "body", uint32(pgtype.TextOID), "\x00u")
	now.fillUnchanged(old)
	if v, err := now.Value("body"); err != nil || v != "long" {
		t.Fatalf("body = %v, %v", v, err)
	}
	if cols, ok := now.changed(old); !ok || len(cols) != 0 {
		t.Fatalf("changed = %v, %v", cols, ok)
	}
}

// post is a model with GORM's and json's names for its columns.
type post struct {
	ID       int64
	AuthorID int64     // author_id
	Section  string    `gorm:"column:cat"`
	Title    string    `json:"headline"`
	At       time.Time // at
	Draft    *bool     // draft, nullable
}

func TestScopesOfDecodesByName(t *testing.T) {
	var got []post
	s := scopes.New[post]("post", scopes.Options{})
	err := s.Describe(scopes.Signature[post]{Params: []string{"section"}, Watch: []string{"Section"},
		Extract: func(p post) (scopes.P, error) {
			got = append(got, p)
			return scopes.P{"section": p.Section}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	before := row("id", uint32(pgtype.Int8OID), "1", "author_id", uint32(pgtype.Int8OID), "9",
		"cat", uint32(pgtype.TextOID), "go", "headline", uint32(pgtype.TextOID), "hi",
		"at", uint32(pgtype.TimestamptzOID), "2026-01-02 03:04:05+00", "draft", uint32(pgtype.BoolOID), nil,
		"extra", uint32(pgtype.TextOID), "ignored")
	after := row("id", uint32(pgtype.Int8OID), "1", "author_id", uint32(pgtype.Int8OID), "9",
		"cat", uint32(pgtype.TextOID), "rust", "headline", uint32(pgtype.TextOID), "hi",
		"at", uint32(pgtype.TimestamptzOID), "2026-01-02 03:04:05+00", "draft", uint32(pgtype.BoolOID), "t",
		"extra", uint32(pgtype.TextOID), "ignored")
	ds, err := ScopesOf(s).Deps(Update, before, after)
	if err != nil {
		t.Fatal(err)
	}
	want := []deps.Dep{s.Every(), deps.Condition("post", map[string]any{"section": "go"}), deps.Condition("post", map[string]any{"section": "rust"})}
	if !same(ds, want) {
		t.Fatalf("deps %v, want %v", ds, want)
	}
	if len(got) != 2 || got[0].AuthorID != 9 || got[0].Title != "hi" || got[0].Draft != nil ||
		!got[0].At.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) || got[1].Draft == nil || !*got[1].Draft {
		t.Fatalf("decoded %+v", got)
	}

	// A change of a column no signature watches leaves the conditions alone.
	got = nil
	retitled := row("id", uint32(pgtype.Int8OID), "1", "cat", uint32(pgtype.TextOID), "go", "headline", uint32(pgtype.TextOID), "new")
	old := row("id", uint32(pgtype.Int8OID), "1", "cat", uint32(pgtype.TextOID), "go", "headline", uint32(pgtype.TextOID), "old")
	if ds, err := ScopesOf(s).Deps(Update, old, retitled); err != nil || !same(ds, []deps.Dep{s.Every()}) || len(got) != 0 {
		t.Fatalf("a title change: %v, %v (extracted %d)", ds, err, len(got))
	}

	// Without old values an update invalidates every list of the type.
	if ds, _ := ScopesOf(s).Deps(Update, nil, after); !contains(ds, s.All()) {
		t.Fatalf("an update without old values: %v", ds)
	}
	if ds, _ := ScopesOf(s).Deps(Delete, nil, nil); !same(ds, []deps.Dep{s.All()}) {
		t.Fatalf("a delete without old values: %v", ds)
	}
	// An unchanged TOASTed value that nothing fills falls back too.
	part := row("id", uint32(pgtype.Int8OID), "1", "cat", uint32(pgtype.TextOID), "\x00u")
	if ds, err := ScopesOf(s).Deps(Insert, nil, part); !errors.Is(err, ErrIncomplete) || !same(ds, []deps.Dep{s.All()}) {
		t.Fatalf("an incomplete row: %v, %v", ds, err)
	}
}

func TestScopesOfNotAStruct(t *testing.T) {
	s := scopes.New[int]("n", scopes.Options{})
	if ds, err := ScopesOf(s).Deps(Insert, nil, row()); !errors.Is(err, ErrConfig) || !same(ds, []deps.Dep{s.All()}) {
		t.Fatalf("%v, %v", ds, err)
	}
}

// TestCompositeKey: the cases of contrib/gorm's TestCompositeKey, so the
// two stay one function.
func TestCompositeKey(t *testing.T) {
	a, b := CompositeKey("a,b", "c"), CompositeKey("a", "b,c")
	if a == b || CompositeKey("a%2Cb", "c") == a {
		t.Fatalf("keys collide: %q %q", a, b)
	}
	if got := CompositeKey(1, int64(2), true); got != "1,2,true" {
		t.Fatalf("CompositeKey = %q", got)
	}
}

func TestConfig(t *testing.T) {
	ok := Config{Conn: "postgres://localhost/db", Invalidator: nopInvalidator{}, Tables: map[string]Table{"articles": {}}}
	s, err := ok.settings()
	if err != nil {
		t.Fatal(err)
	}
	if s.tables["public.articles"].Type != "articles" || s.Slot != "matroska" || s.Publication != "matroska" || s.BatchSize != 1000 {
		t.Fatalf("defaults: %+v", s)
	}
	for name, c := range map[string]Config{
		"no conn":        {Invalidator: ok.Invalidator, Tables: ok.Tables},
		"no invalidator": {Conn: ok.Conn, Tables: ok.Tables},
		"no tables":      {Conn: ok.Conn, Invalidator: ok.Invalidator},
		"twice":          {Conn: ok.Conn, Invalidator: ok.Invalidator, Tables: map[string]Table{"a": {}, "public.a": {}}},
		"nil scope":      {Conn: ok.Conn, Invalidator: ok.Invalidator, Tables: map[string]Table{"a": {Scopes: []Scope{nil}}}},
		"bad conn":       {Conn: "postgres://[", Invalidator: ok.Invalidator, Tables: ok.Tables},
	} {
		if _, err := New(c); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

func same(a, b []deps.Dep) bool {
	if len(a) != len(b) {
		return false
	}
	for _, d := range b {
		if !contains(a, d) {
			return false
		}
	}
	return true
}

func contains(ds []deps.Dep, d deps.Dep) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

type nopInvalidator struct{}

func (nopInvalidator) Invalidate(context.Context, ...deps.Dep) error { return nil }
