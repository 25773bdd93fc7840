package remote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/matroska-go/matroska/deps"
)

// PutResult is the outcome of a [Store.Put] or [Store.Set] that reached
// Redis.
type PutResult uint8

// The outcomes. The zero PutResult is none of them, so a result left unset
// by mistake never reads as Stored.
const (
	// Stored: the entry was written.
	Stored PutResult = iota + 1
	// RefusedStale: an invalidation of one of the entry's dependencies (or
	// of its key) came after the mark; nothing was changed.
	RefusedStale
	// RefusedEpoch: the mark belongs to another epoch (Redis restarted,
	// was flushed, or lost its state); nothing was changed.
	RefusedEpoch
)

func (r PutResult) String() string {
	switch r {
	case Stored:
		return "stored"
	case RefusedStale:
		return "refused: stale"
	case RefusedEpoch:
		return "refused: epoch"
	}
	return "PutResult(" + strconv.Itoa(int(r)) + ")"
}

func resultOf(verdict int64) (PutResult, error) {
	switch verdict {
	case 0:
		return Stored, nil
	case 1:
		return RefusedStale, nil
	case 2:
		return RefusedEpoch, nil
	}
	return 0, fmt.Errorf("%w: script verdict %d", ErrState, verdict)
}

// Put stores the entry key, loaded at mark (the State read before the
// load), for ttl. It is one Lua script that refuses, changing nothing, when
// N:epoch is not mark.Epoch (RefusedEpoch) or when the tombstone of any
// dependency of e, or of deps.Key(key), is newer than mark.Seq
// (RefusedStale: the value may predate an invalidation, G1). Otherwise it
// indexes the entry under each dependency (a ZSET member scored by its
// expiry on Redis's clock, the set's TTL raised to at least ttl, and its
// expired members trimmed by one in eight of the puts that add a member to
// it), writes the entry with TTL ttl, and removes key from the
// sets of the dependencies of the entry it replaces that the new one does
// not have. Duplicate dependencies are stored once. The stored envelope's
// Mark is mark.Seq and its Expires ttl from now; e's own are ignored.
func (s *Store) Put(ctx context.Context, key string, e Envelope, ttl time.Duration, mark State) (PutResult, error) {
	e, err := s.prepPut(key, e, ttl, mark)
	if err != nil {
		return 0, err
	}
	if s.cl != nil {
		return s.cl.put(ctx, key, e, ttl, mark)
	}
	res, err := s.scripts.put.Run(ctx, s.rdb, s.putKeys(), s.putArgs(key, e, ttl, mark)...).Int64Slice()
	if err != nil {
		return 0, fmt.Errorf("remote: put %q: %w", key, refused(err))
	}
	if len(res) != 1 {
		return 0, fmt.Errorf("%w: put answered %v", ErrState, res)
	}
	return resultOf(res[0])
}

// prepPut checks a Put's arguments and returns the envelope it stores.
func (s *Store) prepPut(key string, e Envelope, ttl time.Duration, mark State) (Envelope, error) {
	ds, err := checkWrite(key, e, ttl)
	if err != nil {
		return Envelope{}, err
	}
	if len(mark.Epoch) > maxEpochLen {
		return Envelope{}, fmt.Errorf("%w: an epoch of %d bytes", ErrState, len(mark.Epoch))
	}
	e.Deps = ds
	e.Mark = mark.Seq
	e.Epoch = mark.Epoch
	e.Expires = time.Now().Add(ttl)
	return e, nil
}

// Set is an explicit write of key: the new value replaces the old one
// everywhere, so it is also an invalidation of deps.Key(key). With mark nil
// the value is taken as current; with a mark it is refused like [Store.Put]
// (changing nothing) when an invalidation of its dependencies or of its key
// overtook the mark or the epoch changed.
//
// Otherwise one Lua script takes the next sequence number, writes the
// tombstone of deps.Key(key), deletes every other entry that depends on
// deps.Key(key) (entries that contain key), writes the entry as Put does,
// logs the invalidation and publishes it with origin. When more entries
// contain key than [Config.InvalidateBatch], the script sets them aside
// instead (they read as misses from then on) and further calls delete them
// before Set returns, as [Store.Invalidate] does. The stored envelope's
// Mark is that invalidation's sequence and its Expires ttl from now. It
// returns the new State; when refused, the state Redis holds. An error
// after the first call wraps [ErrUnfinished] and comes with the new State
// and Stored: the write is in effect.
func (s *Store) Set(ctx context.Context, key string, e Envelope, ttl time.Duration, mark *State, origin string) (State, PutResult, error) {
	ds, err := checkWrite(key, e, ttl)
	if err != nil {
		return State{}, 0, err
	}
	if err := checkOrigin(origin); err != nil {
		return State{}, 0, err
	}
	e.Deps = ds
	e.Mark, e.Epoch = 0, "" // set.lua writes its own sequence and epoch
	e.Expires = time.Now().Add(ttl)
	if s.cl != nil {
		return s.cl.set(ctx, key, e, ttl, mark, origin)
	}
	hasMark, markEpoch, markSeq := "0", "", "0"
	if mark != nil {
		hasMark, markEpoch, markSeq = "1", mark.Epoch, strconv.FormatUint(mark.Seq, 10)
	}
	args := make([]any, 0, 19+len(ds))
	args = append(args,
		newEpoch(), origin, s.horizon, s.logLen, s.keys.channel,
		s.keys.entryPrefix, s.keys.depPrefix, s.keys.tombPrefix,
		key, ttlMillis(ttl), AppendEnvelope(nil, e),
		hasMark, markEpoch, markSeq,
		s.keys.pendPrefix, s.batch, s.lease, s.pads, deps.Key(key).String())
	args = appendDeps(args, ds)
	res, err := s.scripts.set.Run(ctx, s.rdb, s.writeKeys(), args...).Slice()
	if err != nil {
		return s.setRefused(ctx, key, origin, fmt.Errorf("remote: set %q: %w", key, refused(err)))
	}
	if len(res) != 5 {
		return State{}, 0, fmt.Errorf("%w: set answered %v", ErrState, res)
	}
	verdict, ok := res[0].(int64)
	if !ok {
		return State{}, 0, fmt.Errorf("%w: set answered %v", ErrState, res)
	}
	r, err := resultOf(verdict)
	if err != nil {
		return State{}, 0, err
	}
	st, err := parseState(res, 1)
	if err != nil {
		return State{}, 0, err
	}
	if err := s.finish(ctx, res[3], res[4], st); err != nil {
		return st, r, fmt.Errorf("remote: set %q: %w", key, err)
	}
	return st, r, nil
}

// Invalidate removes every entry that depends on any of ds. The first Lua
// script takes the next sequence number (starting a new epoch if Redis has
// none), writes each dependency's tombstone at that number for the
// tombstone horizon, deletes each entry of each dependency's set whose
// current envelope really depends on it (removing it from the sets of all
// its dependencies), deletes the sets, and for a deps.Key(k) also deletes
// entry k itself; then it publishes the invalidation on [Store.Channel]
// with origin and appends it to the log. It returns the new State.
//
// When that is more work than the budget of [Config.InvalidateBatch] (set
// members, and the ZREMs of the entries deleted), the first script empties
// the sets only while the budget lasts and sets the rest aside (a rename):
// from that call on, their entries read as misses ([Store.Read] finds them
// outside their dependency's set) and puts marked before it are refused,
// so the invalidation is in effect and announced at once. Further scripts
// then delete the set-aside entries, within the same budget each;
// Invalidate returns when they are all gone. When one of them fails, the
// error wraps [ErrUnfinished] and comes with the new State: the
// invalidation is in effect, and the entries left are deleted by a later
// Invalidate or Set of any node once [Config.SweepAfter] has passed (or
// expire with their TTL). Every Invalidate and Set also finishes such
// leftovers of other callers.
//
// With no dependencies it does nothing and returns the current State.
// Duplicates are invalidated (and announced) once.
func (s *Store) Invalidate(ctx context.Context, ds []deps.Dep, origin string) (State, error) {
	if err := checkDeps(ds); err != nil {
		return State{}, err
	}
	if err := checkOrigin(origin); err != nil {
		return State{}, err
	}
	if len(ds) == 0 {
		return s.State(ctx)
	}
	ds = dedupe(ds)
	if s.cl != nil {
		return s.cl.invalidate(ctx, ds, origin)
	}
	args := make([]any, 0, 12+2*len(ds))
	args = append(args,
		newEpoch(), origin, s.horizon, s.logLen, s.keys.channel,
		s.keys.entryPrefix, s.keys.depPrefix, s.keys.tombPrefix,
		s.keys.pendPrefix, s.batch, s.lease, s.pads)
	for _, d := range ds {
		named := ""
		if k, ok := d.KeyName(); ok {
			named = "k" + k
		}
		args = append(args, d.String(), named)
	}
	res, err := s.scripts.invalidate.Run(ctx, s.rdb, s.writeKeys(), args...).Slice()
	if err != nil {
		return State{}, fmt.Errorf("remote: invalidate: %w", refused(err))
	}
	if len(res) != 4 {
		return State{}, fmt.Errorf("%w: invalidate answered %v", ErrState, res)
	}
	st, err := parseState(res, 0)
	if err != nil {
		return State{}, err
	}
	if err := s.finish(ctx, res[2], res[3], st); err != nil {
		return st, fmt.Errorf("remote: invalidate: %w", err)
	}
	return st, nil
}

// putKeys and putArgs are the KEYS and ARGV of the put script of entry key,
// e (its dependencies without duplicates, mark and expiry set), loaded at
// mark, for ttl.
func (s *Store) putKeys() []string {
	return []string{s.keys.seq, s.keys.epoch, s.keys.log, s.keys.hist}
}

func (s *Store) putArgs(key string, e Envelope, ttl time.Duration, mark State) []any {
	args := make([]any, 0, 10+len(e.Deps))
	args = append(args,
		mark.Epoch, strconv.FormatUint(mark.Seq, 10), ttlMillis(ttl), AppendEnvelope(nil, e), key,
		s.keys.entryPrefix, s.keys.depPrefix, s.keys.tombPrefix, newEpoch(), deps.Key(key).String())
	return appendDeps(args, e.Deps)
}

// setRefused ends a Set whose script Redis refused (err). When Redis
// refused it for memory (maxmemory with noeviction), the script changed
// nothing: the old value and the entries containing key must still go, so
// key is invalidated (an invalidation runs at maxmemory, see
// invalidate.lua), and the Set reports that its value was not stored
// (err, wrapping ErrRefused) with the state of that invalidation. Any
// other error is returned as it is.
func (s *Store) setRefused(ctx context.Context, key, origin string, err error) (State, PutResult, error) {
	if !errors.Is(err, ErrFull) {
		return State{}, 0, err
	}
	st, ierr := s.Invalidate(ctx, []deps.Dep{deps.Key(key)}, origin)
	if ierr != nil && !errors.Is(ierr, ErrUnfinished) {
		return State{}, 0, fmt.Errorf("%w (and invalidating the old value failed: %w)", err, ierr)
	}
	return st, 0, err
}

// checkWrite validates the arguments of Put and Set and returns e's
// dependencies without duplicates.
func checkWrite(key string, e Envelope, ttl time.Duration) ([]deps.Dep, error) {
	if key == "" {
		return nil, ErrEmptyKey
	}
	if ttl <= 0 {
		return nil, fmt.Errorf("%w: %v", ErrInvalidTTL, ttl)
	}
	if err := checkDeps(e.Deps); err != nil {
		return nil, err
	}
	if !validCodec(e.Codec) {
		return nil, fmt.Errorf("%w: codec name %q (at most %d bytes, no NUL)", ErrInvalidCodec, e.Codec, maxCodecLen)
	}
	return dedupe(e.Deps), nil
}

func checkDeps(ds []deps.Dep) error {
	for i, d := range ds {
		if d.IsZero() {
			return fmt.Errorf("%w: dependency %d is the zero deps.Dep", ErrInvalidDep, i)
		}
	}
	return nil
}

func checkOrigin(origin string) error {
	if origin == "" || strings.ContainsAny(origin, "\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidOrigin, origin)
	}
	return nil
}

// dedupe returns ds without repeats, in first-seen order; ds itself when it
// has none (the common case, checked without allocating for short lists).
func dedupe(ds []deps.Dep) []deps.Dep {
	dup := false
	if len(ds) <= 16 {
	outer:
		for i := 1; i < len(ds); i++ {
			for j := 0; j < i; j++ {
				if ds[i] == ds[j] {
					dup = true
					break outer
				}
			}
		}
		if !dup {
			return ds
		}
	}
	seen := make(map[deps.Dep]struct{}, len(ds))
	out := make([]deps.Dep, 0, len(ds))
	for _, d := range ds {
		if _, ok := seen[d]; !ok {
			seen[d] = struct{}{}
			out = append(out, d)
		}
	}
	if len(out) == len(ds) {
		return ds
	}
	return out
}

func appendDeps(args []any, ds []deps.Dep) []any {
	for _, d := range ds {
		args = append(args, d.String())
	}
	return args
}

// ttlMillis is ttl in whole milliseconds, at least 1.
func ttlMillis(ttl time.Duration) string {
	ms := int64((ttl + time.Millisecond - 1) / time.Millisecond)
	return strconv.FormatInt(ms, 10)
}
