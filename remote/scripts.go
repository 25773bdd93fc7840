package remote

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources. envelope.lua (the envelope parser) is prepended to every
// script that reads entries; common.lua holds the helpers of the write
// scripts that invalidate and is prepended to each of them, after util.lua
// (the clock and small helpers, shared with the cluster scripts),
// history.lua (the guard against lost history, also prepended to the read
// script), entry.lua (the mark check and the write of an entry) and sign.lua
// (the signing of bus messages). The put script, which runs on every miss,
// gets only envelope.lua, util.lua, history.lua and entry.lua: a script
// defines each of its helpers again at every call. So every script is one
// self-contained chunk that Redis caches by its SHA-1: go-redis runs it with
// EVALSHA and falls back to EVAL (which caches it) on NOSCRIPT, after a
// restart or SCRIPT FLUSH.
var (
	//go:embed lua/envelope.lua
	luaEnvelope string
	//go:embed lua/common.lua
	luaCommon string
	//go:embed lua/entry.lua
	luaEntry string
	//go:embed lua/sign.lua
	luaSign string
	//go:embed lua/util.lua
	luaUtil string
	//go:embed lua/state.lua
	luaState string
	//go:embed lua/put.lua
	luaPut string
	//go:embed lua/set.lua
	luaSet string
	//go:embed lua/invalidate.lua
	luaInvalidate string
	//go:embed lua/drain.lua
	luaDrain string
	//go:embed lua/delete_if.lua
	luaDeleteIf string
	//go:embed lua/read.lua
	luaRead string
	//go:embed lua/history.lua
	luaHistory string
	//go:embed lua/rotate.lua
	luaRotate string
)

// allowOOM is the first line of the scripts that must run when Redis is at
// maxmemory with noeviction (G12): invalidations, which delete far more
// than they add, the state and read scripts, which may start a new epoch,
// and drain. Put and Set have no flags: Redis refuses their first write
// with OOM and they change nothing. A script with flags must start with
// them, so the line comes before the prepended helpers.
const allowOOM = "#!lua flags=allow-oom\n"

// scripts are the Lua scripts of one Store.
type scripts struct {
	state      *redis.Script
	put        *redis.Script
	set        *redis.Script
	invalidate *redis.Script
	drain      *redis.Script
	deleteIf   *redis.Script
	read       *redis.Script
	rotate     *redis.Script
	// srcs are the sources of all of them, for [Store.Preload].
	srcs []string
}

func newScripts() scripts {
	var srcs []string
	script := func(src string) *redis.Script {
		srcs = append(srcs, src)
		return redis.NewScript(src)
	}
	with := func(flags, src string) *redis.Script {
		return script(flags + luaEnvelope + "\n" + luaUtil + "\n" + luaHistory + "\n" + luaEntry + "\n" + luaSign + "\n" + luaCommon + "\n" + src)
	}
	s := scripts{
		state:      with(allowOOM, luaState),
		put:        script(luaEnvelope + "\n" + luaUtil + "\n" + luaHistory + "\n" + luaEntry + "\n" + luaPut),
		set:        with("", luaSet),
		invalidate: with(allowOOM, luaInvalidate),
		drain:      with(allowOOM, luaDrain),
		deleteIf:   script(luaDeleteIf),
		read:       script(allowOOM + luaEnvelope + "\n" + luaUtil + "\n" + luaHistory + "\n" + luaRead),
		rotate:     script(allowOOM + luaUtil + "\n" + luaHistory + "\n" + luaRotate),
	}
	s.srcs = srcs
	return s
}
