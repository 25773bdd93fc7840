package matroskagorm

import (
	"context"
	"reflect"

	"gorm.io/gorm/schema"

	"github.com/matroska-go/matroska/deps"
)

// CompositeKey returns the id text of a composite primary key, as used in
// the dependencies of models with several primary-key fields:
// deps.Id(typeName, CompositeKey(part1, part2, ...)), the parts in the order
// of the model's primary-key fields. Each part is canonicalised with
// deps.FormatValue, and "%" and "," in it are percent-escaped before the parts
// are joined with ",", so ("a,b", "c") and ("a", "b,c") have different keys.
func CompositeKey(parts ...any) string { return deps.CompositeKey(parts...) }

// keyOf returns the primary key of the model value v (a struct or a map
// keyed by column or field name): the single value, or CompositeKey of the
// parts. It reports false when every part is zero (an unsaved object, an
// association that was not loaded) or a part is missing.
func keyOf(ctx context.Context, s *schema.Schema, v reflect.Value) (any, bool) {
	v = indirect(v)
	if !v.IsValid() || len(s.PrimaryFields) == 0 {
		return nil, false
	}
	parts := make([]any, len(s.PrimaryFields))
	nonZero := false
	for i, f := range s.PrimaryFields {
		var fv reflect.Value
		switch v.Kind() {
		case reflect.Struct:
			if v.Type() != s.ModelType {
				return nil, false
			}
			fv = f.ReflectValueOf(ctx, v)
		case reflect.Map:
			if v.Type().Key().Kind() != reflect.String {
				return nil, false
			}
			fv = v.MapIndex(reflect.ValueOf(f.DBName).Convert(v.Type().Key()))
			if !fv.IsValid() {
				fv = v.MapIndex(reflect.ValueOf(f.Name).Convert(v.Type().Key()))
			}
			if !fv.IsValid() {
				return nil, false
			}
		default:
			return nil, false
		}
		for fv.Kind() == reflect.Interface || fv.Kind() == reflect.Pointer {
			if fv.IsNil() {
				break
			}
			fv = fv.Elem()
		}
		if !fv.IsZero() {
			nonZero = true
		}
		parts[i] = fv.Interface()
	}
	if !nonZero {
		return nil, false
	}
	if len(parts) == 1 {
		return parts[0], true
	}
	return CompositeKey(parts...), true
}

// queryKey returns the primary-key values of v in the form GORM's
// schema.ToQueryValues takes.
func queryKey(ctx context.Context, s *schema.Schema, v reflect.Value) []any {
	parts := make([]any, len(s.PrimaryFields))
	for i, f := range s.PrimaryFields {
		parts[i], _ = f.ValueOf(ctx, v)
	}
	return parts
}

// items returns the model values held by v (a struct, a map, a pointer to
// one, or a slice or array of them): structs, addressable, and maps.
func items(v reflect.Value) (structs, maps []reflect.Value) {
	var walk func(v reflect.Value, depth int)
	walk = func(v reflect.Value, depth int) {
		v = indirect(v)
		if !v.IsValid() {
			return
		}
		switch v.Kind() {
		case reflect.Struct:
			structs = append(structs, addressable(v))
		case reflect.Map:
			maps = append(maps, v)
		case reflect.Slice, reflect.Array:
			if depth > 0 {
				return
			}
			for i := 0; i < v.Len(); i++ {
				walk(v.Index(i), depth+1)
			}
		}
	}
	walk(v, 0)
	return structs, maps
}

// indirect follows pointers and interfaces; it returns the zero Value for a
// nil one.
func indirect(v reflect.Value) reflect.Value {
	for v.IsValid() && (v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface) {
		if v.IsNil() {
			return reflect.Value{}
		}
		v = v.Elem()
	}
	return v
}

// addressable returns v, or an addressable copy of it.
func addressable(v reflect.Value) reflect.Value {
	if v.CanAddr() {
		return v
	}
	c := reflect.New(v.Type()).Elem()
	c.Set(v)
	return c
}
