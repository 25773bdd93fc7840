-- Helpers of every write script, single Redis and cluster alike (prepended
-- by scripts.go and cluster_exec.go before common.lua or
-- cluster_common.lua).

-- now_ms is Redis's own clock in milliseconds, and as a second value the
-- microseconds within its second. Scores and trims of the dependency sets
-- use it, never a client's clock.
local function now_ms()
  local t = redis.call('TIME')
  local us = tonumber(t[2])
  return tonumber(t[1]) * 1000 + math.floor(us / 1000), us
end

-- fmt_int prints an integer without an exponent (tostring would print
-- 1e+15).
local function fmt_int(n)
  return string.format('%d', n)
end

-- TRIM_EVERY: a dependency set is trimmed of its expired members by one in
-- TRIM_EVERY of the puts that add a member to it (see index_in).
local TRIM_EVERY = 8

-- index_in adds key to the dependency set set with score exp (Redis's
-- time in ms when the entry expires, as a string; with gt, only ever
-- raising the score of a member already there), keeps the set alive at
-- least until exp, and sometimes trims its members that expired before now.
-- It runs once per dependency of every put, and every call costs Redis the
-- command and about half a microsecond more, so the set gets as few as
-- each case needs:
--   * Its expiry: PEXPIREAT NX gives one to a set without (the set was
--     just created by the ZADD, or was written by hand or by an older
--     writer), else PEXPIREAT GT raises it to exp and never lowers it.
--     (GT alone would not touch a set without a TTL.) NX goes first: the
--     put of a miss most often creates its set (a set goes with its last
--     entry, expired or invalidated), and then one call does.
--   * The trim: a set grows only by the members that puts add, so only
--     those trim it, one in TRIM_EVERY of them: those whose roll (the
--     microseconds of Redis's clock, plus the dependency's place, so that
--     one put's sets do not all roll alike) is a multiple of it.
--     (math.random would choose alike at every call: Redis seeds it alike
--     for every script.) Between two trims a set holds, besides its live
--     members, only those that expired since the last one, so it never
--     grows without bound.
local function index_in(set, key, exp, now, roll, gt)
  local added
  if gt then
    added = redis.call('ZADD', set, 'GT', exp, key)
  else
    added = redis.call('ZADD', set, exp, key)
  end
  if redis.call('PEXPIREAT', set, exp, 'NX') == 0 then
    redis.call('PEXPIREAT', set, exp, 'GT')
  end
  if added == 1 and roll % TRIM_EVERY == 0 then
    redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. fmt_int(now))
  end
end

local function contains(list, s)
  for i = 1, #list do
    if list[i] == s then
      return true
    end
  end
  return false
end

-- mget returns the values of the string keys of the list keys (false for
-- a missing key, or one of another type), in MGETs of at most 1000 keys:
-- unpack cannot spread a longer list on Lua's stack.
local function mget(keys)
  if #keys <= 1000 then
    return redis.call('MGET', unpack(keys))
  end
  local out = {}
  for i = 1, #keys, 1000 do
    local part = redis.call('MGET', unpack(keys, i, math.min(i + 999, #keys)))
    for j = 1, #part do
      out[#out + 1] = part[j]
    end
  end
  return out
end

-- server_run is the run_id of this Redis process: a new one at every start
-- (a restart from a snapshot or an AOF, whatever it lost) and on every
-- server, so a replica promoted by a failover has its own.
-- Where INFO is not allowed (a renamed command), it is '': a restart is
-- then told only by a sequence that went back.
-- Every put asks it, so the field is found with a plain find and the match
-- anchored there: a pattern search through the whole text costs more than
-- the INFO call itself.
local function server_run()
  local info = redis.pcall('INFO', 'server')
  local i = type(info) == 'string' and string.find(info, 'run_id:', 1, true)
  return i and string.match(info, '^%x+', i + 7) or ''
end

-- evicted_keys is this Redis process's count of keys evicted under
-- maxmemory (INFO stats), as a string.
-- Where INFO is not allowed it changes on every call, as if keys were
-- always being evicted (the safe assumption).
local function evicted_keys()
  local info = redis.pcall('INFO', 'stats')
  return type(info) == 'string' and string.match(info, 'evicted_keys:(%d+)') or ('?' .. now_ms())
end
