package remote

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"
)

// Reads and puts of many entries at once, for a batch of keys.

// ManyRead is one key's part of [Store.ReadManyUnchecked].
type ManyRead struct {
	// Envelope is the entry, when Found.
	Envelope Envelope
	// Found reports an entry the caller may serve on the conditions of
	// [Store.ReadUnchecked].
	Found bool
	// Recheck reports an entry this read cannot vouch for: it did not
	// decode, is of another epoch than the read's State, or is of a layout
	// without an expiry. Read it again with [Store.ReadAfter], which drops
	// or deletes it as it must.
	Recheck bool
}

// ReadManyUnchecked reads the entries of keys in one round trip of plain
// commands: one MGET of N:seq, N:epoch and every N:e:<key> (one atomic
// step, so the State is a valid start mark for each of them), as
// [Store.ReadUnchecked] reads one, and on the same conditions: the caller
// serves an entry only if it has followed the State's epoch up to its
// sequence and knows that no invalidation of the entry's dependencies (nor
// of its key) came after the entry's Mark; otherwise it reads the key again
// with ReadAfter. A Redis Cluster store, which has no unchecked read, reads
// each key with ReadAfter, concurrently, and returns the first key's State
// (each key's own State then is the one of its read: see ReadAfter).
func (s *Store) ReadManyUnchecked(ctx context.Context, keys []string) (State, []ManyRead, error) {
	out := make([]ManyRead, len(keys))
	if s.cl != nil {
		return s.readManyChecked(ctx, keys, out)
	}
	args := make([]any, 0, 3+len(keys))
	args = append(args, "mget", s.stateKeys[0], s.stateKeys[1])
	for _, k := range keys {
		args = append(args, s.keys.entry(k))
	}
	cmd := redis.NewSliceCmd(ctx, args...)
	_ = s.rdb.Process(ctx, cmd)
	res, err := cmd.Result()
	if err != nil {
		return State{}, nil, fmt.Errorf("remote: read %d keys: %w", len(keys), err)
	}
	if len(res) != 2+len(keys) {
		return State{}, nil, fmt.Errorf("%w: read answered %d values for %d keys", ErrState, len(res), len(keys))
	}
	var st State
	if seq, ok := res[0].(string); ok {
		if st.Seq, err = parseSeq(seq); err != nil {
			return State{}, nil, err
		}
	}
	st.Epoch, _ = res[1].(string)
	for i := range keys {
		raw, ok := res[2+i].(string)
		if !ok {
			continue
		}
		// The reply's string is this read's own: decoded in place, as
		// readResult does.
		e, err := decodeEnvelope(unsafe.Slice(unsafe.StringData(raw), len(raw)), true)
		if err != nil || e.Expires.IsZero() || e.Epoch != st.Epoch {
			out[i].Recheck = true
			continue
		}
		e.TTL = max(time.Until(e.Expires), time.Millisecond)
		out[i] = ManyRead{Envelope: e, Found: true}
	}
	return st, out, nil
}

// readManyChecked is ReadManyUnchecked on a Cluster: ReadAfter of each key,
// at most 16 at a time.
func (s *Store) readManyChecked(ctx context.Context, keys []string, out []ManyRead) (State, []ManyRead, error) {
	states := make([]State, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	for i, k := range keys {
		g.Go(func() error {
			st, e, found, err := s.ReadAfter(gctx, k, State{})
			if err != nil && !errors.Is(err, ErrCorrupt) { // a corrupt entry: deleted, a miss
				return err
			}
			states[i], out[i] = st, ManyRead{Envelope: e, Found: found}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return State{}, nil, err
	}
	return states[0], out, nil
}

// PutItem is one entry for [Store.PutMany]: the arguments of [Store.Put].
type PutItem struct {
	Key      string
	Envelope Envelope
	TTL      time.Duration
	Mark     State
}

// PutMany puts each item as [Store.Put] does, with the same checks and
// verdicts: on a standalone Redis in one pipelined round trip (an item
// whose script Redis does not hold yet is put again on its own), on a
// Cluster concurrently, at most 16 at a time. results[i] and errs[i] are
// items[i]'s.
func (s *Store) PutMany(ctx context.Context, items []PutItem) (results []PutResult, errs []error) {
	results, errs = make([]PutResult, len(items)), make([]error, len(items))
	if s.cl != nil {
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(16)
		for i, it := range items {
			g.Go(func() error {
				results[i], errs[i] = s.Put(gctx, it.Key, it.Envelope, it.TTL, it.Mark)
				return nil
			})
		}
		_ = g.Wait()
		return results, errs
	}
	cmds := make([]*redis.Cmd, len(items))
	pipe := s.rdb.Pipeline()
	for i, it := range items {
		e, err := s.prepPut(it.Key, it.Envelope, it.TTL, it.Mark)
		if err != nil {
			errs[i] = err
			continue
		}
		cmds[i] = pipe.EvalSha(ctx, s.scripts.put.Hash(), s.putKeys(), s.putArgs(it.Key, e, it.TTL, it.Mark)...)
	}
	_, _ = pipe.Exec(ctx) // each command holds its own error
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		res, err := cmd.Int64Slice()
		switch {
		case err != nil && redis.HasErrorPrefix(err, "NOSCRIPT"):
			it := items[i]
			results[i], errs[i] = s.Put(ctx, it.Key, it.Envelope, it.TTL, it.Mark)
		case err != nil:
			errs[i] = fmt.Errorf("remote: put %q: %w", items[i].Key, refused(err))
		case len(res) != 1:
			errs[i] = fmt.Errorf("%w: put answered %v", ErrState, res)
		default:
			results[i], errs[i] = resultOf(res[0])
		}
	}
	return results, errs
}
