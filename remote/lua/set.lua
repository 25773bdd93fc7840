-- Set: an explicit write of key, itself an invalidation of Key(key).
-- KEYS: seq, epoch, log, pending registry, hist.
-- ARGV: candidate epoch, origin, horizon s, log length, channel, entry
--       prefix, dep prefix, tombstone prefix, key, ttl ms, envelope,
--       has mark ('1' or '0'), mark epoch, mark seq, pending prefix,
--       budget, lease ms, signing pads ('' or 128 bytes, see sign.lua),
--       Key(key), then the entry's dependencies.
-- Returns {verdict, seq, epoch, pending, overdue}: verdict 0 stored (seq,
-- epoch: the new state; pending and overdue as invalidate.lua returns
-- them), 1 refused stale, 2 refused epoch (nothing changed).
--
-- It runs without allow-oom: under maxmemory with noeviction its first
-- write fails with OOM, changing nothing, and Store.Set then removes the
-- old value with an invalidation (which may use memory) and reports the
-- value as not stored.
local pe, pd, pi, key, pp = ARGV[6], ARGV[7], ARGV[8], ARGV[9], ARGV[15]
local budget, lease = tonumber(ARGV[16]), tonumber(ARGV[17])
local keydep_at, deps_first = 19, 20
local seen_epoch, seen_seq = '', '0'
if ARGV[12] == '1' then
  seen_epoch, seen_seq = ARGV[13], ARGV[14]
end
local tombs
if ARGV[12] == '1' then
  -- Read in the MGET of the state, as put.lua does.
  tombs = {}
  for i = keydep_at, #ARGV do
    tombs[#tombs + 1] = pi .. ARGV[i]
  end
end
local epoch, now_seq, got = ensure_state(KEYS[1], KEYS[2], KEYS[3], KEYS[5], ARGV[1], seen_epoch, seen_seq, tombs)
if ARGV[12] == '1' then
  local verdict = check_mark(KEYS[1], KEYS[5], epoch, ARGV[13], ARGV[14], now_seq, got, 3)
  if verdict ~= 0 then
    return {verdict, now_seq, epoch, {}, {}}
  end
end
local seq = redis.call('INCR', KEYS[1])
local pending = invalidate_deps(pe, pd, pi, pp, KEYS[4], ARGV, keydep_at, keydep_at, 1,
                                seq, epoch, ARGV[3], budget, lease, key)
-- The entry is current as of this invalidation of Key(key): its mark.
write_entry(pe, pd, key, env_marked(ARGV[11], seq, epoch), tonumber(ARGV[10]), ARGV, deps_first)
announce(ARGV[5], KEYS[3], ARGV[4], epoch, seq, ARGV[2], {ARGV[keydep_at]}, 1, ARGV[18])
return {0, seq, epoch, pending, claim_overdue(KEYS[4], lease)}
