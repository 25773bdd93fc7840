-- The helpers of the scripts that write an entry, put and set (scripts.go
-- prepends this file to each, after envelope.lua, util.lua and
-- history.lua). The put script runs on every miss, so it gets these and
-- nothing else: every helper a script defines is built again at each call.

-- check_mark refuses a write marked (epoch, seq) when the epoch is not the
-- current one cur (2; the caller ran ensure_state with the mark as seen,
-- so a mark ahead of the sequence has already started a new epoch), when
-- keys may have been evicted since the mark (1, see evicted_floor), or when
-- any tombstone is newer than seq (1); 0 lets it through. now_seq is the
-- sequence and tombs[first..] the tombstones' values, as ensure_state read
-- them in the same script: nothing in between has changed them.
local function check_mark(kseq, khist, cur, epoch, seq, now_seq, tombs, first)
  if cur ~= epoch then
    return 2
  end
  local mark = tonumber(seq)
  -- Only an invalidation after the mark can make a put stale: with none
  -- (the common case), no eviction matters and INFO is not asked.
  if mark < (tonumber(now_seq) or 0) and mark < evicted_floor(kseq, khist) then
    return 1
  end
  for i = first, #tombs do
    local t = tombs[i]
    -- A tombstone that is not a number cannot prove the value fresh.
    if t and (tonumber(t) or math.huge) > mark then
      return 1
    end
  end
  return 0
end

-- write_entry stores entry key with the stored bytes env for ttl ms and
-- indexes it under each of ds[first..] (see index_in). The entry expires
-- at exp, now + ttl on Redis's clock, which is also its score in every set,
-- so a trim (members scored before now) only ever removes members of
-- expired entries, and each set lives at least until exp. Order matters for
-- G2: the index first, then the entry, then the old entry's surplus
-- memberships; stopped anywhere, the worst left is a set member without an
-- entry, never an entry without its index. The old entry comes back from
-- the SET that replaces it (SET GET), not from a GET of its own.
local function write_entry(pe, pd, key, env, ttl, ds, first)
  local now, us = now_ms()
  local exp = fmt_int(now + ttl)
  local new = {}
  for i = first, #ds do
    new[ds[i]] = true
    index_in(pd .. ds[i], key, exp, now, us + i, false)
  end
  local ekey = pe .. key
  local old = redis.call('SET', ekey, env, 'PXAT', exp, 'GET')
  local olds = old and env_deps(old)
  if olds then
    for _, d in ipairs(olds) do
      if not new[d] then
        redis.call('ZREM', pd .. d, key)
      end
    end
  end
end
