package remote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

// put is Put under the cluster protocol (see clusterStore): P1, P2, P3,
// three round trips (four when P3 deletes the entry). ds are the entry's
// dependencies, checked and without duplicates.
func (c *clusterStore) put(ctx context.Context, key string, e Envelope, ttl time.Duration, mark State) (PutResult, error) {
	r, err := c.index(ctx, key, e.Deps, ttl, mark, mark)
	if err != nil || r != Stored {
		return r, err
	}
	return c.write(ctx, key, e, ttl, mark, mark, mark)
}

// index is P1: in one pipeline, the epoch and, in each dependency's slot,
// the tombstone check against check and the index write; deps.Key(key) is
// checked against keyCheck.
func (c *clusterStore) index(ctx context.Context, key string, ds []deps.Dep, ttl time.Duration, check, keyCheck State) (PutResult, error) {
	calls := c.indexCalls(key, ds, ttl, check, keyCheck)
	var epoch *redis.StringCmd
	err := exec(ctx, c.rdb, calls, func(p redis.Pipeliner) { epoch = p.Get(ctx, c.k.epoch) })
	if err != nil {
		return 0, fmt.Errorf("remote: put %q: %w", key, refused(ctxErr(ctx, err)))
	}
	r, err := indexResult(calls, epoch, check)
	if err != nil || r != Stored {
		return r, err
	}
	if ok, err := c.vouchIndex(ctx, calls, check.Epoch); err != nil || !ok {
		return RefusedEpoch, err
	}
	return Stored, nil
}

func (c *clusterStore) indexCalls(key string, ds []deps.Dep, ttl time.Duration, check, keyCheck State) []*call {
	score := ttlMillis(ttl + scoreSlack)
	calls := make([]*call, 0, len(ds)+1)
	seq := strconv.FormatUint(check.Seq, 10)
	for _, d := range ds {
		calls = append(calls, &call{sc: c.sc.index, keys: []string{c.k.tombKey(d), c.k.depKey(d)},
			args: []any{seq, check.Epoch, key, score, "1"}})
	}
	kd := deps.Key(key)
	return append(calls, &call{sc: c.sc.index, keys: []string{c.k.tombKey(kd), c.k.depKey(kd)},
		args: []any{strconv.FormatUint(keyCheck.Seq, 10), keyCheck.Epoch, key, score, "0"}})
}

// indexResult reads the outcome of the P1 calls and the epoch read with
// them.
func indexResult(calls []*call, epoch *redis.StringCmd, check State) (PutResult, error) {
	cur, err := str(epoch)
	if err != nil {
		return 0, err
	}
	if cur != check.Epoch {
		return RefusedEpoch, nil
	}
	r := Stored
	for _, cl := range calls {
		v, err := cl.cmd.Slice()
		if err != nil {
			return 0, err
		}
		verdict, _ := v[0].(int64)
		if len(v) != 2 || verdict < 0 || verdict > 1 {
			return 0, fmt.Errorf("%w: index answered %v", ErrState, v)
		}
		if verdict == 1 {
			r = RefusedStale
		}
	}
	return r, nil
}

// vouchIndex checks the masters that answered the P1 calls (see
// cluster_runs.go): a dependency's master that is not a process of the
// mark's epoch may have lost the tombstone that would refuse the put.
func (c *clusterStore) vouchIndex(ctx context.Context, calls []*call, epoch string) (bool, error) {
	for _, cl := range calls {
		v, _ := cl.cmd.Slice()
		run, _ := v[1].(string)
		if ok, err := c.vouch(ctx, epoch, run); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// write is P2 and P3: write the entry with mark in its header, then read the
// tombstones again and delete the entry if one is newer than check (for
// the dependencies) or keyCheck (for deps.Key(key)), or the epoch changed.
func (c *clusterStore) write(ctx context.Context, key string, e Envelope, ttl time.Duration, mark, check, keyCheck State) (PutResult, error) {
	if c.crashed("P2") {
		return 0, errCrashed
	}
	ekey := c.k.entry(key)
	val := string(appendEntry(nil, mark, e))
	if err := c.rdb.Set(ctx, ekey, val, ttl).Err(); err != nil {
		return 0, fmt.Errorf("remote: put %q: %w", key, refused(err))
	}
	if c.crashed("P3") {
		return 0, errCrashed
	}
	var epoch *redis.StringCmd
	tombs := make([]*redis.StringCmd, len(e.Deps)+1)
	_ = exec(ctx, c.rdb, nil, func(p redis.Pipeliner) {
		epoch = p.Get(ctx, c.k.epoch)
		for i, d := range e.Deps {
			tombs[i] = p.Get(ctx, c.k.tombKey(d))
		}
		tombs[len(e.Deps)] = p.Get(ctx, c.k.tombKey(deps.Key(key)))
	})
	r := Stored
	if cur, err := str(epoch); err != nil {
		r = 0 // unknown: delete to be safe
	} else if cur != check.Epoch {
		r = RefusedEpoch
	}
	for i, t := range tombs {
		against := check
		if i == len(e.Deps) {
			against = keyCheck
		}
		tv, err := str(t)
		if err != nil {
			r = 0
		} else if r == Stored && tombNewer(tv, against) {
			r = RefusedStale
		}
	}
	if r == Stored {
		return Stored, nil
	}
	// Compare-and-delete: a later put's entry (it has its own recheck)
	// stays.
	if err := c.deleteIf(ctx, ekey, val); err != nil {
		return 0, fmt.Errorf("remote: put %q: %w", key, err)
	}
	if r == 0 {
		return 0, fmt.Errorf("remote: put %q: recheck failed: %w", key, strErr(append(tombs, epoch)))
	}
	return r, nil
}

// invalidate is Invalidate under the cluster protocol: A, B, C, D, four
// round trips (more when a set holds more than InvalidateBatch members),
// and then the overdue invalidations A claimed.
//
// C (the publication) comes before D (the deletes): from the end of B every
// entry the invalidation covers fails a reader's check, so it is in effect
// for readers before it is announced, and a large D does not hold back the
// publication of the invalidations that follow it (see clusterStore).
func (c *clusterStore) invalidate(ctx context.Context, ds []deps.Dep, origin string) (State, error) {
	st, _, late, err := c.begin(ctx, origin, ds, nil, nil)
	if err != nil {
		return State{}, fmt.Errorf("remote: invalidate: %w", refused(err))
	}
	taken, err := c.take(ctx, st, ds)
	if err != nil {
		return st, fmt.Errorf("remote: invalidate: invalidation %d is in flight, unfinished "+
			"(a later call of any node finishes it after SweepAfter): %w", st.Seq, ctxErr(ctx, err))
	}
	if err := c.finish(ctx, st); err != nil {
		return st, fmt.Errorf("remote: invalidate: %w", err)
	}
	if err := c.dropTaken(ctx, taken, ""); err != nil {
		return st, fmt.Errorf("remote: invalidate: %w", c.undeleted(st, ctxErr(ctx, err)))
	}
	c.sweep(ctx, st.Epoch, late)
	return st, nil
}

// undeleted is the error of an invalidation whose D stopped: it is in
// effect and published, and what it did not delete reads as misses.
func (c *clusterStore) undeleted(st State, err error) error {
	return fmt.Errorf("%w: invalidation %d is in effect and published, but deleting its entries stopped "+
		"(those left read as misses and expire with their TTL): %w", ErrUnfinished, st.Seq, err)
}

// set is Set under the cluster protocol: an invalidation of deps.Key(key)
// whose B runs together with the new entry's P1, then P2 and P3 (which
// overwrite the old entry), C, and D (which deletes the entries that
// contain key). The entry carries the Set's own sequence number as its
// mark; the dependencies are checked against the caller's mark, or
// without one against that number (a dependency invalidated after it
// refuses the entry: Set then counts as done before that invalidation, the
// entry is gone and Set reports Stored). Round trips: five, one more with
// a mark, and more when entries contain key (D). With a mark, a refusal
// found before the sequence number is taken changes nothing; one found
// after it (an invalidation in between) leaves key invalidated.
//
// The entry is written before C publishes the invalidation, so that a node
// that has applied it and misses in L1 reads the new value, not a miss; the
// entries that contain key fail a reader's check from B on (their mark is
// older than the tombstone of deps.Key(key)), so D may follow C.
func (c *clusterStore) set(ctx context.Context, key string, e Envelope, ttl time.Duration, mark *State, origin string) (State, PutResult, error) {
	kd := deps.Key(key)
	if mark != nil {
		r, err := c.precheck(ctx, key, e.Deps, *mark)
		if err != nil {
			return State{}, 0, fmt.Errorf("remote: set %q: %w", key, err)
		}
		if r != Stored {
			st, err := c.current(ctx)
			return st, r, err
		}
	}
	if c.crashed("A") {
		return State{}, 0, fmt.Errorf("remote: set %q: %w", key, errCrashed)
	}
	// With a mark, A also looks for invalidations in flight, numbered
	// after the mark, of deps.Key(key) or of a dependency, and B of
	// deps.Key(key) checks the tombstone it overwrites against the mark.
	// Between them they see every invalidation numbered between the mark
	// and st, wherever its steps land among the Set's (see
	// named_in_flight); those numbered after st are later than the Set:
	// P1 and P3 see their tombstones, or their D deletes the entry.
	look := []deps.Dep(nil)
	if mark != nil {
		look = append([]deps.Dep{kd}, e.Deps...)
	}
	st, named, late, err := c.begin(ctx, origin, []deps.Dep{kd}, mark, look)
	if err != nil {
		return State{}, 0, fmt.Errorf("remote: set %q: %w", key, err)
	}
	check := st
	if mark != nil {
		check = *mark
	}
	t := c.taking(st, []deps.Dep{kd}, mark)
	var r PutResult
	var full error // the write of the value refused for memory
	keep := ""     // the entry D must not delete: key, once P2 has overwritten it
	err = func() error {
		if c.crashed("B") {
			return errCrashed
		}
		// B of deps.Key(key) and P1 of the new entry in one round trip:
		// neither depends on the other. An entry already known to be
		// refused is not indexed.
		var icalls []*call
		if !named {
			icalls = c.indexCalls(key, e.Deps, ttl, check, st)
		}
		var epoch *redis.StringCmd
		err := exec(ctx, c.rdb, append(icalls, t.tomb...), func(p redis.Pipeliner) { epoch = p.Get(ctx, c.k.epoch) })
		if err != nil {
			return err
		}
		if r, err = indexResult(icalls, epoch, check); err != nil {
			return err
		}
		if r == Stored && (named || t.stale()) {
			r = RefusedStale
		}
		if r == Stored && mark != nil {
			ok, err := c.vouchIndex(ctx, icalls, check.Epoch)
			if err != nil {
				return err
			}
			if !ok {
				r = RefusedEpoch
			}
		}
		if r == Stored {
			// P2 replaces the old entry of key (its own recheck deletes
			// the new one if it must): D leaves key alone.
			keep = key
			r, err = c.write(ctx, key, e, ttl, st, check, st)
			if errors.Is(err, ErrFull) {
				// Redis is at maxmemory: the value is not stored, but the
				// invalidation of Key(key) goes on (its steps run at
				// maxmemory), and D deletes the old entry.
				full, keep, err = err, "", nil
			}
		}
		return err
	}()
	if err != nil {
		return st, Stored, fmt.Errorf("remote: set %q: invalidation %d is in flight, unfinished "+
			"(a later call of any node finishes it after SweepAfter): %w", key, st.Seq, ctxErr(ctx, err))
	}
	if err := c.finish(ctx, st); err != nil {
		return st, Stored, fmt.Errorf("remote: set %q: %w", key, err)
	}
	if mark == nil && r != Stored {
		r = Stored // a later invalidation superseded the value
	}
	if err := c.dropTaken(ctx, t, keep); err != nil {
		return st, r, fmt.Errorf("remote: set %q: %w", key, c.undeleted(st, ctxErr(ctx, err)))
	}
	c.sweep(ctx, st.Epoch, late)
	if full != nil {
		return st, 0, fmt.Errorf("remote: set %q: %w", key, full)
	}
	return st, r, nil
}

// precheck refuses a write marked mark, changing nothing, when the epoch
// is not the mark's or a tombstone of ds or deps.Key(key) is newer.
func (c *clusterStore) precheck(ctx context.Context, key string, ds []deps.Dep, mark State) (PutResult, error) {
	var epoch *redis.StringCmd
	tombs := make([]*redis.StringCmd, 0, len(ds)+1)
	_ = exec(ctx, c.rdb, nil, func(p redis.Pipeliner) {
		epoch = p.Get(ctx, c.k.epoch)
		for _, d := range ds {
			tombs = append(tombs, p.Get(ctx, c.k.tombKey(d)))
		}
		tombs = append(tombs, p.Get(ctx, c.k.tombKey(deps.Key(key))))
	})
	if err := strErr(append(tombs, epoch)); err != nil {
		return 0, err
	}
	if epoch.Val() != mark.Epoch {
		return RefusedEpoch, nil
	}
	for _, t := range tombs {
		if tombNewer(t.Val(), mark) {
			return RefusedStale, nil
		}
	}
	return Stored, nil
}

// current reads the published watermark and the epoch without creating
// anything.
func (c *clusterStore) current(ctx context.Context) (State, error) {
	vals, err := c.rdb.MGet(ctx, c.k.pub, c.k.epoch).Result()
	if err != nil {
		return State{}, err
	}
	var st State
	if pub, ok := vals[0].(string); ok {
		if st.Seq, err = parseSeq(pub); err != nil {
			return State{}, err
		}
	}
	st.Epoch, _ = vals[1].(string)
	return st, nil
}

// begin is step A: the next sequence number, registered in flight with the
// invalidation's message, and the overdue invalidations claimed. With a
// mark, named reports an invalidation in flight, numbered after the mark,
// of one of look.
func (c *clusterStore) begin(ctx context.Context, origin string, ds []deps.Dep, mark *State, look []deps.Dep) (st State, named bool, late []any, err error) {
	var b strings.Builder
	b.WriteString(origin)
	for _, d := range ds {
		b.WriteByte('\n')
		b.WriteString(d.String())
	}
	args := []any{newEpoch(), c.lease, b.String()}
	if mark != nil {
		args = append(args, strconv.FormatUint(mark.Seq, 10), mark.Epoch)
		for _, d := range look {
			args = append(args, d.String())
		}
	}
	res, err := c.sc.begin.Run(ctx, c.rdb, c.k.control(), args...).Slice()
	if err != nil {
		return State{}, false, nil, err
	}
	if st, err = parseState(res, 0); err != nil {
		return State{}, false, nil, err
	}
	if len(res) < 3 {
		return State{}, false, nil, fmt.Errorf("%w: begin answered %v", ErrState, res)
	}
	n, _ := res[2].(int64)
	return st, n == 1, res[3:], nil
}

// taken is step B of an invalidation st of ds: its calls (whose results
// name the members to delete and, for a Set's, whether the tombstone they
// replaced was newer than its mark) and the names of the sets set aside.
type taken struct {
	st   State
	ds   []deps.Dep
	tomb []*call
	sets []string
}

// taking prepares step B of invalidation st of ds; with a mark, each call
// also checks the tombstone it replaces against it.
func (c *clusterStore) taking(st State, ds []deps.Dep, mark *State) *taken {
	tomb, sets := c.tombCalls(st, ds, mark)
	return &taken{st: st, ds: ds, tomb: tomb, sets: sets}
}

// mode is the mode of the answer of B call i (see cluster_tomb.lua), and
// its members.
func (t *taken) mode(i int) (int64, []any, error) {
	res, err := t.tomb[i].cmd.Slice()
	if err != nil || len(res) == 0 {
		return 0, nil, fmt.Errorf("%w: tombstone script answered %v (%v)", ErrState, res, err)
	}
	mode, _ := res[0].(int64)
	return mode, res[1:], nil
}

// stale reports whether a B call found a tombstone newer than the mark it
// was given (or did not answer).
func (t *taken) stale() bool {
	for i := range t.tomb {
		if mode, _, err := t.mode(i); err != nil || mode&2 != 0 {
			return true
		}
	}
	return false
}

// take is step B of invalidation st of ds: the tombstones, and each
// dependency's set taken.
func (c *clusterStore) take(ctx context.Context, st State, ds []deps.Dep) (*taken, error) {
	if c.crashed("B") {
		return nil, errCrashed
	}
	t := c.taking(st, ds, nil)
	if err := exec(ctx, c.rdb, t.tomb, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// dropTaken is step D of what take took, sparing entry keep ("" for none).
func (c *clusterStore) dropTaken(ctx context.Context, t *taken, keep string) error {
	if c.crashed("D") {
		return errCrashed
	}
	return c.drop(ctx, t, keep)
}

// tombCalls are the B scripts of invalidation st of ds (checking the
// tombstones they replace against mark, when not nil); sets are the names
// a large set of each is renamed to.
func (c *clusterStore) tombCalls(st State, ds []deps.Dep, mark *State) (calls []*call, sets []string) {
	seq := strconv.FormatUint(st.Seq, 10)
	for _, d := range ds {
		aside := c.k.pend(d.String(), seq)
		sets = append(sets, aside)
		args := []any{seq, st.Epoch, c.horizon, c.batch}
		if mark != nil {
			args = append(args, strconv.FormatUint(mark.Seq, 10))
		}
		calls = append(calls, &call{sc: c.sc.tomb, keys: []string{c.k.tombKey(d), c.k.depKey(d), aside}, args: args})
	}
	return calls, sets
}

// drop is step D: delete the entries of the members that the B calls of t
// returned (and of the sets they renamed aside, popped InvalidateBatch at
// a time), and the entries named by deps.Key dependencies, except entry
// keep.
func (c *clusterStore) drop(ctx context.Context, t *taken, keep string) error {
	ds, sets := t.ds, t.sets
	var batch []*call
	flush := func() error {
		err := exec(ctx, c.rdb, batch, nil)
		batch = batch[:0]
		return err
	}
	add := func(member, dep string) error {
		if member == keep {
			return nil
		}
		batch = append(batch, &call{sc: c.sc.drop, keys: []string{c.k.entry(member)}, args: []any{dep}})
		if len(batch) >= c.batch {
			return flush()
		}
		return nil
	}
	var aside []int
	for i, d := range ds {
		mode, members, err := t.mode(i)
		if err != nil {
			return err
		}
		if mode&1 != 0 {
			aside = append(aside, i)
		}
		for _, m := range members {
			if s, ok := m.(string); ok {
				if err := add(s, d.String()); err != nil {
					return err
				}
			}
		}
		if k, ok := d.KeyName(); ok {
			if err := add(k, ""); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	for _, i := range aside {
		for {
			popped, err := c.rdb.ZPopMin(ctx, sets[i], int64(c.batch)).Result()
			if err != nil {
				return err
			}
			for _, z := range popped {
				if s, ok := z.Member.(string); ok && s != keep {
					batch = append(batch, &call{sc: c.sc.drop, keys: []string{c.k.entry(s)}, args: []any{ds[i].String()}})
				}
			}
			if err := flush(); err != nil {
				return err
			}
			if len(popped) < c.batch {
				break
			}
		}
	}
	return nil
}

// finish is step C.
func (c *clusterStore) finish(ctx context.Context, st State) error {
	if c.crashed("C") {
		return errCrashed
	}
	err := c.sc.finish.Run(ctx, c.rdb, c.k.control(),
		strconv.FormatUint(st.Seq, 10), st.Epoch, c.logLen, c.k.channel, c.pads).Err()
	if err != nil {
		return fmt.Errorf("invalidation %d is in effect but not published "+
			"(a later call of any node publishes it after SweepAfter): %w", st.Seq, err)
	}
	return nil
}

// sweep finishes the overdue invalidations that a control script claimed
// (late is its flat list of seq, body pairs), as far as ctx allows: B
// again, then C, then D. What it does not finish stays claimed until its renewed
// deadline and is claimed again then.
func (c *clusterStore) sweep(ctx context.Context, epoch string, late []any) {
	for i := 0; i+1 < len(late); i += 2 {
		seqText, _ := late[i].(string)
		body, _ := late[i+1].(string)
		seq, err := strconv.ParseUint(seqText, 10, 64)
		if err != nil {
			continue
		}
		st := State{Seq: seq, Epoch: epoch}
		var t *taken
		if ds, ok := bodyDeps(body); ok && len(ds) > 0 {
			if t, err = c.take(ctx, st, ds); err != nil {
				return
			}
		}
		if err := c.finish(ctx, st); err != nil && !errors.Is(err, context.Canceled) {
			return
		}
		if t != nil && c.dropTaken(ctx, t, "") != nil {
			return
		}
	}
}

// strErr is the first error of cmds other than redis.Nil.
func strErr(cmds []*redis.StringCmd) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}
