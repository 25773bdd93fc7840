package scopes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/matroska-go/matroska/deps"
)

// Errors returned by Scopes. Each is wrapped with the details of the call;
// test for them with errors.Is.
var (
	// ErrUnknownSignature is returned in strict mode by Condition for
	// parameter names that no Describe registered. The dependencies returned
	// with it are the type-wide fallback, so a caller that records them
	// anyway stays correct.
	ErrUnknownSignature = errors.New("scopes: no signature described for these parameters")

	// ErrInvalidSignature is returned by Describe for a signature with no
	// parameters, an empty or repeated name, no extractor, or one already
	// described, and for a Scopes with an empty type name.
	ErrInvalidSignature = errors.New("scopes: invalid signature")

	// ErrExtract is returned in strict mode when an extractor fails or
	// returns parameters other than its signature's. The type-wide
	// dependency is invalidated (or returned) all the same.
	ErrExtract = errors.New("scopes: extractor failed")

	// ErrTooManyConditions is returned in strict mode when In values expand
	// to more than Options.MaxConditions conditions. The type-wide
	// dependency stands in for them.
	ErrTooManyConditions = errors.New("scopes: too many conditions")

	// ErrUnknownField is returned in strict mode by ObjectDeps, ChangeDeps,
	// InvalidateFor and InvalidateChange for a changed-field name that names
	// no field of the object type (by its Go name, its json name or its GORM
	// column, compared as described under "Modified names" in the package
	// documentation). Every signature is used then, as if every field had
	// changed, so the conditions returned or invalidated are complete.
	ErrUnknownField = errors.New("scopes: changed field names no field of the type")

	// ErrNoInvalidator is returned by InvalidateFor and InvalidateChange
	// when given a nil Invalidator.
	ErrNoInvalidator = errors.New("scopes: nil invalidator")
)

// P is a set of filter parameters: a parameter name and its value, or an In
// of several values.
type P = map[string]any

// In stands for several values of one parameter: a list filtered by
// category IN (a, b) uses P{"category": In{"a", "b"}}. An empty In matches
// nothing.
type In []any

// Invalidator is what InvalidateFor and InvalidateChange invalidate
// through; *tiered.Cache is one.
type Invalidator interface {
	Invalidate(ctx context.Context, ds ...deps.Dep) error
}

// Options configure a Scopes.
type Options struct {
	// Lenient turns the errors of an unknown signature, a failing extractor
	// and an over-large expansion into warnings: the type-wide dependency
	// is used and the event is logged. Use it in production; leave it off in
	// tests so that they find filters nobody described.
	// default: false (strict)
	Lenient bool

	// Logger receives the warnings of lenient mode (and, in strict mode,
	// nothing: the errors are returned).
	// default: slog.Default()
	Logger *slog.Logger

	// MaxConditions bounds the conditions one filter or one object expands
	// to through In values; past it the type-wide dependency stands in.
	// default: 256
	MaxConditions int
}

// Signature describes one kind of list filter of T.
type Signature[T any] struct {
	// Params are the filter's parameter names, in any order.
	Params []string

	// Extract returns an object's values of Params (exactly those names).
	Extract func(T) (P, error)

	// Watch are the names of the fields whose change can move an object in
	// or out of a list with this filter, as the caller's change tracking
	// reports modified fields. Each must name a field of T (when T is a
	// struct, or a pointer to one): Describe refuses one that does not,
	// since no change would ever match it. Give Watch when a parameter is
	// not named after the field it comes from.
	// default: Params
	Watch []string
}

type signature[T any] struct {
	id      string // sorted Params joined by ","
	params  []string
	watch   []string // the fields Watch names (folded names when T has no fields)
	extract func(T) (P, error)
}

// Scopes tracks the list filters of one object type. It is safe for
// concurrent use; Describe is meant for start-up but may run at any time.
type Scopes[T any] struct {
	typ     string
	lenient bool
	log     *slog.Logger
	max     int
	fields  fields // T's fields by their names; nil when T has none

	mu   sync.RWMutex
	sigs map[string]*signature[T] // guarded by mu
	list []*signature[T]          // guarded by mu; in Describe order
}

// New returns the Scopes of the object type typ, the type name used in its
// dependencies (deps.Condition(typ, ...) and deps.All(typ)).
func New[T any](typ string, opts Options) *Scopes[T] {
	s := &Scopes[T]{
		typ:     typ,
		lenient: opts.Lenient,
		log:     opts.Logger,
		max:     opts.MaxConditions,
		fields:  fieldsOf[T](),
		sigs:    map[string]*signature[T]{},
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.max <= 0 {
		s.max = 256
	}
	return s
}

// Type returns the object type name.
func (s *Scopes[T]) Type() string { return s.typ }

// All returns the type-wide dependency, deps.All of the type: every list
// that Condition describes depends on it, and a write that cannot be matched
// to its lists (a failing extractor) invalidates it.
func (s *Scopes[T]) All() deps.Dep { return deps.All(s.typ) }

// Every returns the condition with no parameters, the dependency of a list
// of every object of the type: every write of the type invalidates it. A
// list whose filter cannot be matched precisely depends on it too.
func (s *Scopes[T]) Every() deps.Dep { return deps.Condition(s.typ, nil) }

// Describe registers a filter signature.
func (s *Scopes[T]) Describe(sig Signature[T]) error {
	if s.typ == "" {
		return fmt.Errorf("%w: empty type name", ErrInvalidSignature)
	}
	if len(sig.Params) == 0 || sig.Extract == nil {
		return fmt.Errorf("%w: %s: a signature needs parameters and an extractor", ErrInvalidSignature, s.typ)
	}
	params := slices.Clone(sig.Params)
	slices.Sort(params)
	for i, p := range params {
		if p == "" || (i > 0 && params[i-1] == p) {
			return fmt.Errorf("%w: %s: empty or repeated parameter %q", ErrInvalidSignature, s.typ, p)
		}
	}
	watch := sig.Watch
	if len(watch) == 0 {
		watch = params
	}
	watched, unknown := s.fields.resolve(watch)
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %s: (%s) watches %q, which names no field of %v; set Signature.Watch to the fields its parameters come from",
			ErrInvalidSignature, s.typ, signatureID(params), unknown, reflect.TypeFor[T]())
	}
	d := &signature[T]{
		id:      signatureID(params),
		params:  params,
		watch:   watched,
		extract: sig.Extract,
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.sigs[d.id]; dup {
		return fmt.Errorf("%w: %s: (%s) is already described", ErrInvalidSignature, s.typ, d.id)
	}
	s.sigs[d.id] = d
	s.list = append(s.list, d)
	return nil
}

// Condition returns the dependencies of a list filtered by params: one
// condition per combination of their values, and the type-wide dependency
// (All). Parameter names must match a described signature exactly; no
// parameters at all is the list of every object of the type (Every).
//
// A filter that cannot be matched precisely, because no signature has its
// names or its In values expand past MaxConditions, falls back to Every and
// All: the list is then dropped by every write of the type, never by none.
// That is an error in strict mode and a logged warning in lenient mode; the
// fallback is returned either way.
func (s *Scopes[T]) Condition(params P) ([]deps.Dep, error) {
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	slices.Sort(names)
	id := signatureID(names)
	all := []deps.Dep{s.Every(), s.All()}
	if len(names) == 0 {
		return all, nil
	}
	s.mu.RLock()
	_, ok := s.sigs[id]
	s.mu.RUnlock()
	if !ok {
		err := fmt.Errorf("%w: %s (%s)", ErrUnknownSignature, s.typ, id)
		return all, s.fallback(err, "unknown filter signature; the list depends on every change of the type", id)
	}
	conds, ok := s.expand(params, names)
	if !ok {
		err := fmt.Errorf("%w: %s (%s)", ErrTooManyConditions, s.typ, id)
		return all, s.fallback(err, "filter expands to too many conditions; the list depends on every change of the type", id)
	}
	return append(conds, s.All()), nil
}

// ObjectDeps returns the conditions obj matches, over every described
// signature that watches a field named in modified (every signature when
// modified is empty), and Every, which every object matches: what a create
// or a delete of obj, or a write that changed the modified fields,
// invalidates. A failing extractor or an over-large expansion adds the
// type-wide dependency (All) instead, and a modified name that names no
// field of T uses every signature, each with an error in strict mode and a
// logged warning in lenient mode; the dependencies returned are complete
// either way.
func (s *Scopes[T]) ObjectDeps(obj T, modified ...string) ([]deps.Dep, error) {
	fields, all, err1 := s.modified(modified)
	ds, err2 := s.collect(nil, obj, fields, all)
	return ds, errors.Join(err1, err2)
}

// ChangeDeps returns the conditions that before or after matches: what an
// update invalidates. The old values catch the lists the object leaves, the
// new ones the lists it enters (G7). Errors are as for ObjectDeps.
func (s *Scopes[T]) ChangeDeps(before, after T, modified ...string) ([]deps.Dep, error) {
	fields, all, err1 := s.modified(modified)
	ds, err2 := s.collect(nil, before, fields, all)
	ds, err3 := s.collect(ds, after, fields, all)
	return dedupe(ds), errors.Join(err1, err2, err3)
}

// InvalidateFor invalidates the conditions obj matches (ObjectDeps) through
// inv. Call it after the commit that created, deleted or changed obj; for
// an update prefer InvalidateChange, which also knows the old values.
// Whatever the extractors do, the conditions that could be computed and the
// fallback are invalidated before any error is returned.
func (s *Scopes[T]) InvalidateFor(ctx context.Context, inv Invalidator, obj T, modified ...string) error {
	if inv == nil {
		return ErrNoInvalidator
	}
	ds, err := s.ObjectDeps(obj, modified...)
	return errors.Join(invalidate(ctx, inv, ds), err)
}

// InvalidateChange invalidates the conditions that before or after matches
// (ChangeDeps) through inv. Call it after the commit of the update.
func (s *Scopes[T]) InvalidateChange(ctx context.Context, inv Invalidator, before, after T, modified ...string) error {
	if inv == nil {
		return ErrNoInvalidator
	}
	ds, err := s.ChangeDeps(before, after, modified...)
	return errors.Join(invalidate(ctx, inv, ds), err)
}

func invalidate(ctx context.Context, inv Invalidator, ds []deps.Dep) error {
	if len(ds) == 0 {
		return nil
	}
	return inv.Invalidate(ctx, ds...)
}

// collect appends the conditions obj matches to ds: of every signature
// when all, else of those that watch one of fields.
func (s *Scopes[T]) collect(ds []deps.Dep, obj T, fields []string, all bool) ([]deps.Dep, error) {
	ds = append(ds, s.Every())
	s.mu.RLock()
	list := s.list
	s.mu.RUnlock()
	var errs []error
	fellBack := false
	for _, sig := range list {
		if !all && !shares(sig.watch, fields) {
			continue
		}
		params, err := sig.run(obj)
		if err == nil {
			if conds, ok := s.expand(params, sig.params); ok {
				ds = append(ds, conds...)
				continue
			}
			err = fmt.Errorf("%w: %s (%s)", ErrTooManyConditions, s.typ, sig.id)
		}
		if !fellBack {
			ds = append(ds, s.All())
			fellBack = true
		}
		if e := s.fallback(err, "cannot match the object to its lists; invalidating every list of the type", sig.id); e != nil {
			errs = append(errs, e)
		}
	}
	return dedupe(ds), errors.Join(errs...)
}

// run calls the extractor, turning a panic or a wrong set of names into an
// error wrapping ErrExtract.
func (sig *signature[T]) run(obj T) (params P, err error) {
	defer func() {
		if r := recover(); r != nil {
			params, err = nil, fmt.Errorf("%w: (%s): panic: %v", ErrExtract, sig.id, r)
		}
	}()
	params, err = sig.extract(obj)
	if err != nil {
		return nil, fmt.Errorf("%w: (%s): %w", ErrExtract, sig.id, err)
	}
	if len(params) != len(sig.params) {
		return nil, fmt.Errorf("%w: (%s): returned %d parameters", ErrExtract, sig.id, len(params))
	}
	for _, p := range sig.params {
		if _, ok := params[p]; !ok {
			return nil, fmt.Errorf("%w: (%s): parameter %q missing", ErrExtract, sig.id, p)
		}
	}
	return params, nil
}

// fallback reports a use of the type-wide dependency for the signature
// sig: err in strict mode, a warning and nil in lenient mode.
func (s *Scopes[T]) fallback(err error, msg, sig string) error {
	if !s.lenient {
		return err
	}
	s.log.Warn("scopes: "+msg, "type", s.typ, "params", sig, "err", err)
	return nil
}

// expand returns one condition per combination of the values of params
// (names sorted), or false when there would be more than s.max.
func (s *Scopes[T]) expand(params P, names []string) ([]deps.Dep, bool) {
	n := 1
	for _, k := range names {
		if in, ok := params[k].(In); ok {
			n *= len(in)
			if n > s.max {
				return nil, false
			}
		}
	}
	out := make([]deps.Dep, 0, n)
	if n == 0 {
		return out, true
	}
	combo := make(map[string]any, len(names))
	var walk func(i int)
	walk = func(i int) {
		if i == len(names) {
			out = append(out, deps.Condition(s.typ, combo))
			return
		}
		k := names[i]
		if in, ok := params[k].(In); ok {
			for _, v := range in {
				combo[k] = v
				walk(i + 1)
			}
			return
		}
		combo[k] = params[k]
		walk(i + 1)
	}
	walk(0)
	return dedupe(out), true
}

func signatureID(sorted []string) string { return strings.Join(sorted, ",") }

func shares(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}

// dedupe removes repeated dependencies, keeping the first of each.
func dedupe(ds []deps.Dep) []deps.Dep {
	if len(ds) < 2 {
		return ds
	}
	seen := make(map[deps.Dep]struct{}, len(ds))
	out := ds[:0]
	for _, d := range ds {
		if _, ok := seen[d]; ok {
			continue
		}
		seen[d] = struct{}{}
		out = append(out, d)
	}
	return out
}
