-- Invalidate: drop every entry that depends on any of the dependencies.
-- KEYS: seq, epoch, log, pending registry, hist.
-- ARGV: candidate epoch, origin, horizon s, log length, channel, entry
--       prefix, dep prefix, tombstone prefix, pending prefix, budget
--       (set members this call may delete), lease ms, signing pads ('' or
--       128 bytes, see sign.lua), then for each
--       dependency two arguments: its canonical string, and '' or 'k'
--       followed by the entry key it names (a deps.Key).
-- Returns {seq, epoch, pending, overdue}: the new state, the registry
-- members of the sets left for drain.lua (see common.lua), and overdue
-- registry members of other invalidations now claimed by the caller.
--
-- The invalidation is complete for readers when this call returns: the
-- tombstones refuse older puts, the entries of pending sets read as misses.
-- So it is announced here, in sequence order with every other
-- invalidation, as the bus requires.
--
-- It runs with allow-oom (scripts.go): under maxmemory with noeviction an
-- invalidation must still remove what it covers (G12). What it adds (the
-- sequence, tombstones, a log entry) is small and bounded by their TTL and
-- the log's length, and the entries it deletes free far more.
local pe, pd, pi, pp = ARGV[6], ARGV[7], ARGV[8], ARGV[9]
local budget, lease = tonumber(ARGV[10]), tonumber(ARGV[11])
local epoch = ensure_state(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[1], '', '0')
local seq = redis.call('INCR', KEYS[1])
local pending = invalidate_deps(pe, pd, pi, pp, KEYS[4], ARGV, 13, #ARGV, 2,
                                seq, epoch, ARGV[3], budget, lease, nil)
local ds = {}
for i = 13, #ARGV, 2 do
  ds[#ds + 1] = ARGV[i]
  local named = ARGV[i + 1]
  if string.sub(named, 1, 1) == 'k' then
    -- Key(k) names entry k itself as well as the entries containing it.
    local k = string.sub(named, 2)
    local v = redis.call('GET', pe .. k)
    if v then
      drop_entry(pe, pd, k, v, nil)
    end
  end
end
announce(ARGV[5], KEYS[3], ARGV[4], epoch, seq, ARGV[2], ds, 1, ARGV[12])
return {seq, epoch, pending, claim_overdue(KEYS[4], lease)}
