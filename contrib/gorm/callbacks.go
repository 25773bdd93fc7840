package matroskagorm

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/schema"

	"github.com/matroska-go/matroska/deps"
)

// stateKey is the statement-instance key under which a write's state passes
// from the callback before the write to the one after it.
const stateKey = "matroska:write"

// lookupChunk bounds the primary keys of one lookup query.
const lookupChunk = 500

// write is what the plugin knows of one create, update or delete statement.
type write struct {
	ctx    context.Context
	sch    *schema.Schema
	typ    string    // the model's name in dependencies
	scopes []scopeOf // the Scopes registered for the model

	names    []string        // update: modified field names; nil: every field
	old      []reflect.Value // rows before the write (Scopes registered, lookups on)
	oldKeys  [][]any         // primary keys of the rows the write can touch
	looked   bool            // oldKeys came from a query of the statement's rows
	upsert   bool            // create: ON CONFLICT updates existing rows
	fallback bool            // exact conditions unknown: use the type-wide dependency
}

func (p *Plugin) registerCallbacks(db *gorm.DB) error {
	cb := db.Callback()
	return errors.Join(
		// Right after GORM's own begin_transaction, before anything is written.
		cb.Create().Before("gorm:before_create").Register("matroska:track_tx", p.trackTx),
		cb.Update().Before("gorm:setup_reflect_value").Register("matroska:track_tx", p.trackTx),
		cb.Delete().Before("gorm:before_delete").Register("matroska:track_tx", p.trackTx),
		// Just before the statement runs, after the Before* hooks.
		cb.Create().Before("gorm:create").Register("matroska:before_create", p.beforeCreate),
		cb.Update().Before("gorm:update").Register("matroska:before_update", p.beforeUpdate),
		cb.Delete().Before("gorm:delete").Register("matroska:before_delete", p.beforeDelete),
		// After the statement and the After* hooks, before GORM's COMMIT of
		// its default transaction (or last, when there is none).
		cb.Create().Before("gorm:commit_or_rollback_transaction").Register("matroska:after_create", p.afterCreate),
		cb.Update().Before("gorm:commit_or_rollback_transaction").Register("matroska:after_update", p.afterUpdate),
		cb.Delete().Before("gorm:commit_or_rollback_transaction").Register("matroska:after_delete", p.afterDelete),
	)
}

// trackTx makes sure a write runs either outside any transaction or in one
// whose COMMIT the plugin sees. GORM's default transaction begun on a
// connection the plugin did not wrap (db.Connection) is wrapped here; a
// write in any other foreign transaction is refused with ErrUntrackedTx.
func (p *Plugin) trackTx(db *gorm.DB) {
	if db.Error != nil {
		return
	}
	kind, _ := classify(db.Statement.ConnPool)
	if kind != connUntracked {
		return
	}
	if _, started := db.InstanceGet("gorm:started_transaction"); started {
		sqlDB, _ := db.DB()
		db.Statement.ConnPool = p.track(db.Statement.Context, db.Statement.ConnPool, sqlDB)
		return
	}
	db.AddError(fmt.Errorf("%w: begin it with Begin or Transaction on the *gorm.DB the plugin was added to", ErrUntrackedTx))
}

func (p *Plugin) newWrite(db *gorm.DB) *write {
	s := db.Statement.Schema
	return &write{ctx: db.Statement.Context, sch: s, typ: p.typeName(s), scopes: p.scopesOf(s.ModelType)}
}

func stateOf(db *gorm.DB) *write {
	v, ok := db.InstanceGet(stateKey)
	if !ok {
		return nil
	}
	w, _ := v.(*write)
	return w
}

// beforeCreate notes the model and, for an upsert that may overwrite
// existing rows, reads those rows first.
func (p *Plugin) beforeCreate(db *gorm.DB) {
	if db.Error != nil || db.Statement.Schema == nil {
		return
	}
	w := p.newWrite(db)
	if oc, ok := onConflict(db.Statement); ok && !oc.DoNothing {
		w.upsert = true
		if len(w.scopes) > 0 {
			if p.opts.NoLookup || !conflictOnKey(oc, w.sch) {
				w.fallback = true
			} else {
				structs, _ := items(db.Statement.ReflectValue)
				for _, s := range structs {
					if _, ok := keyOf(db.Statement.Context, w.sch, s); ok {
						w.oldKeys = append(w.oldKeys, queryKey(db.Statement.Context, w.sch, s))
					}
				}
				rows, err := p.byKeys(db, w.sch, w.oldKeys, db.Statement.Unscoped)
				if err != nil {
					db.AddError(fmt.Errorf("matroskagorm: reading the rows an upsert may change: %w", err))
					return
				}
				w.old = rows
			}
		}
	}
	db.InstanceSet(stateKey, w)
}

// afterCreate records the created rows' ids and the conditions they match.
func (p *Plugin) afterCreate(db *gorm.DB) {
	w := stateOf(db)
	if w == nil {
		return
	}
	ctx := db.Statement.Context
	structs, maps := items(db.Statement.ReflectValue)
	var ds []deps.Dep
	var keys [][]any
	for _, v := range append(slices.Clip(structs), maps...) {
		if k, ok := keyOf(ctx, w.sch, v); ok {
			ds = append(ds, deps.Id(w.typ, k))
			if v.Kind() == reflect.Struct {
				keys = append(keys, queryKey(ctx, w.sch, v))
			}
		}
	}
	for _, r := range w.old {
		if k, ok := keyOf(ctx, w.sch, r); ok {
			ds = append(ds, deps.Id(w.typ, k))
		}
	}
	var errs []error
	if len(w.scopes) > 0 {
		switch {
		case db.Error != nil || w.fallback || len(maps) > 0:
			ds = p.all(ds, w)
		case w.upsert:
			now, err := p.byKeys(db, w.sch, keys, true)
			if err != nil {
				ds = p.all(ds, w)
				break
			}
			ds, errs = p.changes(ds, w, w.old, now, nil)
		default:
			for _, s := range structs {
				ds, errs = p.object(ds, errs, w, s, nil)
			}
		}
	}
	p.emit(db, ds)
	if err := errors.Join(errs...); err != nil {
		db.AddError(err)
	}
}

// beforeUpdate reads the rows the update is about to change, in its
// transaction: whole rows when the model has Scopes, else their keys.
func (p *Plugin) beforeUpdate(db *gorm.DB) {
	if db.Error != nil || db.Statement.Schema == nil {
		return
	}
	stmt := db.Statement
	w := p.newWrite(db)
	w.names = modifiedNames(stmt)
	if touchesKey(w.sch, w.names) {
		// The reload after the write goes by the old keys; a new key escapes it.
		w.fallback = true
	}
	p.lookupOld(db, w, updateKeyConds(stmt))
}

// beforeDelete reads the rows the delete is about to remove.
func (p *Plugin) beforeDelete(db *gorm.DB) {
	if db.Error != nil || db.Statement.Schema == nil {
		return
	}
	p.lookupOld(db, p.newWrite(db), deleteKeyConds(db.Statement))
}

// lookupOld fills w with the rows (or keys) that the statement's WHERE and
// the primary keys of its model select, and stores w on the statement.
func (p *Plugin) lookupOld(db *gorm.DB, w *write, keyConds []clause.Expression) {
	stmt := db.Statement
	where := whereOf(stmt)
	if len(where) == 0 && len(keyConds) == 0 && !db.AllowGlobalUpdate {
		return // GORM refuses it: ErrMissingWhereClause
	}
	rows := len(w.scopes) > 0 && !p.opts.NoLookup
	if len(w.scopes) > 0 && !rows {
		w.fallback = true
	}
	if !rows && len(keyConds) > 0 {
		// The statement names its rows by primary key: no query needed.
		structs, _ := items(stmt.ReflectValue)
		if stmt.Model != nil && !sameValue(stmt.Model, stmt.Dest) {
			more, _ := items(reflect.ValueOf(stmt.Model))
			structs = append(structs, more...)
		}
		for _, s := range structs {
			if _, ok := keyOf(stmt.Context, w.sch, s); ok {
				w.oldKeys = append(w.oldKeys, queryKey(stmt.Context, w.sch, s))
			}
		}
		db.InstanceSet(stateKey, w)
		return
	}
	found, err := p.find(db, w.sch, append(where, keyConds...), !rows, stmt.Unscoped)
	if err != nil {
		db.AddError(fmt.Errorf("matroskagorm: reading the rows a write changes: %w", err))
		return
	}
	for _, r := range found {
		w.oldKeys = append(w.oldKeys, queryKey(stmt.Context, w.sch, r))
	}
	if rows {
		w.old = found
	}
	w.looked = true
	db.InstanceSet(stateKey, w)
}

// afterUpdate records the ids of the changed rows and the conditions of
// their old and new values.
func (p *Plugin) afterUpdate(db *gorm.DB) {
	w := stateOf(db)
	if w == nil {
		return
	}
	ds := p.keyDeps(db, w)
	var errs []error
	if len(w.scopes) > 0 {
		if db.Error != nil || w.fallback || !w.looked || p.missed(db, w) {
			ds = p.all(ds, w)
		} else if now, err := p.byKeys(db, w.sch, w.oldKeys, true); err != nil {
			ds = p.all(ds, w)
		} else {
			ds, errs = p.changes(ds, w, w.old, now, w.names)
		}
	} else if db.Error == nil {
		p.missed(db, w)
	}
	p.emit(db, ds)
	if err := errors.Join(errs...); err != nil {
		db.AddError(err)
	}
}

// afterDelete records the ids of the deleted rows and the conditions of
// their values.
func (p *Plugin) afterDelete(db *gorm.DB) {
	w := stateOf(db)
	if w == nil {
		return
	}
	ds := p.keyDeps(db, w)
	var errs []error
	if len(w.scopes) > 0 {
		if db.Error != nil || w.fallback || !w.looked || p.missed(db, w) {
			ds = p.all(ds, w)
		} else {
			for _, r := range w.old {
				ds, errs = p.object(ds, errs, w, r, nil)
			}
		}
	} else if db.Error == nil {
		p.missed(db, w)
	}
	p.emit(db, ds)
	if err := errors.Join(errs...); err != nil {
		db.AddError(err)
	}
}

// missed reports whether the write touched more rows than the lookup found:
// a row that started to match between the two (under READ COMMITTED, a
// concurrent transaction's commit). Its old conditions are unknown, so the
// caller falls back to the type-wide dependency; its id cannot be known.
func (p *Plugin) missed(db *gorm.DB, w *write) bool {
	if !w.looked || db.RowsAffected <= int64(len(w.oldKeys)) {
		return false
	}
	p.log.WarnContext(db.Statement.Context, "matroskagorm: a write changed rows its lookup did not find; their ids are not invalidated",
		"table", w.sch.Table, "found", len(w.oldKeys), "affected", db.RowsAffected)
	return true
}

// keyDeps returns the id dependencies of the rows the write could touch.
func (p *Plugin) keyDeps(db *gorm.DB, w *write) []deps.Dep {
	ds := make([]deps.Dep, 0, len(w.oldKeys))
	for _, k := range w.oldKeys {
		if len(k) == 1 {
			ds = append(ds, deps.Id(w.typ, k[0]))
		} else {
			ds = append(ds, deps.Id(w.typ, CompositeKey(k...)))
		}
	}
	return ds
}

// all appends the type-wide dependency of every Scopes of the model.
func (p *Plugin) all(ds []deps.Dep, w *write) []deps.Dep {
	p.stats.fallbacks.Add(1)
	for _, s := range w.scopes {
		ds = append(ds, s.all)
	}
	return ds
}

// object appends the conditions v matches.
func (p *Plugin) object(ds []deps.Dep, errs []error, w *write, v reflect.Value, names []string) ([]deps.Dep, []error) {
	for _, s := range w.scopes {
		c, err := s.object(v, names)
		ds = append(ds, c...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	return ds, errs
}

// changes appends the conditions of old and new rows, paired by key.
func (p *Plugin) changes(ds []deps.Dep, w *write, old, now []reflect.Value, names []string) ([]deps.Dep, []error) {
	var errs []error
	byKey := make(map[string]reflect.Value, len(now))
	for _, n := range now {
		if k, ok := keyOf(w.ctx, w.sch, n); ok {
			byKey[deps.FormatValue(k)] = n
			ds = append(ds, deps.Id(w.typ, k))
		}
	}
	for _, o := range old {
		k, _ := keyOf(w.ctx, w.sch, o)
		n, ok := byKey[deps.FormatValue(k)]
		if !ok {
			ds, errs = p.object(ds, errs, w, o, nil)
			continue
		}
		delete(byKey, deps.FormatValue(k))
		for _, s := range w.scopes {
			c, err := s.change(o, n, names)
			ds = append(ds, c...)
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, n := range byKey {
		ds, errs = p.object(ds, errs, w, n, nil)
	}
	return ds, errs
}

// emit queues ds on the statement's tracked transaction, or invalidates
// them now when the statement ran outside any transaction (it has already
// committed).
func (p *Plugin) emit(db *gorm.DB, ds []deps.Dep) {
	if len(ds) == 0 {
		return
	}
	ds = dedupe(ds)
	kind, tx := classify(db.Statement.ConnPool)
	if kind == connTracked && tx.add(ds) {
		return
	}
	p.invalidate(db.Statement.Context, ds)
}

// find selects the rows of the model matching conds in the statement's
// transaction: whole rows, or only their primary keys.
func (p *Plugin) find(db *gorm.DB, s *schema.Schema, conds []clause.Expression, keysOnly, unscoped bool) ([]reflect.Value, error) {
	stmt := db.Statement
	q := db.Session(&gorm.Session{NewDB: true, SkipHooks: true}).Clauses(clause.Where{Exprs: conds})
	if unscoped {
		q = q.Unscoped()
	}
	if stmt.Table != "" && stmt.Table != s.Table {
		q = q.Table(stmt.Table)
	}
	if keysOnly {
		q = q.Select(s.PrimaryFieldDBNames)
	}
	dest := reflect.New(reflect.SliceOf(s.ModelType))
	if err := q.Find(dest.Interface()).Error; err != nil {
		return nil, err
	}
	list := dest.Elem()
	out := make([]reflect.Value, list.Len())
	for i := range out {
		out[i] = list.Index(i)
	}
	p.stats.lookups.Add(uint64(len(out)))
	return out, nil
}

// byKeys selects whole rows by primary key, in chunks.
func (p *Plugin) byKeys(db *gorm.DB, s *schema.Schema, keys [][]any, unscoped bool) ([]reflect.Value, error) {
	var out []reflect.Value
	for chunk := range slices.Chunk(keys, lookupChunk) {
		col, vals := schema.ToQueryValues(clause.CurrentTable, s.PrimaryFieldDBNames, chunk)
		rows, err := p.find(db, s, []clause.Expression{clause.IN{Column: col, Values: vals}}, false, unscoped)
		if err != nil {
			return nil, err
		}
		out = append(out, rows...)
	}
	return out, nil
}

// whereOf returns a copy of the statement's WHERE expressions.
func whereOf(stmt *gorm.Statement) []clause.Expression {
	c, ok := stmt.Clauses["WHERE"]
	if !ok {
		return nil
	}
	w, ok := c.Expression.(clause.Where)
	if !ok {
		return nil
	}
	return slices.Clone(w.Exprs)
}

// updateKeyConds returns the primary-key conditions GORM adds to an update
// (callbacks.ConvertToAssignments): one per non-zero key field of a struct
// model, an IN over the keys of a slice model updated with other values.
func updateKeyConds(stmt *gorm.Statement) []clause.Expression {
	s, rv := stmt.Schema, stmt.ReflectValue
	switch rv.Kind() {
	case reflect.Struct:
		if rv.Type() != s.ModelType {
			return nil
		}
		var out []clause.Expression
		for _, f := range s.PrimaryFields {
			if v, zero := f.ValueOf(stmt.Context, rv); !zero {
				out = append(out, clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: f.DBName}, Value: v})
			}
		}
		return out
	case reflect.Slice, reflect.Array:
		if sameValue(stmt.Dest, stmt.Model) {
			return nil
		}
		return identityIn(stmt, rv)
	}
	return nil
}

// deleteKeyConds returns the primary-key conditions GORM adds to a delete
// (callbacks.Delete): the keys of the statement's value, and of its model
// when that is another value.
func deleteKeyConds(stmt *gorm.Statement) []clause.Expression {
	out := identityIn(stmt, stmt.ReflectValue)
	if stmt.ReflectValue.CanAddr() && stmt.Model != nil && !sameValue(stmt.Dest, stmt.Model) {
		out = append(out, identityIn(stmt, reflect.ValueOf(stmt.Model))...)
	}
	return out
}

func identityIn(stmt *gorm.Statement, v reflect.Value) []clause.Expression {
	s := stmt.Schema
	if k := indirect(v); !k.IsValid() || k.Kind() == reflect.Map ||
		(k.Kind() == reflect.Struct && k.Type() != s.ModelType) {
		return nil
	}
	_, vals := schema.GetIdentityFieldValuesMap(stmt.Context, v, s.PrimaryFields)
	if len(vals) == 0 {
		return nil
	}
	col, qv := schema.ToQueryValues(clause.CurrentTable, s.PrimaryFieldDBNames, vals)
	return []clause.Expression{clause.IN{Column: col, Values: qv}}
}

func onConflict(stmt *gorm.Statement) (clause.OnConflict, bool) {
	c, ok := stmt.Clauses["ON CONFLICT"]
	if !ok {
		return clause.OnConflict{}, false
	}
	oc, ok := c.Expression.(clause.OnConflict)
	return oc, ok
}

// conflictOnKey reports whether an ON CONFLICT targets the primary key (or
// names no target, which GORM fills with the primary key for UpdateAll).
func conflictOnKey(oc clause.OnConflict, s *schema.Schema) bool {
	if oc.OnConstraint != "" || oc.TargetWhere.Exprs != nil {
		return false
	}
	if len(oc.Columns) == 0 {
		return true
	}
	if len(oc.Columns) != len(s.PrimaryFieldDBNames) {
		return false
	}
	for _, c := range oc.Columns {
		if !slices.Contains(s.PrimaryFieldDBNames, c.Name) {
			return false
		}
	}
	return true
}

// dedupe removes repeated dependencies, keeping the first of each.
func dedupe(ds []deps.Dep) []deps.Dep {
	seen := make(map[deps.Dep]struct{}, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if _, ok := seen[d]; !ok {
			seen[d] = struct{}{}
			out = append(out, d)
		}
	}
	return out
}
