-- Helpers of the Redis Cluster scripts (cluster.go prepends this file to
-- each). Every script touches the keys of one hash slot only, all passed in
-- KEYS.

-- now_ms, fmt_int and contains come from util.lua.

-- entry_deps returns the dependency strings of a cluster entry v: the
-- header "c1:<seq>:<epoch>\n" followed by an envelope, parsed by env_deps
-- (envelope.lua). nil when v is not such an entry.
local function entry_deps(v)
  if type(v) ~= 'string' or string.sub(v, 1, 3) ~= 'c1:' then
    return nil
  end
  local nl = string.find(v, '\n', 4, true)
  if not nl then
    return nil
  end
  return env_deps(string.sub(v, nl + 1))
end

-- tomb_newer reports whether tombstone t ("<seq>:<epoch>", or false) is
-- newer than the mark (seq, epoch). A tombstone of another epoch is older
-- than every mark of the current one (a mark of an older epoch is refused
-- by the epoch check); one that does not parse proves nothing fresh.
local function tomb_newer(t, seq, epoch)
  if not t then
    return false
  end
  local c = string.find(t, ':', 1, true)
  if not c then
    return true
  end
  if string.sub(t, c + 1) ~= epoch then
    return false
  end
  return (tonumber(string.sub(t, 1, c - 1)) or math.huge) > tonumber(seq)
end

-- new_epoch starts epoch candidate in the control slot: sequence and
-- watermark from 0, no invalidation in flight, an empty log, no registered
-- master process (the nodes register them, see cluster.go).
local function new_epoch(K, candidate)
  redis.call('SET', K[2], candidate)
  redis.call('SET', K[1], 0)
  redis.call('SET', K[3], 0)
  redis.call('DEL', K[4], K[5], K[6], K[7])
  return candidate
end

-- ensure_state returns the current epoch of the control keys (seq, epoch,
-- pub, flight, msgs, log, runs), starting a new one (the candidate) when
-- the history of the control slot cannot be trusted:
--   * any of seq, epoch, pub is missing: a fresh namespace, or a control
--     master that restarted empty;
--   * the epoch has a registry of master processes (runs, see cluster.go)
--     and this Redis process is not in it: the control master restarted
--     (from a snapshot or an AOF that may lack acknowledged writes) or a
--     replica took over;
--   * the caller has seen the watermark at seen_seq in this epoch
--     (seen_epoch) and it is now lower: the history went back in place.
-- The old epoch's in-flight registry, messages, log and runs go with it.
local function ensure_state(K, candidate, seen_epoch, seen_seq)
  local epoch = redis.call('GET', K[2])
  local pub = redis.call('GET', K[3])
  if epoch and epoch ~= '' and pub and redis.call('EXISTS', K[1]) == 1 and
      (redis.call('SCARD', K[7]) == 0 or redis.call('SISMEMBER', K[7], server_run()) == 1) and
      (epoch ~= seen_epoch or (tonumber(pub) or 0) >= (tonumber(seen_seq) or 0)) then
    return epoch
  end
  return new_epoch(K, candidate)
end

-- claim_overdue returns up to 4 invalidations in flight whose deadline has
-- passed (their invalidator died or gave up), as a flat list of seq, body
-- pairs, and renews their deadline for the caller, which finishes them.
local function claim_overdue(K, lease)
  local now = now_ms()
  local late = redis.call('ZRANGEBYSCORE', K[4], '-inf', '(' .. fmt_int(now), 'LIMIT', 0, 4)
  local out = {}
  for _, s in ipairs(late) do
    redis.call('ZADD', K[4], 'XX', fmt_int(now + lease), s)
    out[#out + 1] = s
    out[#out + 1] = redis.call('HGET', K[5], s) or ''
  end
  return out
end

-- named_in_flight returns 1 when an invalidation in flight (registered, not
-- yet published) numbered after mark names one of the dependencies
-- args[first..], else 0. A Set marked mark asks it when it takes its own
-- number: such an invalidation came after the mark, but its tombstone may
-- land after the Set's own (newer) one and be hidden by it, so the Set
-- could not see it later. One that is already published wrote its
-- tombstone before, which the Set's own B checks (cluster_tomb.lua).
local function named_in_flight(K, mark, args, first)
  local want = {}
  for i = first, #args do
    want[args[i]] = true
  end
  for _, s in ipairs(redis.call('ZRANGE', K[4], 0, -1)) do
    local body = tonumber(s) > mark and redis.call('HGET', K[5], s)
    if body then
      -- "origin\ndep1\ndep2...": the dependencies follow the first newline.
      local i = string.find(body, '\n', 1, true)
      while i do
        local j = string.find(body, '\n', i + 1, true)
        if want[string.sub(body, i + 1, (j or 0) - 1)] then
          return 1
        end
        i = j
      end
    end
  end
  return 0
end
