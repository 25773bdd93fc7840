package remote

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

// The Redis Cluster protocol. A script may only touch keys of one hash
// slot, so the single-script writes of the standalone protocol become short
// sequences of single-slot scripts (see clusterKeys for the layout):
//
// Invalidate(ds):
//
//	A  control slot: s = INCR seq; register s in flight ({N}:flight, with a
//	   deadline) and keep its message ({N}:msgs).
//	B  each dependency's slot: tombstone := max(tombstone, s); take the
//	   dependency's set (delete it, or rename it aside when large).
//	C  control slot: mark s done; publish and log, in sequence order, every
//	   done invalidation after the published watermark {N}:pub, and move
//	   the watermark past them.
//	D  each member's entry slot: delete the entry if it still depends on the
//	   dependency; a deps.Key(k) also deletes entry k itself.
//
// Put(key, mark), check-write-recheck:
//
//	P1 each dependency's slot: refuse if its tombstone is newer than the
//	   mark, else add key to its set (the index before the entry);
//	   deps.Key(key) is checked only.
//	P2 entry slot: write the entry, with the mark in its header.
//	P3 read the tombstones again (and the epoch); if one is newer than the
//	   mark, delete the entry (only if it still holds these bytes).
//
// Why a put marked before an invalidation never leaves an entry that reads
// as fresh once the invalidation has returned: B and P1 of the same
// dependency are scripts of one slot, so one runs wholly before the other.
// If B runs first, P1 sees the tombstone and refuses. If P1 runs first, the
// key is in the set that B takes, so D looks at the entry: if D reads it
// after P2, it deletes the put's entry; if D ran before P2, then P2, and P3
// after it, come after B, so P3 sees the tombstone and deletes the entry.
// Between P2 and P3 the entry exists, but no reader serves it: the reader
// checks every tombstone of the entry against the mark in its header (see
// read), and the tombstone is already there.
//
// Why the invalidation is published (C) before its entries are deleted
// (D): from the end of B it is in effect for every reader. An entry it
// covers depends on one of ds and carries a mark older than s; the reader
// checks each dependency's tombstone against that mark (see read), and B
// has written tombstones of at least s. So D only reclaims memory, and C
// need not wait for it: a dependency with 200,000 dependents, whose D takes
// seconds, does not hold back the publication of the invalidations that
// follow it. A start mark read from the watermark covers invalidations
// whose tombstones are written, which is all a put's check needs; D may
// still delete the entry of such a put (it takes the members from the set
// B took, and a put after C indexes its key in the fresh set), which makes
// a miss, never a stale hit.
//
// Why the published watermark: the steps of two invalidations interleave,
// so they may finish B out of order, and one may never finish (its caller
// died). Publishing at once would show subscribers sequence number 6 before
// 5, a gap that they would fill from a log that does not hold 5 yet, and
// flush. Instead C publishes only a prefix of invalidations whose B is
// complete, and State reports the watermark, not the sequence: a node
// compares its applied sequence with numbers that have really been
// published, and a start mark covers only invalidations in effect. An
// invalidation left in flight past its deadline (Config.SweepAfter) is
// claimed by the next Invalidate, Set or State of any node, which runs its
// B, C and D again (all of them are idempotent); until then, later
// invalidations are in effect in Redis (tombstones) but not yet announced
// to other nodes' L1. An invalidator that stops during D has published
// already: the entries it did not delete read as misses (their marks are
// older than the tombstones and, once those expire, they are outside their
// dependency's set) and expire with their TTL, as does a set aside, which
// keeps the TTL of the set it was.
type clusterStore struct {
	rdb     redis.UniversalClient
	k       clusterKeys
	sc      clusterScripts
	horizon string // TombstoneHorizon in whole seconds
	logLen  string // LogLength
	pads    string // the signing pads of bus messages, "" to publish them unsigned
	batch   int    // InvalidateBatch: members per pipeline of deletes
	lease   string // SweepAfter in milliseconds

	// crashAt, when set (by tests), is called before each step of an
	// invalidation ("B", "C", "D"), of a put ("P2", "P3") and of a Set
	// (also "A", after its precheck); true stops the
	// operation there, as a crash of the caller would.
	crashAt func(step string) bool

	lostIndex *atomic.Uint64

	// reg is the registry of master processes of an epoch, as last read
	// (see cluster_runs.go). A pointer: copies of a clusterStore (tests
	// make them) share it.
	reg *atomic.Pointer[runRegistry]
}

// errCrashed is the error of an operation stopped by crashAt.
var errCrashed = errors.New("remote: stopped by a test")

// scoreSlack is added to the score (expiry) of a set member: the member's
// expiry is computed on the clock of its set's master, the entry's on the
// entry's master, and a member must not be trimmed before its entry
// expires. Masters whose clocks differ by more than this make entries near
// their expiry read as misses (never as stale hits).
const scoreSlack = 2 * time.Second

func newClusterStore(cfg Config, lost *atomic.Uint64) *clusterStore {
	secs := int64((cfg.TombstoneHorizon + time.Second - 1) / time.Second)
	return &clusterStore{
		rdb:       cfg.Redis,
		k:         newClusterKeys(cfg.Namespace),
		sc:        newClusterScripts(),
		horizon:   strconv.FormatInt(secs, 10),
		logLen:    strconv.FormatInt(cfg.LogLength, 10),
		batch:     cfg.InvalidateBatch,
		lease:     ttlMillis(cfg.SweepAfter),
		lostIndex: lost,
		reg:       new(atomic.Pointer[runRegistry]),
		pads:      signingPads(cfg.Signer),
	}
}

func (c *clusterStore) crashed(step string) bool { return c.crashAt != nil && c.crashAt(step) }

// state is State: the published watermark and the epoch (one script in the
// control slot, which starts a new epoch when the control slot's history
// is not the one seen), after checking every master's process against the
// epoch's registry (see cluster_runs.go) and finishing any overdue
// invalidation it claimed.
func (c *clusterStore) state(ctx context.Context, seen State) (State, error) {
	st, res, err := c.stateCall(ctx, seen)
	if err != nil {
		return State{}, err
	}
	if ok, err := c.checkMasters(ctx, st.Epoch); err != nil {
		return State{}, fmt.Errorf("remote: state: %w", err)
	} else if !ok {
		if st, res, err = c.stateCall(ctx, State{}); err != nil {
			return State{}, err
		}
	}
	if len(res) > 2 {
		c.sweep(ctx, st.Epoch, res[2:])
		if now, err := c.current(ctx); err == nil && now.Epoch == st.Epoch {
			st = now
		}
	}
	return st, nil
}

// stateCall runs the state script.
func (c *clusterStore) stateCall(ctx context.Context, seen State) (State, []any, error) {
	res, err := c.sc.state.Run(ctx, c.rdb, c.k.control(), newEpoch(), c.lease,
		seen.Epoch, strconv.FormatUint(seen.Seq, 10)).Slice()
	if err != nil {
		return State{}, nil, fmt.Errorf("remote: state: %w", err)
	}
	st, err := parseState(res, 0)
	return st, res, err
}

// read is Read. Round trips: 1 on a miss, 2 on a hit, 3 when the hit turns
// out stale or unindexed (the delete).
//
//  1. One pipeline, in parallel: the published watermark and the epoch from
//     the control slot; the entry and its PTTL from the entry's slot. On a
//     miss the watermark is the start mark of the load that follows: it was
//     read before the load began, and every invalidation up to it had
//     written its tombstones (B) before it was published, so a put of the
//     load is refused if one of them came after it.
//  2. On a hit, one pipeline, in parallel: for each dependency of the entry
//     its set membership and tombstone, and the tombstone of deps.Key(key).
//     The entry is served only if it is in every set (G2: an entry whose
//     index was lost could not be found by an invalidation), belongs to the
//     current epoch, and no tombstone is newer than the mark in its header.
//
// The returned mark is the watermark of step 1 although the entry was read
// in parallel with it: every invalidation up to the watermark wrote its
// tombstones before it was published, so before step 2 read them; one that
// concerned the entry and came after the entry's mark fails the check. So
// the entry reflects every invalidation up to the watermark.
func (c *clusterStore) read(ctx context.Context, key string, seen State) (st State, e Envelope, found bool, err error) {
	ekey := c.k.entry(key)
	var stc *redis.SliceCmd
	rd := &call{sc: c.sc.read, keys: []string{ekey}}
	err = exec(ctx, c.rdb, []*call{rd}, func(p redis.Pipeliner) {
		stc = p.MGet(ctx, c.k.pub, c.k.epoch)
	})
	if err == nil {
		err = firstErr(stc)
	}
	if err != nil {
		return State{}, Envelope{}, false, fmt.Errorf("remote: read %q: %w", key, err)
	}
	got, err := rd.cmd.Slice()
	if err != nil || len(got) != 3 {
		return State{}, Envelope{}, false, fmt.Errorf("%w: read answered %v, %v", ErrState, got, err)
	}
	vals := stc.Val()
	if len(vals) != 2 {
		return State{}, Envelope{}, false, fmt.Errorf("%w: read answered %v", ErrState, vals)
	}
	if pub, ok := vals[0].(string); ok {
		if st.Seq, err = parseSeq(pub); err != nil {
			return State{}, Envelope{}, false, err
		}
	}
	st.Epoch, _ = vals[1].(string)
	if st.Epoch != "" && st.Epoch == seen.Epoch && st.Seq < seen.Seq {
		// The watermark went back: the control slot lost history. The
		// state script starts a new epoch.
		st, err = c.state(ctx, seen)
		return st, Envelope{}, false, err
	}
	raw, _ := got[0].(string)
	if raw == "" {
		return st, Envelope{}, false, nil
	}
	run, _ := got[2].(string)
	if ok, err := c.vouch(ctx, st.Epoch, run); err != nil || !ok {
		// The entry's master is not a process of this epoch: it may have
		// lost deletes. A new epoch has begun; nothing read here is a mark.
		if err == nil {
			st, err = c.current(ctx)
		}
		return st, Envelope{}, false, err
	}
	mark, env, err := splitEntry(raw)
	if err == nil {
		e, err = DecodeEnvelope([]byte(env))
	}
	if err != nil {
		if derr := c.deleteIf(ctx, ekey, raw); derr != nil {
			err = fmt.Errorf("%w (and deleting it failed: %v)", err, derr)
		}
		return st, Envelope{}, false, fmt.Errorf("%w (key %q)", err, key)
	}
	if mark.Epoch != st.Epoch {
		// Written in another epoch: the control slot restarted or was
		// flushed since, and its tombstones cannot be compared with this
		// entry's mark. Every entry of an old epoch reads as a miss, as in
		// a standalone Redis that restarted empty.
		return st, Envelope{}, false, c.deleteIf(ctx, ekey, raw)
	}
	ok, lost, err := c.valid(ctx, key, e.Deps, mark)
	if err != nil {
		return State{}, Envelope{}, false, fmt.Errorf("remote: read %q: %w", key, err)
	}
	if !ok {
		if lost {
			c.lostIndex.Add(1)
		}
		return st, Envelope{}, false, c.deleteIf(ctx, ekey, raw)
	}
	if ms, _ := got[1].(int64); ms > 0 {
		e.TTL = time.Duration(ms) * time.Millisecond
	}
	return st, e, true, nil
}

// valid checks an entry of key with dependencies ds, written at mark,
// against the index and the tombstones (step 2 of read). lost reports a
// missing membership that no tombstone explains.
func (c *clusterStore) valid(ctx context.Context, key string, ds []deps.Dep, mark State) (ok, lost bool, err error) {
	scores := make([]*redis.FloatCmd, len(ds))
	tombs := make([]*redis.StringCmd, len(ds)+1)
	_ = exec(ctx, c.rdb, nil, func(p redis.Pipeliner) {
		for i, d := range ds {
			scores[i] = p.ZScore(ctx, c.k.depKey(d), key)
			tombs[i] = p.Get(ctx, c.k.tombKey(d))
		}
		tombs[len(ds)] = p.Get(ctx, c.k.tombKey(deps.Key(key)))
	}) // errors are read per command
	ok = true
	for i, t := range tombs {
		tv, err := str(t)
		if err != nil {
			return false, false, err
		}
		newer := tombNewer(tv, mark)
		if newer {
			ok = false
		}
		if i == len(ds) {
			break
		}
		if err := scores[i].Err(); err != nil {
			if !errors.Is(err, redis.Nil) {
				return false, false, err
			}
			ok = false
			lost = lost || !newer
		}
	}
	return ok, lost, nil
}

func (c *clusterStore) deleteIf(ctx context.Context, ekey, raw string) error {
	if err := c.sc.deleteIf.Run(ctx, c.rdb, []string{ekey}, raw).Err(); err != nil && !errors.Is(err, redis.Nil) {
		return fmt.Errorf("remote: delete %q: %w", ekey, err)
	}
	return nil
}

// firstErr is the first error of cmds other than redis.Nil.
func firstErr(cmds ...redis.Cmder) error {
	for _, c := range cmds {
		if err := c.Err(); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
	}
	return nil
}

// bodyDeps reads the dependencies of an in-flight body "origin\ndeps...".
func bodyDeps(body string) ([]deps.Dep, bool) {
	_, joined, ok := strings.Cut(body, "\n")
	if !ok {
		return nil, false
	}
	var out []deps.Dep
	for line := range strings.SplitSeq(joined, "\n") {
		d, err := deps.Parse(line)
		if err != nil {
			return nil, false
		}
		out = append(out, d)
	}
	return out, true
}
