package scopes

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// fields maps the names of a struct type's fields to the fields: the key is
// a folded name (see fold), the value the Go names of the fields it names.
// It is nil for a type without fields (not a struct, nor a pointer to one),
// whose names cannot be checked.
type fields map[string][]string

// fieldsOf indexes the fields of T (through pointers, with the fields that
// embedded structs promote) under every name a change tracker may report
// for them: the Go name, the json name, and the GORM column.
func fieldsOf[T any]() fields {
	t := reflect.TypeFor[T]()
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	fs := fields{}
	add := func(alias, field string) {
		if k := fold(alias); k != "" && !slices.Contains(fs[k], field) {
			fs[k] = append(fs[k], field)
		}
	}
	for _, f := range reflect.VisibleFields(t) {
		add(f.Name, f.Name)
		if j, _, _ := strings.Cut(f.Tag.Get("json"), ","); j != "-" {
			add(j, f.Name)
		}
		for part := range strings.SplitSeq(f.Tag.Get("gorm"), ";") {
			if k, v, ok := strings.Cut(part, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "column") {
				add(strings.TrimSpace(v), f.Name)
			}
		}
	}
	return fs
}

// fold is the form in which names are compared: lower case, without
// underscores, so that a Go field name (AuthorID), its column (author_id)
// and a parameter (authorid) are one name.
func fold(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}

// resolve returns the fields that names name, and the names that name no
// field. For a type without fields every name resolves to its folded self.
func (fs fields) resolve(names []string) (resolved, unknown []string) {
	for _, n := range names {
		if fs == nil {
			resolved = append(resolved, fold(n))
			continue
		}
		f, ok := fs[fold(n)]
		if !ok {
			unknown = append(unknown, n)
			continue
		}
		for _, name := range f {
			if !slices.Contains(resolved, name) {
				resolved = append(resolved, name)
			}
		}
	}
	return resolved, unknown
}

// modified resolves the changed-field names of a write to the fields they
// name. all is true when every signature is to be used: no names were given,
// or a name names no field of T, which is an error in strict mode and a
// warning in lenient mode (a misspelt or foreign name must not make a
// signature that watches the real field skip its lists).
func (s *Scopes[T]) modified(names []string) (fields []string, all bool, err error) {
	if len(names) == 0 {
		return nil, true, nil
	}
	fields, unknown := s.fields.resolve(names)
	if len(unknown) == 0 {
		return fields, false, nil
	}
	err = fmt.Errorf("%w: %s has no field %q", ErrUnknownField, s.typ, unknown)
	if !s.lenient {
		return nil, true, err
	}
	s.log.Warn("scopes: changed field names no field of the type; using every signature", "type", s.typ, "names", unknown)
	return nil, true, nil
}
