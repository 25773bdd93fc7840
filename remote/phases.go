package remote

import (
	"context"
	"fmt"
)

// The later phases of an invalidation in phases (see Config.InvalidateBatch
// and lua/common.lua): the first call, invalidate.lua or set.lua, returns
// the registry members of the sets it renamed away; drain.lua deletes their
// entries a batch at a time.

// writeKeys are the KEYS of the invalidate and set scripts.
func (s *Store) writeKeys() []string {
	return []string{s.keys.seq, s.keys.epoch, s.keys.log, s.keys.pending, s.keys.hist}
}

// finish deletes the entries that the first call of an invalidation at st
// set aside (mine, registry members) and then those of overdue
// invalidations of other callers that the call claimed. An error on mine is
// returned; the overdue ones are finished as far as they go (what is left
// stays registered for the next caller).
func (s *Store) finish(ctx context.Context, mine, overdue any, st State) error {
	own, err := members(mine)
	if err != nil {
		return err
	}
	late, err := members(overdue)
	if err != nil {
		return err
	}
	if s.afterPhase != nil && len(own) > 0 {
		if err := s.afterPhase("", -1); err != nil {
			return s.stopped(st, own, err)
		}
	}
	for _, m := range own {
		if err := s.drain(ctx, m, s.afterPhase); err != nil {
			return s.stopped(st, own, err)
		}
	}
	for _, m := range late {
		if s.drain(ctx, m, nil) != nil {
			break
		}
	}
	return nil
}

func (s *Store) stopped(st State, own []string, err error) error {
	return fmt.Errorf("%w: invalidation %d is in effect, but deleting the entries of %d set(s) stopped: %w",
		ErrUnfinished, st.Seq, len(own), err)
}

// drain runs the drain script on registry member m until its set is empty,
// calling hook (when not nil) after each call.
func (s *Store) drain(ctx context.Context, m string, hook func(string, int64) error) error {
	for {
		left, err := s.scripts.drain.Run(ctx, s.rdb, []string{s.keys.pending},
			s.keys.entryPrefix, s.keys.depPrefix, s.keys.pendPrefix, m, s.batch, s.lease).Int64()
		if err != nil {
			return err
		}
		if hook != nil {
			if err := hook(m, left); err != nil {
				return err
			}
		}
		if left == 0 {
			return nil
		}
	}
}

// members reads a list of registry members from a script's answer.
func members(v any) ([]string, error) {
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: script answered %v for a list of pending sets", ErrState, v)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		m, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%w: script answered %v for a pending set", ErrState, x)
		}
		out = append(out, m)
	}
	return out, nil
}
