package pgcdc

import (
	"reflect"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
)

// Op is the kind of a row change.
type Op uint8

// The row changes the log carries.
const (
	Insert Op = iota + 1
	Update
	Delete
)

// Scope gives the list conditions a row change invalidates. ScopesOf and
// ScopesFunc make one of a scopes.Scopes.
type Scope interface {
	// Deps returns the dependencies a change of one row invalidates. old is
	// nil for an INSERT, and for an UPDATE or DELETE whose old values the
	// log does not carry (no REPLICA IDENTITY FULL); new is nil for a
	// DELETE. Even with an error the dependencies returned must be
	// complete (a type-wide fallback).
	Deps(op Op, old, new *Row) ([]deps.Dep, error)

	// All is the type-wide dependency of the lists of the scope, the
	// fallback when a change cannot be matched to its lists, and what a
	// TRUNCATE invalidates.
	All() deps.Dep
}

// ScopesOf returns the Scope of s for a table whose rows decode into T (a
// struct, or a pointer to one, usually the GORM model): each column is
// scanned into the field whose Go name, json name or GORM column it names
// (compared in lower case without underscores), so the conditions are
// those the GORM plugin computes from the same row. Columns without a field
// are left out. A T that is not a struct makes the Scope return ErrConfig
// wrapped: use ScopesFunc.
func ScopesOf[T any](s *scopes.Scopes[T]) Scope {
	fm, err := newFieldMap(reflect.TypeFor[T]())
	if err != nil {
		return &scope[T]{s: s, err: err}
	}
	return &scope[T]{s: s, fm: fm, decode: func(r *Row) (T, error) {
		v, err := fm.decode(r)
		if err != nil {
			var zero T
			return zero, err
		}
		return v.Interface().(T), nil
	}}
}

// ScopesFunc returns the Scope of s for a table whose rows decode into T
// with decode. Every field counts as modified by an UPDATE.
func ScopesFunc[T any](s *scopes.Scopes[T], decode func(*Row) (T, error)) Scope {
	return &scope[T]{s: s, decode: decode}
}

type scope[T any] struct {
	s      *scopes.Scopes[T]
	fm     *fieldMap // nil with ScopesFunc
	decode func(*Row) (T, error)
	err    error // a configuration error, returned by every Deps
}

func (sc *scope[T]) All() deps.Dep { return sc.s.All() }

func (sc *scope[T]) Deps(op Op, old, new *Row) ([]deps.Dep, error) {
	if sc.err != nil {
		return []deps.Dep{sc.s.All()}, sc.err
	}
	var before, after T
	var err error
	if old != nil {
		if before, err = sc.decode(old); err != nil {
			return []deps.Dep{sc.s.All()}, err
		}
	}
	if new != nil {
		if after, err = sc.decode(new); err != nil {
			return []deps.Dep{sc.s.All()}, err
		}
	}
	switch {
	case old != nil && new != nil:
		var modified []string
		if sc.fm != nil {
			if cols, ok := new.changed(old); ok {
				// No mapped column changed: the object is the same, so are
				// its conditions, and the lists holding it go through its
				// id. Every() stays, as scopes.ChangeDeps always has it.
				if modified = sc.fm.fields(cols); len(modified) == 0 {
					return []deps.Dep{sc.s.Every()}, nil
				}
			}
		}
		return sc.s.ChangeDeps(before, after, modified...)
	case new != nil:
		ds, err := sc.s.ObjectDeps(after)
		if op == Update { // the old values are unknown: every list of the type
			ds = append(ds, sc.s.All())
		}
		return ds, err
	case old != nil:
		return sc.s.ObjectDeps(before)
	default: // a DELETE whose old values are unknown
		return []deps.Dep{sc.s.All()}, nil
	}
}

// CompositeKey returns the id text of a composite primary key:
// deps.Id(type, CompositeKey(part1, part2, ...)), the parts in the order of
// Table.Key. It is contrib/gorm's CompositeKey, so a row invalidated here
// and a model read through GORM meet: each part is canonicalised with
// deps.FormatValue, and "%" and "," in it are percent-escaped before the
// parts are joined with ",".
func CompositeKey(parts ...any) string { return deps.CompositeKey(parts...) }
