-- Helpers of the write scripts that invalidate (scripts.go prepends this
-- file, after entry.lua, to each of them). Key names are never spelled
-- here: the prefixes arrive as arguments. now_ms, fmt_int and contains come
-- from util.lua.

-- drop_entry deletes entry m (whose stored bytes are v) and then removes m
-- from the dependency set of each of its dependencies except skip (a set
-- the caller deletes whole). The entry goes first: should the script stop
-- half-way, a set member without an entry is harmless, an entry without its
-- index is not.
local function drop_entry(pe, pd, m, v, skip)
  redis.call('DEL', pe .. m)
  local ds = env_deps(v)
  if ds then
    for i = 1, #ds do
      if ds[i] ~= skip then
        redis.call('ZREM', pd .. ds[i], m)
      end
    end
  end
end

-- entry_cost is what deleting an entry with dependencies ds costs a
-- budget beyond its own member: one per four further dependencies (each
-- costs a ZREM, a fraction of the member's GET, parse and DEL).
local function entry_cost(ds)
  return math.floor((#ds - 1) / 4)
end

-- drop_members pops the members of set in score order and drops each entry
-- that depends on dep, until set is empty or budget is spent; it returns
-- the budget left (0 or less when spent). A member costs 1, a dropped
-- entry entry_cost more. A member named keep keeps its entry (Set rewrites
-- it itself), and so does one in the set fresh when fresh is given (an
-- entry written after the invalidation, see drain.lua). An entry that
-- cannot be read is dropped: a reader would delete it anyway.
--
-- The budget is checked before each member, not each batch popped, so a
-- call does at most one entry's work past it however many dependencies
-- its entries have: the members popped but not reached go back into set
-- with their scores (and set keeps its expiry), so that set holds exactly
-- what is left to do.
local function drop_members(pe, pd, set, dep, fresh, keep, budget)
  local expires = redis.call('PEXPIRETIME', set)
  while budget > 0 do
    local popped = redis.call('ZPOPMIN', set, math.min(budget, 256))
    if #popped == 0 then
      break
    end
    for j = 1, #popped, 2 do
      if budget <= 0 then
        local back = {}
        for k = j, #popped, 2 do
          back[#back + 1] = popped[k + 1]
          back[#back + 1] = popped[k]
        end
        redis.call('ZADD', set, unpack(back))
        if expires > 0 then
          redis.call('PEXPIREAT', set, expires)
        end
        return budget
      end
      local m = popped[j]
      budget = budget - 1
      local v = m ~= keep and redis.call('GET', pe .. m)
      if v then
        local ds = env_deps(v)
        if (ds == nil or contains(ds, dep)) and not (fresh and redis.call('ZSCORE', fresh, m)) then
          drop_entry(pe, pd, m, v, dep)
          if ds then
            budget = budget - entry_cost(ds)
          end
        end
      end
    end
  end
  return budget
end

-- Invalidations in phases. One script call must not block Redis for long,
-- and deleting an entry costs a few microseconds (and a ZREM per further
-- dependency), so a dependency set whose entries cost more than the budget
-- of the call (see drop_members) is not emptied at once: the call that
-- takes the sequence number renames it, or what it has not emptied of it,
-- to a pending set (O(1); later puts index their entries in a fresh set
-- under the old name) and registers it, and later calls (drain.lua) delete
-- its members, a budget each.
--
-- Between the two, an entry of a pending set is still in Redis but no longer
-- a member of its dependency's set, so the read script drops it and answers
-- a miss: it is never served or copied into L1. A put marked before the
-- invalidation is refused by the tombstone; one marked after it indexes its
-- entry in the fresh set, and drain.lua keeps every entry that is there.
--
-- The registry (N:pending) is a ZSET of pending members "<seq>:<epoch>:<dep>",
-- each naming its set N:p:<seq>:<epoch>:<dep>, scored by the Redis time
-- after which any node may finish it (the caller's lease, renewed by every
-- batch). A pending set keeps the TTL of the set it was (at least its
-- longest entry's), so even a registry entry that nobody finishes leaves
-- nothing behind for longer than the entries would have lived.

-- invalidate_deps invalidates the dependencies args[first], args[first +
-- step], ... up to args[last] (step 2 skips invalidate.lua's 'named'
-- arguments) at seq: it writes each tombstone, empties the sets while the
-- budget lasts (counted as drop_members counts, in argument order), and
-- renames the others, and what is left of the set that spent the budget,
-- away to pending sets. It returns the registry members of the pending
-- sets.
local function invalidate_deps(pe, pd, pi, pp, kpend, args, first, last, step,
                                seq, epoch, horizon, budget, lease, keep)
  local pending = {}
  local deadline
  for i = first, last, step do
    local dep = args[i]
    redis.call('SET', pi .. dep, seq, 'EX', horizon)
    local set = pd .. dep
    local n = redis.call('ZCARD', set)
    if n > 0 and n <= budget then
      -- The members fit, but their entries' dependencies may not: what
      -- drop_members leaves in the set when the budget runs out is set
      -- aside below.
      budget = drop_members(pe, pd, set, dep, nil, keep, budget)
      n = redis.call('ZCARD', set)
    end
    if n > 0 then
      local member = fmt_int(seq) .. ':' .. epoch .. ':' .. dep
      redis.call('RENAME', set, pp .. member)
      if redis.call('PTTL', pp .. member) < 0 then
        -- A set without a TTL (written by hand or by an older writer).
        redis.call('EXPIRE', pp .. member, horizon)
      end
      deadline = deadline or fmt_int(now_ms() + lease)
      redis.call('ZADD', kpend, deadline, member)
      pending[#pending + 1] = member
    end
  end
  return pending
end

-- claim_overdue returns up to 4 registry members whose deadline has passed
-- (their invalidator stopped: it died, or its context ended) and renews
-- their deadline for the caller, which finishes them.
local function claim_overdue(kpend, lease)
  local now = now_ms()
  local late = redis.call('ZRANGEBYSCORE', kpend, '-inf', '(' .. fmt_int(now), 'LIMIT', 0, 4)
  for _, m in ipairs(late) do
    redis.call('ZADD', kpend, 'XX', fmt_int(now + lease), m)
  end
  return late
end

-- announce publishes the invalidation seq of ds[first..] (signed when pads
-- is not empty, see sign.lua; with its dependencies in the log when they
-- are too many, see bus_message) and appends it to the log. The message
-- goes first: should XADD fail, subscribers still hear it, and a replay
-- (or the read of a message's dependencies) that needs it finds the log
-- incomplete and flushes.
local function announce(channel, klog, loglen, epoch, seq, origin, ds, first, pads)
  local joined = table.concat(ds, '\n', first)
  local s = fmt_int(seq)
  redis.call('PUBLISH', channel, sign(pads, bus_message(epoch, s, origin, joined)))
  redis.call('XADD', klog, 'MAXLEN', '~', loglen, s .. '-1', 'e', epoch, 'o', origin, 'd', joined)
end
