package remote

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// The Lua sources of the cluster protocol. cluster_common.lua is prepended
// to each.
var (
	//go:embed lua/cluster_common.lua
	luaClusterCommon string
	//go:embed lua/cluster_begin.lua
	luaClusterBegin string
	//go:embed lua/cluster_tomb.lua
	luaClusterTomb string
	//go:embed lua/cluster_drop.lua
	luaClusterDrop string
	//go:embed lua/cluster_finish.lua
	luaClusterFinish string
	//go:embed lua/cluster_state.lua
	luaClusterState string
	//go:embed lua/cluster_index.lua
	luaClusterIndex string
	//go:embed lua/delete_if.lua
	luaClusterDeleteIf string
	//go:embed lua/cluster_runs.lua
	luaClusterRuns string
	//go:embed lua/cluster_read.lua
	luaClusterRead string
)

// clusterScripts are the scripts of the cluster protocol.
type clusterScripts struct {
	begin, tomb, drop, finish, state, index, deleteIf *redis.Script
	runs, read                                        *redis.Script
}

func newClusterScripts() clusterScripts {
	with := func(flags, src string) *redis.Script {
		return redis.NewScript(flags + luaEnvelope + "\n" + luaUtil + "\n" + luaSign + "\n" + luaClusterCommon + "\n" + src)
	}
	// The steps of an invalidation, State and the registry run at
	// maxmemory under noeviction (G12, see allowOOM): an invalidation
	// refused half-way would stay in flight and hold back the broadcast of
	// every later one. The index step of a put has no flags: Redis refuses
	// it with OOM before it changes anything.
	return clusterScripts{
		begin:    with(allowOOM, luaClusterBegin),
		tomb:     with(allowOOM, luaClusterTomb),
		drop:     with(allowOOM, luaClusterDrop),
		finish:   with(allowOOM, luaClusterFinish),
		state:    with(allowOOM, luaClusterState),
		index:    with("", luaClusterIndex),
		deleteIf: redis.NewScript(luaClusterDeleteIf),
		runs:     with(allowOOM, luaClusterRuns),
		read:     redis.NewScript(luaUtil + "\n" + luaClusterRead),
	}
}

// call is one script call of a pipeline: the script, its keys (all of one
// slot) and arguments, and, after exec, its result.
type call struct {
	sc   *redis.Script
	keys []string
	args []any
	cmd  *redis.Cmd
}

// exec sends calls (and whatever more adds) in one pipeline. The cluster
// client splits a pipeline by master and sends the parts in parallel, so a
// pipeline costs one round trip however many masters it reaches. A script
// that the master does not have cached yet (NOSCRIPT: first use, a restart,
// SCRIPT FLUSH) is sent again on its own with EVAL; only those calls are
// repeated. It returns the first error of a call; the callers read the
// results of more themselves.
func exec(ctx context.Context, rdb redis.UniversalClient, calls []*call, more func(redis.Pipeliner)) error {
	pipe := rdb.Pipeline()
	for _, c := range calls {
		c.cmd = c.sc.EvalSha(ctx, pipe, c.keys, c.args...)
	}
	if more != nil {
		more(pipe)
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, _ = pipe.Exec(ctx) // errors are read per command below
	var first error
	for _, c := range calls {
		if err := c.cmd.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			c.cmd = c.sc.Run(ctx, rdb, c.keys, c.args...)
		}
		if err := c.cmd.Err(); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// ctxErr is the context's error when it ended, so that a caller that gave
// up is told so rather than about the pipeline it interrupted.
func ctxErr(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("%w (%v)", cerr, err)
	}
	return err
}

// An entry under the cluster protocol is the header "c1:<seq>:<epoch>\n"
// followed by its envelope: the mark it was computed at travels with it, so
// that a reader can check it against the tombstones of its dependencies.
const entryHeader = "c1:"

func appendEntry(dst []byte, mark State, e Envelope) []byte {
	dst = append(dst, entryHeader...)
	dst = strconv.AppendUint(dst, mark.Seq, 10)
	dst = append(dst, ':')
	dst = append(dst, mark.Epoch...)
	dst = append(dst, '\n')
	return AppendEnvelope(dst, e)
}

// splitEntry reads the header of a cluster entry: its mark and the
// envelope bytes that follow.
func splitEntry(raw string) (State, string, error) {
	rest, ok := strings.CutPrefix(raw, entryHeader)
	if !ok {
		return State{}, "", fmt.Errorf("%w: no entry header", ErrCorrupt)
	}
	head, env, ok := strings.Cut(rest, "\n")
	if !ok {
		return State{}, "", fmt.Errorf("%w: unterminated entry header", ErrCorrupt)
	}
	seq, epoch, ok := strings.Cut(head, ":")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil || epoch == "" {
		return State{}, "", fmt.Errorf("%w: entry header %q", ErrCorrupt, head)
	}
	return State{Seq: n, Epoch: epoch}, env, nil
}

// tombNewer is cluster_common.lua's tomb_newer: whether tombstone t
// ("<seq>:<epoch>"; "" for none) is newer than mark.
func tombNewer(t string, mark State) bool {
	if t == "" {
		return false
	}
	seq, epoch, ok := strings.Cut(t, ":")
	if !ok {
		return true
	}
	if epoch != mark.Epoch {
		return false
	}
	n, err := strconv.ParseUint(seq, 10, 64)
	return err != nil || n > mark.Seq
}

// str is the string result of a GET in a pipeline, "" when missing.
func str(c *redis.StringCmd) (string, error) {
	v, err := c.Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	return v, err
}
