package remote

import (
	_ "embed"

	"github.com/redis/go-redis/v9"
)

// The Lua sources. envelope.lua (the envelope parser) is prepended to every
// script that reads entries; common.lua holds the helpers of the write
// scripts and is prepended to each of them, after util.lua (the clock and
// small helpers, shared with the cluster scripts) and sign.lua (the signing
// of bus messages). So every script is one
// self-contained chunk that Redis caches by its SHA-1: go-redis runs it with
// EVALSHA and falls back to EVAL (which caches it) on NOSCRIPT, after a
// restart or SCRIPT FLUSH.
var (
	//go:embed lua/envelope.lua
	luaEnvelope string
	//go:embed lua/common.lua
	luaCommon string
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
)

// scripts are the Lua scripts of one Store.
type scripts struct {
	state      *redis.Script
	put        *redis.Script
	set        *redis.Script
	invalidate *redis.Script
	drain      *redis.Script
	deleteIf   *redis.Script
	read       *redis.Script
}

func newScripts() scripts {
	with := func(src string) *redis.Script {
		return redis.NewScript(luaEnvelope + "\n" + luaUtil + "\n" + luaSign + "\n" + luaCommon + "\n" + src)
	}
	return scripts{
		state:      with(luaState),
		put:        with(luaPut),
		set:        with(luaSet),
		invalidate: with(luaInvalidate),
		drain:      with(luaDrain),
		deleteIf:   redis.NewScript(luaDeleteIf),
		read:       redis.NewScript(luaEnvelope + "\n" + luaRead),
	}
}
