-- Put: store an entry computed at mark, unless an invalidation overtook it.
-- KEYS: seq, epoch, log, hist.
-- ARGV: mark epoch, mark seq, ttl ms, envelope (carrying the mark), key,
--       entry prefix, dep prefix, tombstone prefix, candidate epoch,
--       Key(key), then the entry's dependencies.
-- Returns {0} stored, {1} refused stale, {2} refused epoch.
--
-- It runs without allow-oom: under maxmemory with noeviction, Redis
-- refuses its first write (a new epoch's, or the index's) with OOM and
-- nothing is changed; the caller counts the put as refused.
local tombs_first, deps_first = 10, 11
-- The tombstones of Key(key) and of the dependencies are read in the MGET
-- of the state.
local tombs = {}
for i = tombs_first, #ARGV do
  tombs[#tombs + 1] = ARGV[8] .. ARGV[i]
end
local cur, seq, got = ensure_state(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[9], ARGV[1], ARGV[2], tombs)
local verdict = check_mark(KEYS[1], KEYS[4], cur, ARGV[1], ARGV[2], seq, got, 3)
if verdict ~= 0 then
  return {verdict}
end
write_entry(ARGV[6], ARGV[7], ARGV[5], ARGV[4], tonumber(ARGV[3]), ARGV, deps_first)
return {0}
