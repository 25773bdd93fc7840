-- Invalidate: drop every entry that depends on any of the dependencies.
-- KEYS: seq, epoch, log.
-- ARGV: candidate epoch, origin, horizon s, log length, channel, entry
--       prefix, dep prefix, tombstone prefix, then for each dependency two
--       arguments: its canonical string, and '' or 'k' followed by the
--       entry key it names (a deps.Key).
-- Returns {seq, epoch}, the new state.
local pe, pd, pi = ARGV[6], ARGV[7], ARGV[8]
local epoch = ensure_state(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
local seq = redis.call('INCR', KEYS[1])
local ds = {}
for i = 9, #ARGV, 2 do
  local dep, named = ARGV[i], ARGV[i + 1]
  ds[#ds + 1] = dep
  invalidate_dep(pe, pd, pi, dep, seq, ARGV[3], nil)
  if string.sub(named, 1, 1) == 'k' then
    -- Key(k) names entry k itself as well as the entries containing it.
    local k = string.sub(named, 2)
    local v = redis.call('GET', pe .. k)
    if v then
      drop_entry(pe, pd, k, v, nil)
    end
  end
end
announce(ARGV[5], KEYS[3], ARGV[4], epoch, seq, ARGV[2], ds, 1)
return {seq, epoch}
