package matroskagorm

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/matroska-go/matroska/deps"
)

// Dependencies returns the primary-key dependency of every model in objects
// and in the associations that paths name: deps.Id(typeName, key), typeName
// as the plugin added to db names it (by default the table name) and key the
// primary key (CompositeKey for several key fields).
//
// objects is a model, a pointer to one, or a slice or array of models or of
// pointers to them. Each path names an association of the model ("Author"),
// dotted for nested ones ("Comments.Author"), as given to Preload. Each
// object yields its dependency once, in the order met: every object, then
// what its paths reach, before the next object. Nil pointers, and objects
// whose primary key is zero (an association that was not loaded), yield
// nothing. A path naming no association is ErrUnknownPath, checked before
// anything is walked; objects that are not models are ErrInvalidObject.
func Dependencies(db *gorm.DB, objects any, paths ...string) ([]deps.Dep, error) {
	if db == nil {
		return nil, fmt.Errorf("%w: nil db", ErrNotInitialized)
	}
	v := indirect(reflect.ValueOf(objects))
	if !v.IsValid() {
		return nil, nil
	}
	t := v.Type()
	if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
		t = t.Elem()
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
	}
	if t.Kind() != reflect.Struct {
		return nil, fmt.Errorf("%w: %T", ErrInvalidObject, objects)
	}
	stmt := &gorm.Statement{DB: db}
	if err := stmt.Parse(reflect.New(t).Interface()); err != nil {
		return nil, fmt.Errorf("%w: %v: %w", ErrInvalidObject, t, err)
	}
	p, _ := db.Config.Plugins[pluginName].(*Plugin)
	w := walker{ctx: db.Statement.Context, p: p, seen: map[deps.Dep]struct{}{}}
	if w.ctx == nil {
		w.ctx = context.Background()
	}

	chains := make([][]*schema.Relationship, len(paths))
	for i, path := range paths {
		cur := stmt.Schema
		for seg := range strings.SplitSeq(path, ".") {
			rel := relation(cur, seg)
			if rel == nil {
				return nil, fmt.Errorf("%w: %q: %s has no association %q", ErrUnknownPath, path, cur.Name, seg)
			}
			chains[i] = append(chains[i], rel)
			cur = rel.FieldSchema
		}
	}

	structs, _ := items(v)
	for _, obj := range structs {
		w.add(stmt.Schema, obj)
		for _, chain := range chains {
			w.walk(obj, chain)
		}
	}
	return w.out, nil
}

// relation returns the association named name of s, or nil.
func relation(s *schema.Schema, name string) *schema.Relationship {
	if s == nil || name == "" {
		return nil
	}
	s.Relationships.Mux.RLock()
	defer s.Relationships.Mux.RUnlock()
	return s.Relationships.Relations[name]
}

// walker collects dependencies, each once, in the order met.
type walker struct {
	ctx  context.Context
	p    *Plugin
	seen map[deps.Dep]struct{}
	out  []deps.Dep
}

func (w *walker) add(s *schema.Schema, v reflect.Value) {
	if v.Type() != s.ModelType {
		return
	}
	k, ok := keyOf(w.ctx, s, v)
	if !ok {
		return
	}
	d := deps.Id(w.p.typeName(s), k)
	if _, dup := w.seen[d]; dup {
		return
	}
	w.seen[d] = struct{}{}
	w.out = append(w.out, d)
}

// walk adds what the chain of associations reaches from obj.
func (w *walker) walk(obj reflect.Value, chain []*schema.Relationship) {
	if len(chain) == 0 {
		return
	}
	rel := chain[0]
	structs, _ := items(rel.Field.ReflectValueOf(w.ctx, obj))
	for _, v := range structs {
		w.add(rel.FieldSchema, v)
		w.walk(v, chain[1:])
	}
}
