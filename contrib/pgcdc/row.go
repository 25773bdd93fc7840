package pgcdc

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgtype"
)

// ErrIncomplete is the error of a row value that the log did not carry: an
// unchanged TOASTed column of an UPDATE whose old row is not logged in full,
// or a key column missing from the row.
var ErrIncomplete = errors.New("pgcdc: value not in the log")

// Row is one version of a table row as the log carries it: the new values
// of an INSERT or UPDATE, the old ones of an UPDATE or DELETE. Values come
// in PostgreSQL's text form and are decoded by their column's type.
type Row struct {
	cols []column
	m    *pgtype.Map
}

type column struct {
	name string
	oid  uint32
	kind byte // pglogrepl.TupleDataType*: 'n' NULL, 't' text, 'u' unchanged TOAST
	data []byte
}

// newRow returns the row of a tuple of the relation rel.
func newRow(rel *relation, t *pglogrepl.TupleData, m *pgtype.Map) *Row {
	r := &Row{m: m, cols: make([]column, 0, len(rel.cols))}
	for i, c := range rel.cols {
		col := column{name: c.Name, oid: c.DataType, kind: pglogrepl.TupleDataTypeNull}
		if t != nil && i < len(t.Columns) {
			col.kind, col.data = t.Columns[i].DataType, t.Columns[i].Data
		}
		r.cols = append(r.cols, col)
	}
	return r
}

// fillUnchanged takes the values of the columns r did not carry (unchanged
// TOASTed values of an UPDATE) from old, the same row before the update.
func (r *Row) fillUnchanged(old *Row) {
	if old == nil {
		return
	}
	for i, c := range r.cols {
		if c.kind != pglogrepl.TupleDataTypeToast {
			continue
		}
		if o := old.col(c.name); o != nil && o.kind != pglogrepl.TupleDataTypeToast {
			r.cols[i].kind, r.cols[i].data = o.kind, o.data
		}
	}
}

func (r *Row) col(name string) *column {
	for i := range r.cols {
		if r.cols[i].name == name {
			return &r.cols[i]
		}
	}
	return nil
}

// Columns returns the names of the row's columns, in table order.
func (r *Row) Columns() []string {
	names := make([]string, len(r.cols))
	for i, c := range r.cols {
		names[i] = c.name
	}
	return names
}

// Known reports whether the log carried the column's value (NULL
// included): false for a column the table lacks, or an unchanged TOASTed
// value it did not send.
func (r *Row) Known(name string) bool {
	c := r.col(name)
	return c != nil && c.kind != pglogrepl.TupleDataTypeToast
}

// Value returns the column's value: nil for NULL; a bool, int64 or float64
// for the boolean, integer and floating-point types; the text form (a
// string) for every other type. These are the values a Go model holds for
// those columns, so deps.FormatValue gives the same text for both (a uuid's
// text is its canonical form). It is ErrIncomplete for a value the log did
// not carry.
func (r *Row) Value(name string) (any, error) {
	c := r.col(name)
	if c == nil || c.kind == pglogrepl.TupleDataTypeToast {
		return nil, fmt.Errorf("%w: column %q", ErrIncomplete, name)
	}
	if c.kind == pglogrepl.TupleDataTypeNull {
		return nil, nil
	}
	s := string(c.data)
	switch c.oid {
	case pgtype.BoolOID:
		return s == "t", nil
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.Int8OID, pgtype.OIDOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n, nil
		}
	case pgtype.Float4OID, pgtype.Float8OID:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f, nil
		}
	}
	return s, nil
}

// Scan decodes the column's value into dst (a pointer), as pgx scans a
// query's result: *string, *int64, *bool, *time.Time, a pointer to a
// pointer for a nullable column, a sql.Scanner. A NULL into a type that
// cannot hold it leaves the zero value, as GORM does. It is ErrIncomplete
// for a value the log did not carry.
func (r *Row) Scan(name string, dst any) error {
	c := r.col(name)
	if c == nil || c.kind == pglogrepl.TupleDataTypeToast {
		return fmt.Errorf("%w: column %q", ErrIncomplete, name)
	}
	var src []byte
	if c.kind != pglogrepl.TupleDataTypeNull {
		src = c.data
	}
	err := r.m.Scan(c.oid, pgtype.TextFormatCode, src, dst)
	if err != nil && src == nil {
		if v := reflect.ValueOf(dst); v.Kind() == reflect.Pointer && !v.IsNil() {
			v.Elem().SetZero()
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("pgcdc: column %q: %w", name, err)
	}
	return nil
}

// changed returns the names of the columns whose values differ between
// old and r, and false when it cannot tell (a value missing on either side).
func (r *Row) changed(old *Row) ([]string, bool) {
	var names []string
	for _, c := range r.cols {
		o := old.col(c.name)
		if o == nil || o.kind == pglogrepl.TupleDataTypeToast || c.kind == pglogrepl.TupleDataTypeToast {
			return nil, false
		}
		if o.kind != c.kind || !bytes.Equal(o.data, c.data) {
			names = append(names, c.name)
		}
	}
	return names, true
}

// key returns the row's key: the value of the one key column, or
// CompositeKey of the values of several.
func (r *Row) key(cols []string) (any, error) {
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: no key columns", ErrIncomplete)
	}
	parts := make([]any, len(cols))
	for i, name := range cols {
		v, err := r.Value(name)
		if err != nil {
			return nil, err
		}
		parts[i] = v
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return CompositeKey(parts...), nil
}

// fieldMap maps the columns of a table to the fields of the struct type t
// the rows decode into: a column meets the field whose Go name, json name
// or GORM column (tag column:...) it equals, compared in lower case without
// underscores (the rule of package scopes, so "author_id" meets AuthorID).
type fieldMap struct {
	t      reflect.Type // the struct type
	ptr    bool         // T is a pointer to t
	byName map[string][]int
	goName map[string]string // folded name → Go field name
}

func newFieldMap(t reflect.Type) (*fieldMap, error) {
	fm := &fieldMap{byName: map[string][]int{}, goName: map[string]string{}}
	if t.Kind() == reflect.Pointer {
		fm.ptr, t = true, t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %v is not a struct or a pointer to one: give ScopesFunc a decoder", ErrConfig, t)
	}
	fm.t = t
	add := func(alias string, f reflect.StructField) {
		k := fold(alias)
		if _, taken := fm.byName[k]; k == "" || taken {
			return
		}
		fm.byName[k] = f.Index
		fm.goName[k] = f.Name
	}
	fields := reflect.VisibleFields(t)
	for _, f := range fields { // explicit column names first
		for part := range strings.SplitSeq(f.Tag.Get("gorm"), ";") {
			if k, v, ok := strings.Cut(part, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "column") {
				add(strings.TrimSpace(v), f)
			}
		}
	}
	for _, f := range fields {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		add(f.Name, f)
		if j, _, _ := strings.Cut(f.Tag.Get("json"), ","); j != "-" {
			add(j, f)
		}
	}
	return fm, nil
}

// decode returns the row as a value of the model type: each column scanned
// into its field. A column of a field whose value the log did not carry is
// ErrIncomplete.
func (fm *fieldMap) decode(r *Row) (reflect.Value, error) {
	v := reflect.New(fm.t)
	for _, c := range r.cols {
		idx, ok := fm.byName[fold(c.name)]
		if !ok {
			continue
		}
		f, err := v.Elem().FieldByIndexErr(idx)
		if err != nil { // behind a nil embedded pointer
			continue
		}
		if err := r.Scan(c.name, f.Addr().Interface()); err != nil {
			return reflect.Value{}, err
		}
	}
	if fm.ptr {
		return v, nil
	}
	return v.Elem(), nil
}

// fields returns the Go names of the fields the columns meet.
func (fm *fieldMap) fields(columns []string) []string {
	var out []string
	for _, c := range columns {
		if n, ok := fm.goName[fold(c)]; ok {
			out = append(out, n)
		}
	}
	return out
}

func fold(name string) string {
	return strings.ToLower(strings.ReplaceAll(name, "_", ""))
}
