// Package matroskagorm connects GORM to the Matroska cache: the
// dependencies of loaded models, and invalidation after every committed
// write.
//
// Reads declare what they were built from with [Dependencies]: the
// primary-key dependency of every model, and of the associations the read
// preloaded:
//
//	var arts []Article
//	err := db.Preload("Author").Where("category = ?", c).Find(&arts).Error
//	ds, err := matroskagorm.Dependencies(db, arts, "Author")
//	rec.Depend(ds...)
//	cs, err := articleScopes.Condition(scopes.P{"category": c})
//	rec.Depend(cs...)
//
// Writes invalidate through the [Plugin]:
//
//	plugin := matroskagorm.New(cache, matroskagorm.Options{})
//	err := db.Use(plugin)
//	err = matroskagorm.Register(plugin, articleScopes)
//
// After that, every Create, Save, Update(s) and Delete made through db
// invalidates, once its transaction has committed, the primary-key
// dependency of each row it created, changed or deleted and, for models
// with registered Scopes, the conditions that the row's old and new values
// match (G7). Moving an article from one category to another drops the
// cached lists of both.
//
// # Naming
//
// A model's dependencies are deps.Id(name, key) where name is its table
// name ("articles") unless Options.TypeName says otherwise, and key its
// primary key, or [CompositeKey] of its key fields in struct order. The
// plugin and Dependencies use the same names, so a read and a write of one
// row meet. The type name given to scopes.New is the Scopes' own; using the
// same name keeps dependency strings readable but is not required.
//
// # After the commit, never before
//
// GORM has no after-commit hook, so Initialize wraps the database's
// connection pool: every transaction begun on it (GORM's default transaction
// around a write, db.Begin, db.Transaction) holds the dependencies of its
// writes and invalidates them after its COMMIT returns, or drops them on
// ROLLBACK. Invalidating before the commit would let a reader load and cache
// the old row in between. A write made outside any transaction
// (SkipDefaultTransaction) has committed when it returns and invalidates at
// once. A nested db.Transaction is a SAVEPOINT: what it recorded stays
// pending when it rolls back to its savepoint, and the outer COMMIT
// invalidates it too (more than needed, never less). A write in a
// transaction the plugin did not see begin (Begin on a db.Connection
// connection, a *sql.Tx handed to GORM) fails with [ErrUntrackedTx].
//
// The invalidation runs on the write's context without its cancellation,
// bounded by Options.Timeout. If it fails, the data stays committed and
// Commit returns nil: the error goes to Options.OnError (by default, the
// log) and is counted in [Stats].Failures. A cache whose Redis is down
// already bypasses its L1 and answers from loaders (G9), but entries left in
// Redis keep their old values until their TTL: OnError is where to retry.
//
// # Old values and modified fields
//
// An update or a delete of a model with registered Scopes first reads the
// rows it is about to change (its own WHERE and primary keys, in its
// transaction), and an update reads them again by primary key afterwards:
// the old values catch the lists an object leaves, the new values the lists
// it enters. That is one extra SELECT per delete and two per update (in
// chunks of 500 keys), of the rows the write touches. Options.NoLookup turns
// them off; such writes then invalidate the type-wide dependency of each
// Scopes (every cached list of the type). Models without Scopes only need
// the primary keys of the rows written: known from the model when the write
// names it, else selected (one narrow query).
//
// An update's modified fields come from its assignments: the keys of the
// map given to Update or Updates, the non-zero fields of the struct given to
// Updates, the fields picked by Select and Omit, every field for Save, and
// the time fields GORM updates on its own. Each is reported by its Go field
// name and by its column name ("Category" and "category"), so
// scopes.Signature.Watch may use either. A signature that watches none of
// them is skipped: a title-only update leaves the category lists alone and
// reaches the lists holding the article through its id.
//
// A Scopes extractor that fails is an error of the write in strict mode
// (GORM's default transaction then rolls back), so that tests find it; in
// lenient mode the Scopes logs it and the write invalidates the type-wide
// dependency instead.
//
// Creates use the values in memory after the INSERT (GORM reads back
// generated keys and defaults where the database supports RETURNING). An
// upsert (ON CONFLICT ... DO UPDATE on the primary key) reads the existing
// rows first, like an update; one on another target falls back to the
// type-wide dependency.
//
// # Not tracked
//
// Raw SQL (db.Exec, db.Raw) and writes without a model (db.Table("x")
// alone) pass the plugin by: invalidate after them yourself. Under READ
// COMMITTED, a row that a concurrent transaction makes match a bulk update's
// WHERE between the plugin's lookup and the update is detected by the row
// count (the lists fall back to the type-wide dependency, and a warning is
// logged) but its id is not known and not invalidated. Creates from a map
// without the primary key invalidate no id.
package matroskagorm
