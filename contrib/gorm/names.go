package matroskagorm

import (
	"reflect"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"
)

// modifiedNames returns the names of the fields an update assigns, read off
// the statement before GORM builds its SET clause: an explicit clause.Set,
// else the map or struct given to Update, Updates or Save, filtered by
// Select and Omit as GORM filters them. Each field is named twice, by its Go
// field name and by its column name, so a scopes.Signature may watch either.
// It returns nil, meaning "every field", when it cannot tell.
func modifiedNames(stmt *gorm.Statement) []string {
	s := stmt.Schema
	var names []string
	seen := map[string]bool{}
	add := func(f *schema.Field, raw string) {
		for _, n := range []string{raw, nameOf(f), dbNameOf(f)} {
			if n != "" && !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	if c, ok := stmt.Clauses["SET"]; ok {
		set, ok := c.Expression.(clause.Set)
		if !ok {
			return nil
		}
		for _, a := range set {
			add(s.LookUpField(a.Column.Name), a.Column.Name)
		}
		return nonEmpty(names)
	}

	selected, restricted := stmt.SelectAndOmitColumns(false, true)
	picked := func(f *schema.Field) (explicit, ok bool) {
		v, has := selected[f.DBName]
		if !has && f.DBName == "" {
			v, has = selected[f.Name]
		}
		return has && v, (has && v) || (!has && !restricted)
	}
	autoTime := func() {
		if stmt.SkipHooks {
			return
		}
		for _, f := range s.Fields {
			if f.AutoUpdateTime > 0 {
				if v, has := selected[f.DBName]; !has || v {
					add(f, "")
				}
			}
		}
	}

	dest := reflect.ValueOf(stmt.Dest)
	for dest.Kind() == reflect.Pointer || dest.Kind() == reflect.Interface {
		if dest.IsNil() {
			return nil
		}
		dest = dest.Elem()
	}
	switch dest.Kind() {
	case reflect.Map:
		if dest.Type().Key().Kind() != reflect.String {
			return nil
		}
		for _, k := range dest.MapKeys() {
			name := k.String()
			f := s.LookUpField(name)
			if f == nil {
				if v, has := selected[name]; (has && v) || (!has && !restricted) {
					add(nil, name)
				}
				continue
			}
			if _, ok := picked(f); ok {
				add(f, "")
			}
		}
		autoTime()
	case reflect.Struct:
		us := s
		if dest.Type() != s.ModelType {
			other := &gorm.Statement{DB: stmt.DB}
			if err := other.Parse(stmt.Dest); err != nil || other.Schema == nil {
				return nil
			}
			us = other.Schema
		}
		for _, dbName := range s.DBNames {
			f := us.LookUpField(dbName)
			if f == nil {
				continue
			}
			if f.PrimaryKey && dest.CanAddr() && sameValue(stmt.Dest, stmt.Model) {
				continue // GORM makes it the WHERE, not an assignment
			}
			explicit, ok := picked(f)
			if !ok {
				continue
			}
			if _, zero := f.ValueOf(stmt.Context, dest); explicit || !zero || f.AutoUpdateTime > 0 {
				add(s.LookUpField(dbName), "")
			}
		}
	default:
		return nil
	}
	return nonEmpty(names)
}

// sameValue is stmt.Dest == stmt.Model as GORM compares them, without the
// panic of comparing two values of one uncomparable type.
func sameValue(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	ta, tb := reflect.TypeOf(a), reflect.TypeOf(b)
	if ta != tb || ta == nil || !ta.Comparable() {
		return false
	}
	return a == b
}

// nonEmpty keeps "no field named" distinct from "every field" (nil).
func nonEmpty(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

func nameOf(f *schema.Field) string {
	if f == nil {
		return ""
	}
	return f.Name
}

func dbNameOf(f *schema.Field) string {
	if f == nil {
		return ""
	}
	return f.DBName
}

// touchesKey reports whether names include a primary-key field of s.
func touchesKey(s *schema.Schema, names []string) bool {
	if names == nil {
		return false
	}
	for _, f := range s.PrimaryFields {
		for _, n := range names {
			if n == f.Name || n == f.DBName {
				return true
			}
		}
	}
	return false
}
