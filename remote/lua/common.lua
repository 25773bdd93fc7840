-- Helpers shared by every write script (scripts.go prepends this file).
-- Key names are never spelled here: the prefixes arrive as arguments.
-- now_ms, fmt_int and contains come from util.lua.

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

-- invalidate_dep drops every entry that depends on dep and deletes dep's
-- set. A member whose current entry no longer depends on dep (it was put
-- again with other dependencies) keeps its entry. A member named keep is
-- left alone (Set rewrites it itself). An entry that cannot be read is
-- dropped: a reader would delete it anyway.
local function invalidate_dep(pe, pd, dep, keep)
  local set = pd .. dep
  local members = redis.call('ZRANGE', set, 0, -1)
  for _, m in ipairs(members) do
    if m ~= keep then
      local v = redis.call('GET', pe .. m)
      if v then
        local ds = env_deps(v)
        if ds == nil or contains(ds, dep) then
          drop_entry(pe, pd, m, v, dep)
        end
      end
    end
  end
  -- UNLINK: a large set is freed off the main thread.
  redis.call('UNLINK', set)
end

-- Invalidations in phases. One script call must not block Redis for long,
-- and deleting an entry costs a few microseconds, so a dependency set larger
-- than the budget of the call is not emptied at once: the call that takes
-- the sequence number renames it to a pending set (O(1); later puts index
-- their entries in a fresh set under the old name) and registers it, and
-- later calls (drain.lua) delete its members in batches.
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
-- arguments) at seq: it writes each tombstone, empties the sets whose
-- members fit in budget (counted in set members, in argument order), and
-- renames the others away to pending sets. It returns the registry members
-- of the pending sets.
local function invalidate_deps(pe, pd, pi, pp, kpend, args, first, last, step,
                                seq, epoch, horizon, budget, lease, keep)
  local pending = {}
  local deadline
  for i = first, last, step do
    local dep = args[i]
    redis.call('SET', pi .. dep, seq, 'EX', horizon)
    local set = pd .. dep
    local n = redis.call('ZCARD', set)
    if n <= budget then
      budget = budget - n
      if n > 0 then
        invalidate_dep(pe, pd, dep, keep)
      end
    else
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

-- check_mark refuses a write marked (epoch, seq) when the epoch is not the
-- current one cur (2; the caller ran ensure_state with the mark as seen,
-- so a mark ahead of the sequence has already started a new epoch), when
-- keys may have been evicted since the mark (1, see evicted_floor), or when
-- any tombstone of tombs is newer than seq (1); 0 lets it through.
local function check_mark(kseq, khist, pi, cur, epoch, seq, tombs, first)
  if cur ~= epoch then
    return 2
  end
  local mark = tonumber(seq)
  -- Only an invalidation after the mark can make a put stale: with none
  -- (the common case), no eviction matters and INFO is not asked.
  if mark < (tonumber(redis.call('GET', kseq)) or 0) and mark < evicted_floor(kseq, khist) then
    return 1
  end
  for i = first, #tombs do
    local t = redis.call('GET', pi .. tombs[i])
    -- A tombstone that is not a number cannot prove the value fresh.
    if t and (tonumber(t) or math.huge) > mark then
      return 1
    end
  end
  return 0
end

-- write_entry stores entry key with the stored bytes env for ttl ms and
-- indexes it under each of ds[first..]. The entry expires at exp, now +
-- ttl on Redis's clock, which is also its score in every set, so a trim
-- (members scored before now) only ever removes members of expired
-- entries, and each set lives at least until exp. Order matters for G2:
-- the index first, then the entry, then the old entry's surplus
-- memberships; stopped anywhere, the worst left is a set member without an
-- entry, never an entry without its index.
local function write_entry(pe, pd, key, env, ttl, ds, first)
  local now = now_ms()
  local exp = now + ttl
  local new = {}
  for i = first, #ds do
    local set = pd .. ds[i]
    new[ds[i]] = true
    redis.call('ZADD', set, exp, key)
    redis.call('ZREMRANGEBYSCORE', set, '-inf', '(' .. fmt_int(now))
    -- Raise the set's expiry to at least exp. (PEXPIRE GT would not touch
    -- a set without a TTL, whose PEXPIRETIME is -1: compare instead.)
    if redis.call('PEXPIRETIME', set) < exp then
      redis.call('PEXPIREAT', set, fmt_int(exp))
    end
  end
  local ekey = pe .. key
  local old = redis.call('GET', ekey)
  redis.call('SET', ekey, env, 'PXAT', fmt_int(exp))
  local olds = old and env_deps(old)
  if olds then
    for _, d in ipairs(olds) do
      if not new[d] then
        redis.call('ZREM', pd .. d, key)
      end
    end
  end
end

-- announce publishes the invalidation seq of ds[first..] (signed when pads
-- is not empty, see sign.lua) and appends it to the log. The message goes
-- first: should XADD fail, subscribers still hear it, and a replay that
-- needs it finds the log incomplete and flushes.
local function announce(channel, klog, loglen, epoch, seq, origin, ds, first, pads)
  local joined = table.concat(ds, '\n', first)
  local s = fmt_int(seq)
  redis.call('PUBLISH', channel, sign(pads, 'M1\n' .. epoch .. '\n' .. s .. '\n' .. origin .. '\n' .. joined))
  redis.call('XADD', klog, 'MAXLEN', '~', loglen, s .. '-1', 'e', epoch, 'o', origin, 'd', joined)
end
