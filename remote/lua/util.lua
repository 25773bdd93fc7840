-- Helpers of every write script, single Redis and cluster alike (prepended
-- by scripts.go and cluster_exec.go before common.lua or
-- cluster_common.lua).

-- now_ms is Redis's own clock in milliseconds. Scores and trims of the
-- dependency sets use it, never a client's clock.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- fmt_int prints an integer without an exponent (tostring would print
-- 1e+15).
local function fmt_int(n)
  return string.format('%d', n)
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
