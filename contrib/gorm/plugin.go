package matroskagorm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"

	"github.com/matroska-go/matroska/deps"
	"github.com/matroska-go/matroska/scopes"
)

// Errors of the package. Test for them with errors.Is; they are wrapped with
// details.
var (
	// ErrUnknownPath is returned by Dependencies for a path that names no
	// association of the model it is applied to.
	ErrUnknownPath = errors.New("matroskagorm: unknown association path")

	// ErrInvalidObject is returned by Dependencies for objects that are not
	// models (structs, pointers to structs, or slices or arrays of them), and
	// by Register for a type that is not a struct or a pointer to one.
	ErrInvalidObject = errors.New("matroskagorm: not a model")

	// ErrNotInitialized is returned by Register for a nil plugin or Scopes,
	// and by Dependencies for a nil db.
	ErrNotInitialized = errors.New("matroskagorm: plugin not initialized")

	// ErrUntrackedTx is the error of a create, update or delete that runs in
	// a transaction the plugin did not see begin (one begun on a connection
	// from db.Connection, or on a *sql.Tx handed to GORM): the plugin could
	// not invalidate after its COMMIT, so it refuses the write.
	ErrUntrackedTx = errors.New("matroskagorm: write in a transaction the plugin cannot track")

	// ErrNoInvalidator is returned by Initialize (db.Use) for a plugin made
	// with a nil Invalidator.
	ErrNoInvalidator = errors.New("matroskagorm: nil invalidator")
)

// Options configure a Plugin. The zero value is usable.
type Options struct {
	// TypeName names a model in the dependencies the plugin invalidates and
	// Dependencies returns: deps.Id(TypeName(schema), primaryKey).
	// default: the model's table name (schema.Table), such as "articles"
	TypeName func(*schema.Schema) string

	// NoLookup turns off the reads of whole rows the plugin makes inside the
	// write's transaction for models with registered Scopes: the old rows
	// before an update or a delete, the new rows after an update. Without
	// them, an update or a delete of such a model invalidates the type-wide
	// dependency (scopes.Scopes.All) of each of its Scopes instead of the
	// exact conditions, so every cached list of the type is dropped. The
	// primary keys of rows a WHERE names are still selected (one narrow
	// query), since per-object entries depend on them.
	// default: false (look up)
	NoLookup bool

	// Timeout bounds each Invalidate call the plugin makes. The call runs on
	// the write's context without its cancellation: a request that ends
	// right after its COMMIT still invalidates.
	// default: 5 seconds
	Timeout time.Duration

	// OnError is called when an invalidation fails after its COMMIT (the
	// data is committed, the cache may still serve the old values of ds
	// until their TTL): retry it, queue it, or alert.
	// default: log the error through Logger
	OnError func(ctx context.Context, err error, ds []deps.Dep)

	// Logger receives the errors when OnError is nil, and warnings.
	// default: slog.Default()
	Logger *slog.Logger
}

// Stats are a plugin's counters since New.
type Stats struct {
	Invalidations uint64 // Invalidate calls that succeeded
	Deps          uint64 // dependencies in those calls
	Failures      uint64 // Invalidate calls that failed (reported to OnError)
	RolledBack    uint64 // dependencies dropped because their transaction rolled back
	Lookups       uint64 // rows read by the plugin (old and new values, primary keys)
	Fallbacks     uint64 // writes that invalidated a type-wide dependency instead of exact conditions
}

type stats struct {
	invalidations, deps, failures, rolledBack, lookups, fallbacks atomic.Uint64
}

// Plugin is a GORM plugin that invalidates, after each COMMIT, what the
// committed creates, updates and deletes changed: the primary-key dependency
// of every row written, and the scope conditions of its old and new values
// for models with registered Scopes. Add it with db.Use right after
// gorm.Open, before any session is derived from the db. See the package
// documentation for what it tracks and what it costs.
type Plugin struct {
	inv  scopes.Invalidator
	opts Options
	log  *slog.Logger

	mu    sync.RWMutex
	types map[reflect.Type]*registered // guarded by mu; by model struct type

	stats stats
}

// registered is what Register keeps of the Scopes of one model type.
type registered struct {
	scopes []scopeOf
}

// scopeOf is one registered Scopes with its type erased. Values are
// addressable structs of the model type.
type scopeOf struct {
	all    deps.Dep
	object func(v reflect.Value, modified []string) ([]deps.Dep, error)
	change func(before, after reflect.Value, modified []string) ([]deps.Dep, error)
}

// New returns a plugin that invalidates through inv (a *tiered.Cache, for
// example). Add it to a database with db.Use.
func New(inv scopes.Invalidator, opts Options) *Plugin {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Plugin{inv: inv, opts: opts, log: log, types: map[reflect.Type]*registered{}}
}

// Name is the plugin's name in GORM's registry: "matroska".
func (p *Plugin) Name() string { return pluginName }

const pluginName = "matroska"

// Initialize wraps db's connection pool so that transactions begun on it
// hold their invalidations until COMMIT, and registers the write callbacks.
// GORM calls it from db.Use.
func (p *Plugin) Initialize(db *gorm.DB) error {
	if p.inv == nil {
		return ErrNoInvalidator
	}
	// Wrap the pool under GORM's prepared-statement cache when there is one,
	// so that GORM still finds its *gorm.PreparedStmtDB.
	if ps, ok := db.ConnPool.(*gorm.PreparedStmtDB); ok {
		ps.ConnPool = &pool{inner: ps.ConnPool, p: p}
	} else {
		wrapped := &pool{inner: db.ConnPool, p: p}
		if db.Statement != nil && db.Statement.ConnPool == db.ConnPool {
			db.Statement.ConnPool = wrapped
		}
		db.ConnPool = wrapped
	}
	return p.registerCallbacks(db)
}

// Register associates s with the model type T (a struct, or a pointer to
// one; both name the same model): writes of T then invalidate the
// conditions of s that the old and new rows match. Several Scopes may be
// registered for one model, before or after db.Use.
func Register[T any](p *Plugin, s *scopes.Scopes[T]) error {
	if p == nil || s == nil {
		return fmt.Errorf("%w: nil plugin or scopes", ErrNotInitialized)
	}
	t := reflect.TypeFor[T]()
	ptr := t.Kind() == reflect.Pointer
	if ptr {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return fmt.Errorf("%w: %v is not a struct", ErrInvalidObject, reflect.TypeFor[T]())
	}
	conv := func(v reflect.Value) T {
		if ptr {
			return v.Addr().Interface().(T)
		}
		return v.Interface().(T)
	}
	sc := scopeOf{
		all: s.All(),
		object: func(v reflect.Value, modified []string) ([]deps.Dep, error) {
			return s.ObjectDeps(conv(v), modified...)
		},
		change: func(before, after reflect.Value, modified []string) ([]deps.Dep, error) {
			return s.ChangeDeps(conv(before), conv(after), modified...)
		},
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.types[t]
	if r == nil {
		r = &registered{}
		p.types[t] = r
	}
	r.scopes = append(r.scopes, sc)
	return nil
}

// scopesOf returns the Scopes registered for the model type t.
func (p *Plugin) scopesOf(t reflect.Type) []scopeOf {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if r := p.types[t]; r != nil {
		return r.scopes
	}
	return nil
}

// Stats returns the plugin's counters.
func (p *Plugin) Stats() Stats {
	return Stats{
		Invalidations: p.stats.invalidations.Load(),
		Deps:          p.stats.deps.Load(),
		Failures:      p.stats.failures.Load(),
		RolledBack:    p.stats.rolledBack.Load(),
		Lookups:       p.stats.lookups.Load(),
		Fallbacks:     p.stats.fallbacks.Load(),
	}
}

// typeName names the model of s in dependencies.
func (p *Plugin) typeName(s *schema.Schema) string {
	if p != nil && p.opts.TypeName != nil {
		return p.opts.TypeName(s)
	}
	return s.Table
}

// invalidate invalidates ds now, reporting a failure to OnError.
func (p *Plugin) invalidate(ctx context.Context, ds []deps.Dep) {
	if len(ds) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.Timeout)
	defer cancel()
	if err := p.inv.Invalidate(ctx, ds...); err != nil {
		p.stats.failures.Add(1)
		p.report(ctx, fmt.Errorf("matroskagorm: invalidation after commit failed: %w", err), ds)
		return
	}
	p.stats.invalidations.Add(1)
	p.stats.deps.Add(uint64(len(ds)))
}

// report hands err to OnError, or logs it.
func (p *Plugin) report(ctx context.Context, err error, ds []deps.Dep) {
	if p.opts.OnError != nil {
		p.opts.OnError(ctx, err, ds)
		return
	}
	names := make([]string, len(ds))
	for i, d := range ds {
		names[i] = d.String()
	}
	p.log.ErrorContext(ctx, "matroskagorm: cached entries depending on these may be stale until their TTL",
		"err", err, "deps", names)
}
