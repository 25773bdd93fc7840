package remote

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unsafe"

	"github.com/redis/go-redis/v9"

	"github.com/matroska-go/matroska/deps"
)

// Config configures a [Store]. New does not modify it.
type Config struct {
	// Redis is the client. The Store never closes it. Required.
	Redis redis.UniversalClient
	// Namespace prefixes every key and the channel. Required: non-empty,
	// without whitespace or control characters.
	Namespace string
	// TombstoneHorizon is how long the tombstone of an invalidation is kept
	// (rounded up to whole seconds). A put whose mark is older than that
	// can no longer be checked: callers must not put values whose load took
	// longer than half of it.
	// default: 10m
	TombstoneHorizon time.Duration
	// LogLength is the approximate number of invalidations the log keeps
	// for catch-up (XADD MAXLEN ~).
	// default: 10000
	LogLength int64
	// InvalidateBatch bounds the work of one script call of an
	// invalidation (of [Store.Invalidate], and of [Store.Set] for the
	// entries that contain the key), so that no call blocks Redis for long
	// (each deleted entry costs it a few microseconds). The budget of a
	// call counts one per member of a dependency set, and one more per
	// four further dependencies of each entry it deletes (each a ZREM). An
	// invalidation that fits in it runs in one call. A larger one runs in
	// phases: the first call takes the sequence number, writes the
	// tombstones, empties the sets while the budget lasts and sets the
	// rest aside (their entries read as misses from then on) and announces
	// the invalidation; further calls delete the set-aside entries, within
	// the same budget each. The method returns when all of them are gone.
	// default: 1000
	InvalidateBatch int
	// SweepAfter is how long an invalidation in phases may make no progress
	// (its caller died, or its context ended) before the next Invalidate or
	// Set of any node finishes it. Until then its entries read as misses.
	// default: 30s
	SweepAfter time.Duration
	// Cluster selects the Redis Cluster protocol (see cluster.go: no script
	// touches more than one hash slot, invalidations are published with
	// SPUBLISH on a shard channel, round trips are more). A
	// *redis.ClusterClient selects it whatever this field says; set it for
	// a cluster client of another type (a wrapper). The Namespace must not
	// contain braces then.
	// default: false
	Cluster bool
	// Signer, when set, signs the invalidation messages the scripts
	// publish, with HMAC-SHA1 computed inside Redis: its Pads are the
	// shared key XORed with HMAC's inner and outer pads, 64 bytes each
	// (a *bus.Key is a Signer). Subscribers with the same key drop
	// messages not signed with it. The pads travel as a script argument.
	// default: none (messages are not signed)
	Signer interface{ Pads() (inner, outer []byte) }
}

const (
	defaultTombstoneHorizon = 10 * time.Minute
	defaultLogLength        = 10000
	defaultInvalidateBatch  = 1000
	defaultSweepAfter       = 30 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if c.Redis == nil {
		return c, fmt.Errorf("%w: Redis is nil", ErrConfig)
	}
	if c.Namespace == "" {
		return c, fmt.Errorf("%w: empty Namespace", ErrConfig)
	}
	if i := strings.IndexFunc(c.Namespace, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }); i >= 0 {
		return c, fmt.Errorf("%w: Namespace %q has whitespace or a control character", ErrConfig, c.Namespace)
	}
	for _, err := range []error{
		orDefault(&c.TombstoneHorizon, defaultTombstoneHorizon, "TombstoneHorizon"),
		orDefault(&c.LogLength, defaultLogLength, "LogLength"),
		orDefault(&c.InvalidateBatch, defaultInvalidateBatch, "InvalidateBatch"),
		orDefault(&c.SweepAfter, defaultSweepAfter, "SweepAfter"),
	} {
		if err != nil {
			return c, err
		}
	}
	if (c.Cluster || isCluster(c.Redis)) && strings.ContainsAny(c.Namespace, "{}") {
		return c, fmt.Errorf("%w: Namespace %q has a brace (the cluster protocol uses {Namespace} as a hash tag)", ErrConfig, c.Namespace)
	}
	if c.Signer != nil && signingPads(c.Signer) == "" {
		return c, fmt.Errorf("%w: the Signer's pads are not 64 bytes each", ErrConfig)
	}
	return c, nil
}

// Store is the Redis tier of one namespace. It holds no data in memory and
// is safe for concurrent use.
type Store struct {
	rdb     redis.UniversalClient
	keys    keys
	scripts scripts
	horizon string // TombstoneHorizon in whole seconds, a script argument
	logLen  string // LogLength, a script argument
	batch   string // InvalidateBatch, a script argument
	lease   string // SweepAfter in milliseconds, a script argument
	pads    string // the signing pads of bus messages, "" to publish them unsigned

	// stateKeys holds the sequence and epoch keys as command arguments,
	// boxed once: ReadUnchecked does not box them again on every read.
	stateKeys [2]any

	// afterPhase, when set (by tests), is called after each script call of
	// an invalidation in phases with the registry member and the number of
	// its members left ("" and 0 after the first call). An error stops the
	// invalidation there, as a crash of the caller would.
	afterPhase func(member string, left int64) error

	lostIndex atomic.Uint64 // entries Read dropped for a lost index

	// cl is the Redis Cluster protocol, nil on a standalone Redis. Every
	// method that talks to Redis hands over to it first.
	cl *clusterStore
}

// New returns the Store of cfg. It does not talk to Redis (so it succeeds
// while Redis is down): the scripts are sent on first use and cached by
// Redis, or by [Store.Preload].
func New(cfg Config) (*Store, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	secs := int64((cfg.TombstoneHorizon + time.Second - 1) / time.Second)
	s := &Store{
		rdb:     cfg.Redis,
		keys:    newKeys(cfg.Namespace),
		scripts: newScripts(),
		horizon: strconv.FormatInt(secs, 10),
		logLen:  strconv.FormatInt(cfg.LogLength, 10),
		batch:   strconv.Itoa(cfg.InvalidateBatch),
		lease:   ttlMillis(cfg.SweepAfter),
		pads:    signingPads(cfg.Signer),
	}
	s.stateKeys = [2]any{s.keys.seq, s.keys.epoch}
	if cfg.Cluster || isCluster(cfg.Redis) {
		s.cl = newClusterStore(cfg, &s.lostIndex)
		s.keys.useCluster(s.cl.k)
	}
	return s, nil
}

// State is a point of the invalidation sequence: Seq within the epoch Epoch,
// the random id that changes whenever the sequence starts over (a Redis that
// restarted empty, FLUSHALL, a lost key). Sequence numbers start at 1 in
// each epoch; Seq 0 is the state before the first invalidation.
type State struct {
	Seq   uint64
	Epoch string
}

// Channel is the pub/sub channel on which every invalidation is published,
// "N:inv".
func (s *Store) Channel() string { return s.keys.channel }

// EntryKey is the Redis key of entry key, "N:e:<key>".
func (s *Store) EntryKey(key string) string { return s.keys.entry(key) }

// DepKey is the Redis key of the dependency set of d, "N:d:<dep>".
func (s *Store) DepKey(d deps.Dep) string { return s.keys.dep(d) }

// TombstoneKey is the Redis key of the tombstone of d, "N:i:<dep>".
func (s *Store) TombstoneKey(d deps.Dep) string { return s.keys.tomb(d) }

// SeqKey is the Redis key of the invalidation sequence, "N:seq".
func (s *Store) SeqKey() string { return s.keys.seq }

// EpochKey is the Redis key of the epoch, "N:epoch".
func (s *Store) EpochKey() string { return s.keys.epoch }

// LogKey is the Redis key of the invalidation log stream, "N:log".
func (s *Store) LogKey() string { return s.keys.log }

// PendingKey is the Redis key of the registry of invalidations in phases
// that are not finished yet ("" under the cluster protocol, which has none), "N:pending" (see [Config.InvalidateBatch]): a
// ZSET of members "<seq>:<epoch>:<dep>", each naming the set of entries
// still to delete, "N:p:<member>", scored by the Redis time in milliseconds
// after which any node may finish it.
func (s *Store) PendingKey() string { return s.keys.pending }

// DepMembers returns the keys of the entries indexed under d (members of
// N:d:<dep>, expired ones included until a write trims them), for
// inspection and tests.
func (s *Store) DepMembers(ctx context.Context, d deps.Dep) ([]string, error) {
	if d.IsZero() {
		return nil, fmt.Errorf("%w: the zero deps.Dep", ErrInvalidDep)
	}
	m, err := s.rdb.ZRange(ctx, s.keys.dep(d), 0, -1).Result()
	if err != nil {
		return nil, fmt.Errorf("remote: members of %s: %w", d, err)
	}
	return m, nil
}

// State returns the current state. It is [Store.StateAfter] with nothing
// seen.
func (s *Store) State(ctx context.Context) (State, error) {
	return s.StateAfter(ctx, State{})
}

// StateAfter returns the current state, first starting a new epoch when
// the one Redis has cannot be trusted to continue the history the caller
// followed: the epoch or the sequence is missing, the Redis process is not
// the one that served the epoch (it restarted, from a snapshot or an AOF
// that may lack acknowledged invalidations, or it is a replica that a
// failover promoted), or seen, the newest state the caller has applied
// (zero if none), is ahead of the sequence in the same epoch. In a new
// epoch every entry written before reads as a miss and puts marked before
// are refused (G11). One script call.
func (s *Store) StateAfter(ctx context.Context, seen State) (State, error) {
	if s.cl != nil {
		return s.cl.state(ctx, seen)
	}
	res, err := s.scripts.state.Run(ctx, s.rdb, []string{s.keys.seq, s.keys.epoch, s.keys.log, s.keys.hist},
		newEpoch(), seen.Epoch, strconv.FormatUint(seen.Seq, 10)).Slice()
	if err != nil {
		return State{}, fmt.Errorf("remote: state: %w", refused(err))
	}
	return parseState(res, 0)
}

// Rotate starts a new epoch if the current one is still from, and returns
// the state after the call (another caller may have rotated first). Every
// entry of the old epoch then reads as a miss and every put marked in it
// is refused: a node calls it when entries that should be gone may still
// be in Redis (an invalidation that Redis refused, see tiered).
func (s *Store) Rotate(ctx context.Context, from string) (State, error) {
	if s.cl != nil {
		if _, err := s.cl.registry(ctx, "rotate", from); err != nil {
			return State{}, err
		}
		return s.cl.state(ctx, State{})
	}
	res, err := s.scripts.rotate.Run(ctx, s.rdb, []string{s.keys.seq, s.keys.epoch, s.keys.log, s.keys.hist},
		from, newEpoch()).Slice()
	if err != nil {
		return State{}, fmt.Errorf("remote: rotate: %w", refused(err))
	}
	return parseState(res, 0)
}

// Publish publishes payload, a bus message, on the channel of
// invalidations (with SPUBLISH under the cluster protocol). It needs no
// write: Redis takes it even when it refuses writes.
func (s *Store) Publish(ctx context.Context, payload []byte) error {
	var err error
	if s.cl != nil {
		err = s.rdb.SPublish(ctx, s.keys.channel, payload).Err()
	} else {
		err = s.rdb.Publish(ctx, s.keys.channel, payload).Err()
	}
	if err != nil {
		return fmt.Errorf("remote: publish: %w", err)
	}
	return nil
}

// Read is [Store.ReadAfter] with nothing seen.
func (s *Store) Read(ctx context.Context, key string) (st State, e Envelope, found bool, err error) {
	return s.ReadAfter(ctx, key, State{})
}

// ReadAfter reads entry key in one round trip: one script checks the
// history as [Store.StateAfter] does with seen (starting a new epoch if
// Redis lost history), then reads N:seq, N:epoch and N:e:<key> in one
// atomic step, so that the returned State is a valid start mark for the
// entry or for a load after a miss. It serves the entry only if it was
// written in the current epoch and is still a member of each of its
// dependencies' sets: an entry of another epoch (written before Redis lost
// history, G11) or whose index was lost (evicted, deleted; counted by
// [Store.LostIndex], G2) is dropped and read as a miss.
//
// found reports an entry. An entry that does not decode is deleted (unless
// it changed meanwhile) and reported as not found with an error wrapping
// [ErrCorrupt]; the State is valid then too. The Envelope's TTL is the
// entry's remaining TTL.
func (s *Store) ReadAfter(ctx context.Context, key string, seen State) (st State, e Envelope, found bool, err error) {
	if s.cl != nil {
		return s.cl.read(ctx, key, seen)
	}
	ekey := s.keys.entry(key)
	res, err := s.scripts.read.Run(ctx, s.rdb, []string{s.keys.seq, s.keys.epoch, ekey, s.keys.log, s.keys.hist},
		s.keys.entryPrefix, s.keys.depPrefix, key, s.keys.tombPrefix,
		newEpoch(), seen.Epoch, strconv.FormatUint(seen.Seq, 10)).Slice()
	if err != nil {
		return State{}, Envelope{}, false, fmt.Errorf("remote: read %q: %w", key, refused(err))
	}
	if len(res) != 5 {
		return State{}, Envelope{}, false, fmt.Errorf("%w: read answered %d values", ErrState, len(res))
	}
	if lost, _ := res[4].(int64); lost == 1 {
		s.lostIndex.Add(1)
	}
	pttl, _ := res[3].(int64)
	return s.readResult(ctx, key, res[0], res[1], res[2], pttl)
}

// Preload sends every script of a standalone Store to Redis in one round
// trip (SCRIPT LOAD, pipelined), so that the first use of each is one round
// trip too: a script Redis does not hold costs an EVALSHA answered NOSCRIPT,
// then an EVAL. A Redis that restarted or flushed its scripts is served the
// same way again, so Preload is an optimisation, never needed for
// correctness. A Redis Cluster store loads nothing (its scripts load on
// first use on each master).
func (s *Store) Preload(ctx context.Context) error {
	if s.cl != nil {
		return nil
	}
	cmds, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, src := range s.scripts.srcs {
			p.ScriptLoad(ctx, src)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remote: preload %d scripts: %w", len(cmds), err)
	}
	return nil
}

// ReadUnchecked reads entry key in one round trip of plain commands, with
// no script: MGET of N:seq, N:epoch and N:e:<key> (one atomic step, so the
// State is a valid start mark, as with [Store.Read]). An entry of another
// epoch than the one read is never returned: it is read again with Read,
// which drops it. It does not look at the history guard nor at the entry's
// index: the caller serves the entry only if it has followed this epoch up
// to at least its start of the read (a State below that means lost
// history: it reads again with [Store.ReadAfter]), and knows that no
// invalidation of the entry's dependencies, nor of deps.Key(key), came
// between the entry's [Envelope.Mark] and the returned State's sequence;
// otherwise it reads again with ReadAfter, which checks the index in Redis
// (G2).
// Such a check from what a node has applied is as strong as the index: an
// entry that survived an invalidation because its index was lost has a
// Mark below that invalidation's sequence.
//
// The Envelope's TTL comes from its Expires, on this node's clock: clocks
// that disagree by d make it d too long or too short (it is at least 1ms
// while Redis holds the entry). An entry in an older layout, which has no
// Expires, is read again with Read, which asks Redis for its TTL.
//
// Its results are those of Read. A Redis Cluster store has no unchecked
// read: it runs Read.
func (s *Store) ReadUnchecked(ctx context.Context, key string) (st State, e Envelope, found bool, err error) {
	if s.cl != nil {
		return s.Read(ctx, key)
	}
	cmd := redis.NewSliceCmd(ctx, "mget", s.stateKeys[0], s.stateKeys[1], s.keys.entry(key))
	_ = s.rdb.Process(ctx, cmd)
	res, err := cmd.Result()
	if err != nil {
		return State{}, Envelope{}, false, fmt.Errorf("remote: read %q: %w", key, err)
	}
	if len(res) != 3 {
		return State{}, Envelope{}, false, fmt.Errorf("%w: read answered %d values", ErrState, len(res))
	}
	st, e, found, err = s.readResult(ctx, key, res[0], res[1], res[2], 0)
	if found && (e.Expires.IsZero() || e.Epoch != st.Epoch) {
		return s.Read(ctx, key)
	}
	return st, e, found, err
}

// readResult makes the results of a read from the raw sequence, epoch and
// entry (each a string, or nil when missing) and the entry's remaining TTL
// in milliseconds (0 or less: unknown; then the envelope's Expires gives
// it).
func (s *Store) readResult(ctx context.Context, key string, seq, epoch, entry any, pttl int64) (st State, e Envelope, found bool, err error) {
	if seq, ok := seq.(string); ok {
		if st.Seq, err = parseSeq(seq); err != nil {
			return State{}, Envelope{}, false, err
		}
	}
	st.Epoch, _ = epoch.(string)
	raw, ok := entry.(string)
	if !ok {
		return st, Envelope{}, false, nil
	}
	// The reply's string is this read's own: its bytes are decoded in
	// place, not copied (Envelope.Payload aliases them and is read only).
	e, err = decodeEnvelope(unsafe.Slice(unsafe.StringData(raw), len(raw)), true)
	if err != nil {
		// Delete only the bytes that failed: a good entry written since
		// then stays.
		if derr := s.scripts.deleteIf.Run(ctx, s.rdb, []string{s.keys.entry(key)}, raw).Err(); derr != nil {
			err = fmt.Errorf("%w (and deleting it failed: %v)", err, derr)
		}
		return st, Envelope{}, false, fmt.Errorf("%w (key %q)", err, key)
	}
	switch {
	case pttl > 0:
		e.TTL = time.Duration(pttl) * time.Millisecond
	case !e.Expires.IsZero():
		e.TTL = max(time.Until(e.Expires), time.Millisecond)
	}
	return st, e, true, nil
}

// LostIndex counts the entries Read dropped because part of their
// dependency index was gone.
func (s *Store) LostIndex() uint64 { return s.lostIndex.Load() }

// orDefault sets the setting *v, named name, to def when it is zero, and
// refuses it when it is negative.
func orDefault[T int | int64 | time.Duration](v *T, def T, name string) error {
	if *v < 0 {
		return fmt.Errorf("%w: negative %s %v", ErrConfig, name, *v)
	}
	if *v == 0 {
		*v = def
	}
	return nil
}

// newEpoch returns a fresh random epoch candidate: 16 bytes from
// crypto/rand in hex.
func newEpoch() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

func parseSeq(s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence %q", ErrState, s)
	}
	return n, nil
}

// parseState reads the {seq, epoch} pair at res[i:] of a script's answer.
func parseState(res []any, i int) (State, error) {
	if len(res) < i+2 {
		return State{}, fmt.Errorf("%w: script answered %v", ErrState, res)
	}
	var st State
	switch v := res[i].(type) {
	case int64:
		if v < 0 {
			return State{}, fmt.Errorf("%w: sequence %d", ErrState, v)
		}
		st.Seq = uint64(v)
	case string:
		n, err := parseSeq(v)
		if err != nil {
			return State{}, err
		}
		st.Seq = n
	default:
		return State{}, fmt.Errorf("%w: script answered sequence %v", ErrState, res[i])
	}
	epoch, ok := res[i+1].(string)
	if !ok {
		return State{}, fmt.Errorf("%w: script answered epoch %v", ErrState, res[i+1])
	}
	st.Epoch = epoch
	return st, nil
}
